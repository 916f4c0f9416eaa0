"""Hand-built warehouses with known answers, and one small demo business per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jingyun.config import Settings, load_settings
from jingyun.warehouse import Warehouse


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
