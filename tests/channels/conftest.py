"""Fixtures for the attribution, channel, diagnosis and anomaly tests."""

from __future__ import annotations

import pytest

from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend


@pytest.fixture
def backend(wh: Warehouse) -> DuckDBBackend:
    return DuckDBBackend(wh)
