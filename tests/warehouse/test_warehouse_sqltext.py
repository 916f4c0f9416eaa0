"""SQL literals (warehouse.sqltext) and the warehouse connection's own guarantees."""

from __future__ import annotations

from pathlib import Path

import duckdb

from jingyun.config import load_settings
from jingyun.warehouse.connection import Warehouse
from jingyun.warehouse.sqltext import quote


def test_quote_round_trips_through_duckdb() -> None:
    con = duckdb.connect()
    for value in ["plain", "it's", "''", "中文 '引号'", "", 3, -2.5, True, False]:
        assert con.execute(f"SELECT {quote(value)}").fetchall()[0][0] == value


def test_connection_is_utc_and_creates_every_table(tmp_path: Path) -> None:
    with Warehouse.open(load_settings(tmp_path)) as wh:
        assert wh.scalar("SELECT current_setting('TimeZone')") == "UTC"
        names = {r[0] for r in wh.rows("SELECT table_name FROM information_schema.tables")}
        assert {"events", "users", "orders", "_quarantine", "identities", "_ingest_log", "model_scores"} <= names
    # a read-only reader of the same file sees the tables and cannot write
    with Warehouse.open(load_settings(tmp_path), read_only=True) as ro:
        assert ro.count("events") == 0
