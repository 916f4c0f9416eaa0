"""The runtime inside the service: started with the scheduler, fed by HTTP group commits and file chunks
alike; journeys go live only through an approved request."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jingyun import approvals
from jingyun.api.app import create_app
from jingyun.api.writer import Job
from jingyun.approvals import org
from jingyun.automation import registry
from jingyun.automation.activation import request_activation
from jingyun.automation.journey import parse_journey
from jingyun.config import Settings
from jingyun.ingest import ingest_file
from jingyun.store import open_store
from jingyun.store.automation import AutomationTimer

BROWSE = {"key": "abandoned-browse", "holdout": 0,
          "trigger": {"type": "event", "event": "view_product", "absent": {"any_of": [{"event": "order"}], "within": "30m"}},
          "steps": [{"id": "push", "type": "action", "channel": "inbox", "template": "browse_nudge"}]}
ORG_CSV = """name,email,department,role,superior
mdir,mdir@example.com,marketing,director,
mman,mman@example.com,marketing,manager,mdir
alice,alice@example.com,marketing,specialist,mman
"""


def _timers(store: object, n: int, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        with store.session() as ses:  # type: ignore[attr-defined]
            users = sorted(ses.scalars(select(AutomationTimer.user_id).where(AutomationTimer.kind == "absence")))
        if len(users) >= n or time.monotonic() > deadline:
            return users
        time.sleep(0.05)


def test_service_runs_journeys_from_http_and_file_commits(settings: Settings, tmp_path: Path) -> None:
    store = open_store(settings)
    org.import_csv(store, settings, ORG_CSV)
    registry.create(store, parse_journey(BROWSE), by="alice")
    req = request_activation(store, settings, "abandoned-browse", requester="alice")
    assert registry.get(store, "abandoned-browse").status == "draft"  # nothing runs before a manager approves
    approvals.decide(store, settings, req.id, actor="mman", decision="approve")
    assert registry.get(store, "abandoned-browse").status == "active"
    app = create_app(settings, store=store)
    with TestClient(app):
        scheduler = app.state.scheduler
        runtime = scheduler.automation
        writer = app.state.jingyun.writer
        assert runtime is not None and runtime.on_commit in writer.wh.after_commit
        view = {"event_id": "v1", "user_id": "u_http", "event": "view_product", "ts": "2026-09-01T02:00:00Z"}
        job = Job("events", [view], [json.dumps(view)], {})
        assert [o.status for o in writer.submit(job).result(timeout=30)] == ["accepted"]
        assert _timers(store, 1) == ["u_http"]
        path = tmp_path / "views.ndjson"
        path.write_text("\n".join(json.dumps({"event_id": f"f{i}", "user_id": f"u_file{i}", "event": "view_product",
                                              "ts": "2026-09-01T02:00:00Z"}) for i in range(3)) + "\n")
        with writer.lock:  # as a command's file load in the service takes it: the writer thread shares the connection
            ingest_file(writer.wh, "events", path)  # a file load on the service's warehouse: the same listeners
        assert _timers(store, 4) == ["u_file0", "u_file1", "u_file2", "u_http"]
    assert runtime.on_commit not in writer.wh.after_commit  # stopped with the service


def test_a_rejected_request_leaves_the_journey_off(settings: Settings) -> None:
    store = open_store(settings)
    org.import_csv(store, settings, ORG_CSV)
    registry.create(store, parse_journey(BROWSE), by="alice")
    req = request_activation(store, settings, "abandoned-browse", requester="alice")
    approvals.decide(store, settings, req.id, actor="mman", decision="reject")
    assert registry.get(store, "abandoned-browse").status == "draft"
    with pytest.raises(Exception, match="already active"):
        registry.activate(store, "abandoned-browse")
        request_activation(store, settings, "abandoned-browse", requester="alice")
    store.close()
