"""Plain helpers for the service tests (the fixtures stay in conftest.py): the app with one person
per role, and a way to call it as each of them.

A uniquely named module: every test folder has a conftest.py, so importing names from `conftest`
picks whichever folder's conftest was imported first."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import Settings, load_settings
from jingyun.security import auth

PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    client: TestClient
    settings: Settings
    tokens: dict[str, str]  # role or name -> bearer token / API key

    @property
    def state(self):
        return app_state(self.client.app)

    def headers(self, who: str | None) -> dict[str, str]:
        if who is None:
            return {}
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def count(self, sql: str) -> int:
        reader = self.state.writer.reader()
        try:
            return int(reader.scalar(sql))
        finally:
            reader.close()


def build_service(home: Path) -> Iterator[Service]:
    settings = load_settings(home)
    app = create_app(settings)
    state = app_state(app)
    people = {
        "specialist": ("spec_a", ["growth"]), "specialist_b": ("spec_b", ["stores"]),
        "analyst": ("ana", []), "manager": ("mgr_a", ["growth"]), "admin": ("root", []),
    }
    tokens: dict[str, str] = {}
    for who, (username, deps) in people.items():
        role = who.split("_")[0]
        auth.create_person(state.store, username=username, password=PASSWORD, role=role, departments=deps,
                           service=state.service)
        tokens[who] = auth.issue_token(state.service, username)
    tokens["ingest_key"] = auth.create_api_key(state.store, name="gw", scope="ingest")[1]
    tokens["read_key"] = auth.create_api_key(state.store, name="bi", scope="read", role="analyst")[1]
    with TestClient(app) as client:
        yield Service(client, settings, tokens)
