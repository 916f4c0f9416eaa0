"""Fixtures for the service tests: a throwaway PostgreSQL, a running app with
one person per role, and helpers to call it as each of them."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import Settings, load_settings
from jingyun.security import auth

PASSWORD = "correct-horse-battery"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL server in a temp dir (run as nobody when we are root: initdb refuses root)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("no PostgreSQL server binaries (initdb/pg_ctl) on PATH or under /usr/lib/postgresql")
    root = Path(tempfile.mkdtemp(prefix="jy-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
        prefix = ["runuser", "-u", "nobody", "--"]
    data, port = root / "data", free_port()
    subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


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


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from build_service(tmp_path_factory.mktemp("svc"))
