"""DuckDB backend: portable queries run as written on the warehouse file."""

from __future__ import annotations

import datetime as dt
import functools
import re

import pyarrow as pa

from jingyun.config import Settings
from jingyun.warehouse import person_orders
from jingyun.warehouse.backends import EngineBase
from jingyun.warehouse.connection import Warehouse
from jingyun.warehouse.portable import check

_STRING = re.compile(r"'(?:[^']|'')*'")


@functools.lru_cache(maxsize=512)
def _check_shape(shape: str) -> None:
    check(shape)


def _checked(sql: str) -> str:
    """The portability check, once per query shape: portability depends on the query's structure,
    not on its string literals (an as-of instant, a person id), and parsing a long query costs tens
    of milliseconds, so the check is remembered with every string literal blanked."""
    _check_shape(_STRING.sub("''", sql))
    return sql


class DuckDBBackend(EngineBase):
    """Built by :func:`jingyun.warehouse.backends.open_backend`; closes the warehouse only if it opened it."""

    name = "duckdb"

    def __init__(self, warehouse: Warehouse, *, owned: bool = False):
        self.warehouse = warehouse
        self._owned = owned

    @property
    def settings(self) -> Settings:  # type: ignore[override]
        return self.warehouse.settings

    def run(self, sql: str) -> pa.Table:
        return self.warehouse.con.sql(_checked(sql)).to_arrow_table()

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        return self.warehouse.con.execute(_checked(sql)).fetchall()

    def has_table(self, name: str) -> bool:
        found = self.warehouse.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()
        return bool(found and found[0][0])

    def interrupt(self) -> None:
        self.warehouse.con.interrupt()

    def summary_usable(self, as_of: dt.datetime) -> bool:
        return person_orders.usable(self.warehouse, as_of)

    def close(self) -> None:
        if self._owned:
            self._owned = False
            self.warehouse.close()
