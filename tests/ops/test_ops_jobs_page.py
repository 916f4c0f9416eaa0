"""The console jobs page inside a running service: managers and admins read it, only admins run a job now,
next runs show in the workspace's local time with its offset, and the history pages."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import load_settings
from jingyun.ops.ledger import Ledger
from jingyun.security import auth
from jingyun.store.models import AuditEntry, JobRun
from jingyun.web import mount

PASSWORD = "jobs-page-test-password"
PEOPLE = {"specialist": "spec", "analyst": "ana", "manager": "mgr", "admin": "root"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "schedule.yaml").write_text(
        'jobs:\n  - {name: nightly, run: version, cron: "0 5 * * *"}\n', encoding="utf-8")
    settings = load_settings(tmp_path)
    application = create_app(settings, warehouse_memory=True)
    mount(application, settings)
    state = app_state(application)
    for role, name in PEOPLE.items():
        auth.create_person(state.store, username=name, password=PASSWORD, role=role,
                           departments=["growth"] if role in ("specialist", "manager") else [], service=state.service)
    with TestClient(application) as client:  # the lifespan starts the service's scheduler
        yield client


def _as(client: TestClient, role: str) -> TestClient:
    client.cookies.clear()
    r = client.post("/console/login", data={"username": PEOPLE[role], "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def test_who_reads_and_who_runs(app: TestClient) -> None:
    assert app.app.state.scheduler is not None  # type: ignore[attr-defined]
    for role in ("specialist", "analyst"):
        assert _as(app, role).get("/console/jobs", follow_redirects=False).status_code == 403
    page = _as(app, "manager").get("/console/jobs")
    assert page.status_code == 200 and 'data-job="nightly"' in page.text
    assert "+08:00" in page.text and "T05:00:00+08:00" in page.text  # next 05:00, local, with its offset
    assert "/console/jobs/nightly/run" not in page.text
    assert app.post("/console/jobs/nightly/run", follow_redirects=False).status_code == 403
    admin = _as(app, "admin")
    assert "/console/jobs/nightly/run" in admin.get("/console/jobs").text
    r = admin.post("/console/jobs/nightly/run", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/console/jobs?started=nightly")
    state = app_state(app.app)
    ledger = Ledger(state.store, state.settings.timezone)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not [h for h in ledger.history()[0] if h.status != "running"]:
        time.sleep(0.1)
    [run] = ledger.history()[0]
    assert (run.job, run.trigger, run.status) == ("nightly", "manual", "ok")
    assert admin.post("/console/jobs/nosuch/run", follow_redirects=False).status_code == 404
    with state.store.session() as ses:
        audit = [(a.actor, a.target, a.outcome) for a in ses.scalars(select(AuditEntry).where(
            AuditEntry.action == "job_run"))]
    assert audit == [("root", "nightly", "ok")]


def test_history_is_paginated(app: TestClient) -> None:
    state = app_state(app.app)
    t0 = dt.datetime(2025, 1, 1, 21, 0)
    with state.store.session() as ses:
        for i in range(30):
            ses.add(JobRun(job="nightly", trigger="schedule", scheduled_for=t0 + dt.timedelta(days=i),
                           started_at=t0 + dt.timedelta(days=i), status="ok", attempts=1, owner="test"))
    admin = _as(app, "admin")
    first, second = admin.get("/console/jobs").text, admin.get("/console/jobs?page=2").text
    assert first.count("<td><code>nightly</code> #") == 25 and second.count("<td><code>nightly</code> #") == 5
    assert "2025-01-31T05:00:00+08:00" in first and "2025-01-02T05:00:00+08:00" in second  # newest first, local
    assert "page=1" in second and "page=3" not in second
