"""DuckDB backend: portable queries run as written on the warehouse file."""

from __future__ import annotations

import pyarrow as pa

from jingyun.warehouse.backends import EngineBase
from jingyun.warehouse.connection import Warehouse
from jingyun.warehouse.portable import check


class DuckDBBackend(EngineBase):
    """Built by :func:`jingyun.warehouse.backends.open_backend`; closes the warehouse only if it opened it."""

    name = "duckdb"

    def __init__(self, warehouse: Warehouse, *, owned: bool = False):
        self.warehouse = warehouse
        self._owned = owned

    def run(self, sql: str) -> pa.Table:
        return self.warehouse.con.sql(check(sql)).to_arrow_table()

    def close(self) -> None:
        if self._owned:
            self._owned = False
            self.warehouse.close()
