"""One small demo business for the whole folder (built once: ~15 s)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from predictions_support import DEMO, Demo

from jingyun.config import Settings, load_settings
from jingyun.demo.build import build
from jingyun.warehouse import Warehouse


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    home = tmp_path_factory.mktemp("predictions_demo")
    settings = load_settings(home)
    build(settings, DEMO)
    return Demo(home, settings)


@pytest.fixture
def demo_wh(demo: Demo) -> Iterator[Warehouse]:
    """The shared demo warehouse, read-only."""
    wh = Warehouse.open(demo.settings, read_only=True)
    yield wh
    wh.close()


@pytest.fixture
def demo_copy(demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private writable copy of the demo workspace (JINGYUN_HOME points at it)."""
    home = tmp_path / "ws"
    home.mkdir()
    shutil.copy(demo.settings.warehouse_path, home / "warehouse.duckdb")
    monkeypatch.setenv("JINGYUN_HOME", str(home))
    return load_settings(home)
