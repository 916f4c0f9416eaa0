"""Hand-built warehouses with known answers, and one small demo business per session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from jingyun.config import Settings, load_settings
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


@pytest.fixture
def hwh(settings: Settings) -> Iterator[Warehouse]:
    """An empty file warehouse in a fresh workspace (segment metadata lands in the same home)."""
    wh = Warehouse.open(settings)
    yield wh
    wh.close()


DEMO_USERS = 2000
DEMO_DAYS = 365
DEMO_SEED = 5


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from jingyun.demo import DemoParams, build

    home = tmp_path_factory.mktemp("seg_demo")
    settings = load_settings(home)
    build(settings, DemoParams(users=DEMO_USERS, days=DEMO_DAYS, seed=DEMO_SEED))
    return settings


@pytest.fixture(scope="session")
def demo_home(demo_settings: Settings) -> Path:
    return demo_settings.home
