"""The console profile shows a 09:00 Beijing registration as 09:00 (issue 20 item 1)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import load_settings
from jingyun.security import auth
from jingyun.web import mount

PASSWORD = "correct-horse-battery"


def test_profile_shows_local_times(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    auth.create_person(state.store, username="root", password=PASSWORD, role="admin", service=state.service)
    key = auth.create_api_key(state.store, name="gw", scope="ingest")[1]
    with TestClient(app) as c:
        ingest = {"Authorization": f"Bearer {key}"}
        r = c.post("/api/v1/user/sync", headers=ingest, json={
            "user_ids": ["u1"], "data_source": "CRM", "timestamp": "2026-10-01T01:00:00Z",
            "users": [{"user_id": "u1", "registered_at": "2026-10-01T09:00:00+08:00"}]})
        assert r.json()["accepted"] == 1, r.text
        r = c.post("/api/v1/events/batch", headers=ingest, json={"events": [
            {"event_id": "e1", "user_id": "u1", "event": "view", "ts": "2026-10-01T12:30:00Z", "platform": "app"}]})
        assert r.json()["accepted"] == 1, r.text
        assert c.post("/console/login", data={"username": "root", "password": PASSWORD},
                      follow_redirects=False).status_code == 303
        html = c.get("/console/users/profile?user_id=u1").text
    assert "2026-10-01T09:00:00+08:00" in html  # registered at 09:00 Beijing time
    assert "2026-10-01 20:30:00+08:00" in html  # the last event, 12:30 UTC
    assert "01:00:00" not in html and "12:30:00" not in html
