"""Plain helpers for the segments tests (the fixtures stay in conftest.py).

A uniquely named module: every test folder has a conftest.py, so importing names from `conftest`
picks whichever folder's conftest was imported first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from jingyun.warehouse import Warehouse

AS_OF = dt.datetime(2026, 6, 1, 0, 0, 0)


def days_ago(days: float, hours: float = 0) -> dt.datetime:
    return AS_OF - dt.timedelta(days=days, hours=hours)


def put(wh: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows by column name; unspecified columns stay NULL, person_id defaults to user_id."""
    if not rows:
        return
    cols = wh.rows(f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'")
    names = {c[0] for c in cols}
    full = []
    for r in rows:
        r = dict(r)
        if "person_id" in names and "person_id" not in r and r.get("user_id"):
            r["person_id"] = r["user_id"]
        if "is_test" in names:
            r.setdefault("is_test", False)
        if "_ingested_at" in names:
            r.setdefault("_ingested_at", AS_OF)
        full.append(r)
    keys = sorted({k for r in full for k in r})
    batch = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in full])
    wh.con.register("_put", batch)
    try:
        wh.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _put")
    finally:
        wh.con.unregister("_put")
