"""/api/v1/incidents per role: anyone reports and notes, managers tick steps, change the level and close with the
review; deadlines per level with the workspace offset; one 404 for a missing incident; audit records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from tests.service.service_support import Service, build_service


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    for s in build_service(tmp_path_factory.mktemp("incidents_api")):
        r = s.client.post("/api/v1/org/import", content="name,department,role\nmgr_a,supply,manager\n",
                          headers={**s.headers("admin"), "Content-Type": "text/csv"})
        assert r.status_code == 200 and r.json()["updated"] == 1
        yield s


def test_playbooks_for_every_role(svc: Service) -> None:
    assert svc.client.get("/api/v1/incidents/playbooks").status_code == 401
    for who in ("specialist", "analyst", "manager", "admin"):
        got = svc.client.get("/api/v1/incidents/playbooks", headers=svc.headers(who))
        assert got.status_code == 200
    keys = {p["key"]: p for p in got.json()}
    assert sorted(keys) == ["complaint_surge", "data_leak", "metric_drop", "negative_press", "stock_out", "system_outage"]
    assert keys["stock_out"]["first_responder"] == "supply.manager" and keys["stock_out"]["steps"][0]["zh"]


def test_open_respond_and_close(svc: Service) -> None:
    c = svc.client
    body = {"playbook": "stock_out", "title": "爆款断货"}
    assert c.post("/api/v1/incidents", json=body, headers=svc.headers("ingest_key")).status_code == 403
    bad = c.post("/api/v1/incidents", json={**body, "playbook": "meteor"}, headers=svc.headers("specialist"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "playbook"
    made = c.post("/api/v1/incidents", json={**body, "level": 1}, headers=svc.headers("specialist"))
    assert made.status_code == 201
    inc = made.json()
    opened = dt.datetime.fromisoformat(inc["opened_at"])
    assert inc["opened_at"].endswith("+08:00") and inc["deadline_at"].endswith("+08:00")
    assert dt.datetime.fromisoformat(inc["deadline_at"]) - opened == dt.timedelta(hours=24)
    assert (inc["opened_by"], inc["first_responder"], inc["status"], inc["overdue"]) == ("spec_a", "mgr_a", "open", False)
    iid = inc["id"]

    assert c.post(f"/api/v1/incidents/{iid}/steps/1", headers=svc.headers("specialist")).status_code == 403
    ticked = c.post(f"/api/v1/incidents/{iid}/steps/1", headers=svc.headers("manager")).json()
    assert ticked["steps"][0]["done_by"] == "mgr_a" and ticked["steps"][0]["done_at"].endswith("+08:00")
    assert c.post(f"/api/v1/incidents/{iid}/steps/99", headers=svc.headers("manager")).status_code == 404
    noted = c.post(f"/api/v1/incidents/{iid}/notes", json={"text": "仓库确认补货"}, headers=svc.headers("analyst"))
    assert noted.status_code == 201 and noted.json()["timeline"][-1]["author"] == "ana"
    assert c.post(f"/api/v1/incidents/{iid}/level", json={"level": 3}, headers=svc.headers("specialist")).status_code == 403
    moved = c.post(f"/api/v1/incidents/{iid}/level", json={"level": 3}, headers=svc.headers("manager")).json()
    assert dt.datetime.fromisoformat(moved["deadline_at"]) - opened == dt.timedelta(hours=72)

    no_review = c.post(f"/api/v1/incidents/{iid}/close", json={"summary": "ok", "root_cause": "x", "actions": []},
                       headers=svc.headers("manager"))
    assert no_review.status_code == 422 and no_review.json()["error"]["field"] == "actions"
    assert c.post(f"/api/v1/incidents/{iid}/close", json={"summary": "补货完成", "root_cause": "预测偏低",
                                                          "actions": ["a"]},
                  headers=svc.headers("analyst")).status_code == 403
    closed = c.post(f"/api/v1/incidents/{iid}/close", json={"summary": "补货完成", "root_cause": "预测偏低",
                                                            "actions": ["调高安全库存"]}, headers=svc.headers("admin"))
    assert closed.status_code == 200
    out = closed.json()
    assert out["status"] == "closed" and out["review"]["actions"] == ["调高安全库存"] and out["closed_at"].endswith("+08:00")
    assert [e["kind"] for e in out["timeline"]] == ["opened", "step", "note", "level", "closed"]
    late = c.post(f"/api/v1/incidents/{iid}/notes", json={"text": "x"}, headers=svc.headers("analyst"))
    assert late.status_code == 409 and late.json()["error"]["code"] == "closed"

    _, records = svc.state.auditor.query(action="incident_change", limit=50)
    assert [(r.actor, r.detail["op"]) for r in records] == [("spec_a", "open"), ("mgr_a", "step"), ("ana", "note"),
                                                             ("mgr_a", "level"), ("root", "close")]


def test_list_pages_and_the_404(svc: Service) -> None:
    c = svc.client
    for title in ("支付失败", "App 崩溃"):
        assert c.post("/api/v1/incidents", json={"playbook": "system_outage", "title": title},
                      headers=svc.headers("analyst")).json()["level"] == 1  # the playbook's default level
    page = c.get("/api/v1/incidents?status=open&limit=1", headers=svc.headers("specialist")).json()
    assert page["total"] == 2 and [i["title"] for i in page["items"]] == ["App 崩溃"]
    second = c.get("/api/v1/incidents?status=open&limit=1&offset=1", headers=svc.headers("specialist")).json()
    assert [i["title"] for i in second["items"]] == ["支付失败"]
    assert c.get("/api/v1/incidents?status=closed", headers=svc.headers("specialist")).json()["total"] == 1
    missing = c.get("/api/v1/incidents/987654", headers=svc.headers("specialist"))
    assert missing.status_code == 404 and missing.json()["error"] == {"code": "not_found",
                                                                      "message": "no such incident", "field": "id"}
    assert c.post("/api/v1/incidents/987654/notes", json={"text": "x"},
                  headers=svc.headers("specialist")).json() == missing.json()
