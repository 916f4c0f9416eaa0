"""Known rows straight into a test warehouse (events, users, orders) for the automation tests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from jingyun.warehouse import Warehouse


def ts(value: str | dt.datetime) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def _insert(wh: Warehouse, table: str, cols: dict[str, list[Any]], casts: dict[str, str]) -> None:
    arrow = pa.table({k: pa.array(v, pa.timestamp("us")) if k in ("ts", "registered_at") else v
                      for k, v in cols.items()})
    wh.con.register("_rows", arrow)
    select = ", ".join(f"CAST({c} AS {casts[c]})" if c in casts else c for c in arrow.column_names)
    wh.con.execute(f"INSERT INTO {table} ({', '.join(arrow.column_names)}) SELECT {select} FROM _rows")
    wh.con.unregister("_rows")


def events(wh: Warehouse, rows: Sequence[tuple[Any, ...]]) -> None:
    """(user, event, ts UTC[, properties[, is_test]])."""
    start = int(wh.rows("SELECT count(*) FROM events")[0][0])
    _insert(wh, "events", {
        "event_id": [f"e{start + i:08d}" for i in range(len(rows))],
        "user_id": [r[0] for r in rows], "person_id": [r[0] for r in rows], "event": [r[1] for r in rows],
        "ts": [ts(r[2]) for r in rows],
        "properties": [json.dumps(r[3]) if len(r) > 3 and r[3] is not None else None for r in rows],
        "is_test": [bool(r[4]) if len(r) > 4 else False for r in rows],
    }, {"properties": "JSON"})


def users(wh: Warehouse, rows: Sequence[dict[str, Any]]) -> None:
    """Dicts with user_id and optionally registered_at, birth_date, member_level, timezone, is_test."""
    _insert(wh, "users", {
        "user_id": [r["user_id"] for r in rows], "person_id": [r["user_id"] for r in rows],
        "registered_at": [ts(r["registered_at"]) if r.get("registered_at") else None for r in rows],
        "birth_date": [r.get("birth_date") for r in rows],
        "member_level": [r.get("member_level") for r in rows],
        "attributes": [json.dumps({"timezone": r["timezone"]}) if r.get("timezone") else None for r in rows],
        "is_test": [bool(r.get("is_test", False)) for r in rows],
    }, {"birth_date": "DATE", "attributes": "JSON"})


def orders(wh: Warehouse, rows: Sequence[tuple[Any, ...]]) -> None:
    """(user, ts UTC[, status[, amount]])."""
    start = int(wh.rows("SELECT count(*) FROM orders")[0][0])
    _insert(wh, "orders", {
        "order_id": [f"o{start + i:07d}" for i in range(len(rows))],
        "user_id": [r[0] for r in rows], "person_id": [r[0] for r in rows], "ts": [ts(r[1]) for r in rows],
        "status": [r[2] if len(r) > 2 else "paid" for r in rows],
        "amount": [str(r[3]) if len(r) > 3 else "100" for r in rows],
        "is_test": [False for _ in rows],
    }, {"amount": "DECIMAL(18,2)"})
