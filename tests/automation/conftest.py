"""Fixtures for the automation tests: a DuckDB backend over the test's own warehouse."""

from __future__ import annotations

import pytest

from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend


@pytest.fixture
def backend(wh: Warehouse) -> DuckDBBackend:
    return DuckDBBackend(wh)
