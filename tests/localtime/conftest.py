"""A small demo home served by the app, with one person per role (the shop the local-time tests read)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.service.service_support import Service, build_service

from jingyun.config import load_settings


@pytest.fixture(scope="module")
def demo_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    from jingyun.demo.build import build
    from jingyun.demo.params import DemoParams

    home: Path = tmp_path_factory.mktemp("localtime")
    build(load_settings(home), DemoParams(users=300, days=30, seed=3))
    start_experiment(home)
    yield from build_service(home)


# 2026-07-26 00:00 in Beijing, stored as naive UTC
START_UTC = dt.datetime(2026, 7, 25, 16, 0)


def start_experiment(home: Path) -> None:
    from jingyun.experiments.registry import create_experiment

    create_experiment(load_settings(home), "checkout_copy_v2", start=START_UTC, created_at=START_UTC)
