"""Shared fixtures: a fresh workspace (JINGYUN_HOME) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jingyun.config import Settings, load_settings
from jingyun.warehouse import Warehouse


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("JINGYUN_HOME", str(ws))
    return ws


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home)


@pytest.fixture
def wh(settings: Settings) -> Iterator[Warehouse]:
    warehouse = Warehouse.open(settings)
    yield warehouse
    warehouse.close()
