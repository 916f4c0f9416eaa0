"""Fixtures for the analysis tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from analysis_rows import EventRow, insert_events

from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend


@pytest.fixture
def backend(wh: Warehouse) -> DuckDBBackend:
    return DuckDBBackend(wh)


@pytest.fixture
def events(wh: Warehouse) -> Callable[[Sequence[EventRow]], None]:
    return lambda rows: insert_events(wh, rows)
