"""/api/v1/approvals and /api/v1/org per role: 401/403 by the permission matrix, the uniform 404 for a request the
caller takes no part in, the co-signed chain approved through the API, delegation, private attachments, the
route preview and the audit records the decisions leave."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tests.service.service_support import Service, build_service

from jingyun.security import auth

ORG = """name,email,department,role,superior
gm_li,,,general_manager,
mgr_a,,marketing,director,gm_li
fin_d,,finance,director,gm_li
spec_a,,marketing,specialist,mgr_a
spec_b,,stores,specialist,mgr_a
ana,,finance,analyst,fin_d
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    for s in build_service(tmp_path_factory.mktemp("approvals_api")):
        imported = s.client.post("/api/v1/org/import", content=ORG, headers={**s.headers("admin"),
                                                                            "Content-Type": "text/csv"})
        assert imported.status_code == 200 and imported.json() == {"received": 6, "created": 2, "updated": 4,
                                                                   "errors": []}
        for name in ("gm_li", "fin_d"):
            s.tokens[name] = auth.issue_token(s.state.service, name)
        yield s


def submit(svc: Service, amount: str, who: str = "specialist", title: str = "618 大促") -> dict:
    r = svc.client.post("/api/v1/approvals", json={"type": "marketing", "amount": amount, "title": title,
                                                   "payload": {"campaign": "618"}}, headers=svc.headers(who))
    assert r.status_code == 201, r.text
    return r.json()


def test_org_and_route_preview_follow_the_matrix(svc: Service) -> None:
    c = svc.client
    assert c.get("/api/v1/org", headers=svc.headers("manager")).status_code == 403
    chart = {p["username"]: p for p in c.get("/api/v1/org", headers=svc.headers("admin")).json()}
    assert chart["spec_a"]["superior"] == "mgr_a" and chart["fin_d"]["role"] == "manager"
    bad = c.post("/api/v1/org/import", content="name,role\nx,pilot\n",
                 headers={**svc.headers("admin"), "Content-Type": "text/csv"}).json()
    assert bad["created"] == 0 and [(e["row"], e["field"]) for e in bad["errors"]] == [(2, "role")]

    assert c.get("/api/v1/approvals/route?type=marketing&amount=1", headers=svc.headers("analyst")).status_code == 403
    chain = c.get("/api/v1/approvals/route?type=marketing&amount=500000.01", headers=svc.headers("specialist")).json()
    assert chain["amount"] == "500000.01"
    assert [(s["stage"], s["approver"]) for s in chain["steps"]] == [(1, "mgr_a"), (1, "fin_d"), (2, "gm_li")]
    floats = c.get("/api/v1/approvals/route?type=marketing&amount=1e5", headers=svc.headers("specialist"))
    assert floats.status_code == 422 and floats.json()["error"]["field"] == "amount"


def test_submit_decide_and_the_uniform_404(svc: Service) -> None:
    c = svc.client
    body = {"type": "marketing", "amount": "120000", "title": "双11", "payload": {}}
    assert c.post("/api/v1/approvals", json=body).status_code == 401
    assert c.post("/api/v1/approvals", json=body, headers=svc.headers("analyst")).status_code == 403
    assert c.post("/api/v1/approvals", json=body, headers=svc.headers("ingest_key")).status_code == 403
    req = submit(svc, "120000")
    assert req["amount"] == "120000.00" and req["tier"] == 2 and req["status"] == "pending"
    assert sorted(req["pending_with"]) == ["fin_d", "mgr_a"] and req["created_at"].endswith("+08:00")
    rid = req["id"]

    mine = c.get("/api/v1/approvals?box=to_decide", headers=svc.headers("manager")).json()
    assert rid in [r["id"] for r in mine["items"]]
    assert c.get("/api/v1/approvals?box=to_decide", headers=svc.headers("specialist")).json()["total"] == 0
    submitted = c.get("/api/v1/approvals?box=submitted&limit=1", headers=svc.headers("specialist")).json()
    assert submitted["items"][0]["id"] == rid and submitted["limit"] == 1
    assert c.get("/api/v1/approvals?box=all", headers=svc.headers("manager")).status_code == 403
    assert rid in [r["id"] for r in c.get("/api/v1/approvals?box=all", headers=svc.headers("admin")).json()["items"]]

    # spec_b and the analyst take no part: the same 404 as a request that does not exist
    missing = c.get("/api/v1/approvals/999999", headers=svc.headers("specialist_b"))
    for who in ("specialist_b", "analyst"):
        foreign = c.get(f"/api/v1/approvals/{rid}", headers=svc.headers(who))
        assert (foreign.status_code, foreign.json()) == (404, missing.json())
        assert c.post(f"/api/v1/approvals/{rid}/approve", headers=svc.headers(who)).json() == missing.json()
        assert c.post(f"/api/v1/approvals/{rid}/comments", json={"text": "hi"},
                      headers=svc.headers(who)).json() == missing.json()
    assert c.get(f"/api/v1/approvals/{rid}", headers=svc.headers("admin")).status_code == 200  # approvals:manage

    # the requester sees it but holds no step: 403, not a decision
    assert c.post(f"/api/v1/approvals/{rid}/approve", headers=svc.headers("specialist")).status_code == 403
    assert c.post(f"/api/v1/approvals/{rid}/comments", json={"text": "请附预算明细"},
                  headers=svc.headers("manager")).status_code == 201
    half = c.post(f"/api/v1/approvals/{rid}/approve", json={"comment": "同意"}, headers=svc.headers("manager")).json()
    assert half["status"] == "pending" and half["pending_with"] == ["fin_d"]
    done = c.post(f"/api/v1/approvals/{rid}/approve", headers=svc.headers("fin_d")).json()
    assert done["status"] == "approved" and done["decided_at"].endswith("+08:00")
    assert [e["kind"] for e in done["timeline"]] == ["submit", "comment", "approve", "approve"]
    again = c.post(f"/api/v1/approvals/{rid}/reject", headers=svc.headers("fin_d"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "decided"

    rejected = submit(svc, "50000", title="小促销")
    out = c.post(f"/api/v1/approvals/{rejected['id']}/reject", json={"comment": "预算不足"}, headers=svc.headers("manager"))
    assert out.json()["status"] == "rejected"

    _, records = svc.state.auditor.query(action="approval_decision", limit=100)
    assert [(r.actor, r.target, r.detail["decision"]) for r in records] == [
        ("mgr_a", f"approval:{rid}", "approve"), ("fin_d", f"approval:{rid}", "approve"),
        ("mgr_a", f"approval:{rejected['id']}", "reject")]
    _, denied = svc.state.auditor.query(action="denied", actor="spec_b", limit=100)
    assert any(d.detail == {"object": "approval request"} for d in denied)


def test_attachments_are_private_to_the_request(svc: Service) -> None:
    c = svc.client
    rid = submit(svc, "20000", title="物料")["id"]
    up = c.post(f"/api/v1/approvals/{rid}/attachments", files={"file": ("报价单.pdf", b"%PDF-1.7 quote", "application/pdf")},
                headers=svc.headers("specialist"))
    assert up.status_code == 201 and up.json()["size"] == 14 and up.json()["created_at"].endswith("+08:00")
    aid = up.json()["id"]
    got = c.get(f"/api/v1/approvals/{rid}/attachments/{aid}", headers=svc.headers("manager"))
    assert got.status_code == 200 and got.content == b"%PDF-1.7 quote"
    assert "attachment" in got.headers["content-disposition"] and got.headers["cache-control"] == "private, no-store"
    folder = svc.settings.home / "approvals" / str(rid)
    files = list(folder.iterdir())
    assert len(files) == 1 and oct(os.stat(files[0]).st_mode & 0o777) == "0o600"
    missing = c.get(f"/api/v1/approvals/{rid}/attachments/99999", headers=svc.headers("manager"))
    foreign = c.get(f"/api/v1/approvals/{rid}/attachments/{aid}", headers=svc.headers("specialist_b"))
    assert missing.status_code == foreign.status_code == 404
    assert c.post(f"/api/v1/approvals/{rid}/attachments", files={"file": ("x.txt", b"x", "text/plain")},
                  headers=svc.headers("specialist_b")).status_code == 404


def test_delegation_lets_the_delegate_decide(svc: Service) -> None:
    c = svc.client
    assert c.post("/api/v1/approvals/delegations", json={"delegate": "ana", "until": "2099-01-01T00:00:00",
                                                         "delegator": "fin_d"},
                  headers=svc.headers("specialist")).status_code == 403
    d = c.post("/api/v1/approvals/delegations", json={"delegate": "ana", "until": "2099-01-01T00:00:00"},
               headers=svc.headers("fin_d"))
    assert d.status_code == 201 and d.json()["ends_at"] == "2099-01-01T00:00:00+08:00"
    rid = submit(svc, "150000", title="直播投放")["id"]
    assert rid in [r["id"] for r in c.get("/api/v1/approvals", headers=svc.headers("analyst")).json()["items"]]
    assert c.get(f"/api/v1/approvals/{rid}", headers=svc.headers("analyst")).status_code == 200
    out = c.post(f"/api/v1/approvals/{rid}/approve", headers=svc.headers("analyst")).json()
    step = next(s for s in out["steps"] if s["position"] == "finance.director")
    assert step["status"] == "approved" and step["decided_by"] == "ana"
    assert "on behalf of fin_d" in out["timeline"][-1]["text"]
    # someone else's delegation reads like a missing one; the delegator revokes it
    assert c.delete(f"/api/v1/approvals/delegations/{d.json()['id']}", headers=svc.headers("analyst")).status_code == 404
    assert c.delete(f"/api/v1/approvals/delegations/{d.json()['id']}", headers=svc.headers("fin_d")).status_code == 204
    assert c.get("/api/v1/approvals", headers=svc.headers("analyst")).json()["total"] == 0


def test_withdraw_and_sla(svc: Service) -> None:
    c = svc.client
    rid = submit(svc, "1000", title="撤回测试")["id"]
    assert c.post(f"/api/v1/approvals/{rid}/withdraw", headers=svc.headers("manager")).status_code == 403
    assert c.post(f"/api/v1/approvals/{rid}/withdraw", headers=svc.headers("specialist")).json()["status"] == "withdrawn"
    assert c.get("/api/v1/approvals/sla", headers=svc.headers("manager")).status_code == 403
    sla = c.get("/api/v1/approvals/sla?type=marketing", headers=svc.headers("admin"))
    assert sla.status_code == 200 and sla.json()["overall"]["timed_out"] == 0
