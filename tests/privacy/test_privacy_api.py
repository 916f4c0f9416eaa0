"""/api/v1/privacy: admins export and erase; others are refused; the erasure is recorded; a replay stays out."""

from __future__ import annotations

import sys
from pathlib import Path

from jingyun.api.app import app_state
from jingyun.store.privacy import PrivacyErasure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from service_support import build_service

from .conftest import EMAIL, Planted


def test_admin_exports_and_erases_a_person(planted: Planted) -> None:
    for svc in build_service(planted.home):
        c = svc.client
        for role in ("analyst", "manager", "specialist"):
            assert c.get("/api/v1/privacy/u_target", headers=svc.headers(role)).status_code == 403
            assert c.post("/api/v1/privacy/u_target/erase", headers=svc.headers(role)).status_code == 403
        assert c.get("/api/v1/privacy/u_target").status_code == 401
        got = c.get("/api/v1/privacy/u_target2", headers=svc.headers("admin"))
        assert got.status_code == 200
        body = got.json()
        assert body["person_ids"] == ["u_target"] and body["exported_at"].endswith("+08:00")
        assert {u["email"] for u in body["warehouse"]["users"]} == {EMAIL}
        dry = c.post("/api/v1/privacy/u_target/erase?dry_run=true", headers=svc.headers("admin")).json()
        assert dry["dry_run"] and dry["erasure_id"] is None and dry["warehouse"]["events"]["deleted"] == 3
        done = c.post("/api/v1/privacy/u_target/erase", headers=svc.headers("admin"))
        assert done.status_code == 200
        report = done.json()
        assert report["warehouse"] == dry["warehouse"] and report["purge"] == "pending"
        assert report["token"].startswith("erased:")
        gone = c.get("/api/v1/privacy/u_target", headers=svc.headers("admin"))
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "unknown_person"
        state = app_state(c.app)
        with state.store.session() as ses:
            erasure = ses.get(PrivacyErasure, report["erasure_id"])
            assert erasure is not None and erasure.requested_by == "root" and erasure.token == report["token"]
        with state.writer.lock:
            wh = state.writer.wh
            assert wh.scalar("SELECT count(*) FROM events WHERE person_id = 'u_target' OR anonymous_id = 'anon_target_dev'") == 0
            assert wh.scalar("SELECT count(*) FROM orders WHERE person_id = ?", [report["token"]]) == 2
        # the audit entries about the person (the export above included) now name the token
        with state.store.engine.connect() as con:
            targets = [t for (t,) in con.exec_driver_sql("SELECT target FROM audit_log")]
        assert not [t for t in targets if t.endswith((":u_target", ":u_target2"))] and targets.count(report["token"]) >= 2
