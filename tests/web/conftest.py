"""Console fixtures: the demo business (small, built once per session), the service app
with the console mounted, and one signed-in person per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_support import REFRESH_DAYS_BACK, SAVED

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import Settings, load_settings
from jingyun.security import auth
from jingyun.web import mount

PASSWORD = "console-test-password"
PEOPLE = {"specialist": ("spec", ["growth"]), "analyst": ("ana", []), "manager": ("mgr", ["growth"]),
          "admin": ("root", [])}


@dataclass
class Console:
    app: FastAPI
    settings: Settings

    def client(self, role: str | None = None) -> TestClient:
        c = TestClient(self.app)
        if role is not None:
            r = c.post("/console/login", data={"username": PEOPLE[role][0], "password": PASSWORD},
                       follow_redirects=False)
            assert r.status_code == 303, r.text
        return c


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jingyun.demo import build
    from jingyun.demo.params import DemoParams

    home = tmp_path_factory.mktemp("console_demo")
    settings = load_settings(home)
    build(settings, DemoParams(users=1500, days=120, seed=7))
    _refresh_history(settings)
    return home


def _refresh_history(settings: Settings) -> None:
    import datetime as dt

    from jingyun.segments import saved
    from jingyun.segments.store import SavedSegment
    from jingyun.segments.tags import compute_tags
    from jingyun.warehouse import Warehouse

    wh = Warehouse.open(settings)
    try:
        # tags once, here: the profile shows them, and no test should depend on another having computed them
        compute_tags(wh)
        last = wh.scalar("SELECT max(ts) FROM orders")
        for name, rule in SAVED.items():
            saved.create(wh, SavedSegment(name, rule, zh=name, en=name, owner="mgr"))
            for back in REFRESH_DAYS_BACK:
                saved.refresh(wh, name, as_of=last - dt.timedelta(days=back))
    finally:
        wh.close()


@pytest.fixture(scope="session")
def console(demo_home: Path) -> Iterator[Console]:
    settings = load_settings(demo_home)
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    for role, (username, deps) in PEOPLE.items():
        auth.create_person(state.store, username=username, password=PASSWORD, role=role, departments=deps,
                           service=state.service)
    with TestClient(app):  # runs the lifespan (closes the writer at the end)
        yield Console(app, settings)
