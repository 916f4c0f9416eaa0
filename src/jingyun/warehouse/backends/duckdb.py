"""DuckDB backend: portable queries run as written on the warehouse file."""

from __future__ import annotations

import pyarrow as pa

from jingyun.warehouse.connection import Warehouse
from jingyun.warehouse.portable import check


class DuckDBBackend:
    name = "duckdb"

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    def run(self, sql: str) -> pa.Table:
        return self.warehouse.con.sql(check(sql)).to_arrow_table()
