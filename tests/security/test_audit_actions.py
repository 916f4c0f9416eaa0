"""Audit records for the act and manage capabilities: message sends, consent writes, endpoint changes, coupon
changes, approval submissions/decisions/comments/delegations/attachments and incident changes are written by the
library in the transaction of the change — so a refused change leaves no record — and carry no personal data."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal

import pytest

from jingyun import approvals, coupons, incidents
from jingyun.approvals import org
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.messaging import Message, consent, deliver, endpoints
from jingyun.security.audit import ACTIONS, Auditor, record
from jingyun.security.config import load_service_settings
from jingyun.store import Store, open_store

T0 = dt.datetime(2026, 10, 9, 2, 0)
ORG = """name,email,department,role,superior
gm,,,general_manager,
mdir,,marketing,director,gm
fdir,,finance,director,gm
alice,,marketing,specialist,mdir
tom,,tech,manager,gm
"""


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    st = open_store(settings)
    assert org.import_csv(st, settings, ORG).errors == []
    yield st
    st.close()


def entries(settings: Settings, store: Store, action: str) -> list[tuple[str, str, dict]]:
    total, rows = Auditor(store, load_service_settings(settings), settings.timezone).query(action=action, limit=500)
    assert total == len(rows)
    return [(r.actor, r.target, r.detail) for r in rows]


def test_unknown_action_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        record(store, actor="x", action="made_up")
    assert {"message_send", "consent_write", "endpoint_change", "coupon_change", "approval_decision",
            "incident_change"} <= set(ACTIONS)


def test_message_send_consent_and_endpoint(store: Store, settings: Settings) -> None:
    d = deliver(store, settings, Message("inbox", "alice", "s", "t", key="k1", user_id="u1"), actor="root", now=T0)
    again = deliver(store, settings, Message("inbox", "alice", "s", "t", key="k1", user_id="u1"), actor="root")
    assert again.id == d.id
    mk = deliver(store, settings, Message("email", "li@shop.cn", "s", "t", purpose="marketing", user_id="u2",
                                          meta={"source": "journeys"}), now=T0)
    assert mk.status == "suppressed"
    sends = entries(settings, store, "message_send")
    assert sends == [
        ("root", f"delivery:{d.id}", {"channel": "inbox", "purpose": "service", "decision": "queued", "reason": "",
                                      "user_id": "u1"}),
        ("journeys", f"delivery:{mk.id}", {"channel": "email", "purpose": "marketing", "decision": "suppressed",
                                           "reason": "no_consent", "user_id": "u2"}),
    ]
    assert "li@shop.cn" not in json.dumps(sends)

    consent.record(store, "u2", purpose="marketing", granted=True, actor="root")
    consent.record(store, "addr:li@shop.cn", purpose="marketing", channel="email", granted=False, source="unsubscribe")
    n = consent.import_csv(store, "user_id,purpose,granted\nu3,marketing,yes\nu4,marketing,no\n", actor="ops")
    assert n == 2
    with pytest.raises(JingyunError):  # a bad file records nothing, not even an audit entry
        consent.import_csv(store, "user_id,purpose,granted\nu5,marketing,maybe\n", actor="ops")
    writes = entries(settings, store, "consent_write")
    assert [(a, t) for a, t, _ in writes] == [("root", "consent:u2"), ("unsubscribe", writes[1][1]),
                                              ("ops", "consent:import")]
    assert writes[1][1].startswith("consent:addr:") and "li@shop.cn" not in json.dumps(writes)
    assert writes[2][2] == {"rows": 2, "granted": 1, "withdrawn": 1, "source": "import"}

    endpoints.add(store, settings, name="sms", kind="sms", url="https://user:pw@sms.example.com/send?token=x",
                  actor="root")
    endpoints.add(store, settings, name="sms", kind="sms", url="https://sms.example.com/v2", actor="root")
    changes = entries(settings, store, "endpoint_change")
    assert [c[2]["op"] for c in changes] == ["add", "replace"]
    assert changes[0][2]["host"] == "sms.example.com" and "token" not in json.dumps(changes) and "pw" not in json.dumps(changes)


def test_coupon_changes(store: Store, settings: Settings) -> None:
    spec = {"key": "c1", "kind": "threshold", "threshold": "200", "amount_off": "30", "valid_days": 7, "stock": 2}
    coupons.create_template(store, settings, spec, created_by="spec_a", now=T0)
    with pytest.raises(JingyunError):
        coupons.create_template(store, settings, spec, created_by="spec_a", now=T0)  # exists: no second record
    c = coupons.issue(store, settings, "c1", "u1", key="j:1", issued_by="journey", now=T0)
    coupons.issue(store, settings, "c1", "u1", key="j:1", issued_by="journey", now=T0)  # idempotent: no record
    coupons.issue(store, settings, "c1", "u2", issued_by="journey", now=T0)
    with pytest.raises(JingyunError):
        coupons.issue(store, settings, "c1", "u3", issued_by="journey", now=T0)  # out of stock: no record
    coupons.set_status(store, "c1", "paused", actor="mgr_a")
    coupons.set_status(store, "c1", "paused", actor="mgr_a")  # no change, no record
    got = entries(settings, store, "coupon_change")
    assert [(a, t, d["op"]) for a, t, d in got] == [("spec_a", "coupon:c1", "create"), ("journey", "coupon:c1", "issue"),
                                                    ("journey", "coupon:c1", "issue"), ("mgr_a", "coupon:c1", "status")]
    assert got[1][2]["user_id"] == "u1" and c.code not in json.dumps(got)
    assert got[3][2] == {"op": "status", "from": "active", "to": "paused"}


def test_approval_actions(store: Store, settings: Settings) -> None:
    req = approvals.submit(store, settings, type="marketing", amount=Decimal("120000"), title="618",
                           payload={}, requester="alice", now=T0)
    approvals.comment(store, req.id, author="mdir", text="预算明细请附上")
    approvals.attach(store, settings, req.id, filename="plan.pdf", data=b"%PDF-1", uploaded_by="alice")
    d = approvals.delegate(store, delegator="fdir", delegate="gm", starts_at=T0, ends_at=T0 + dt.timedelta(days=3))
    approvals.decide(store, settings, req.id, actor="mdir", decision="approve", now=T0 + dt.timedelta(hours=1))
    approvals.decide(store, settings, req.id, actor="gm", decision="approve", now=T0 + dt.timedelta(hours=2))
    with pytest.raises(JingyunError):
        approvals.decide(store, settings, req.id, actor="gm", decision="reject")  # decided: nothing recorded
    approvals.revoke_delegation(store, d.id, actor="fdir")
    target = f"approval:{req.id}"
    assert entries(settings, store, "approval_submit") == [("alice", target, {"type": "marketing",
                                                                              "amount": "120000.00", "tier": 2})]
    decisions = entries(settings, store, "approval_decision")
    assert [(a, t, x["decision"], x["on_behalf_of"]) for a, t, x in decisions] == [
        ("mdir", target, "approve", []), ("gm", target, "approve", ["fdir"])]
    assert entries(settings, store, "approval_comment") == [("mdir", target, {"chars": 7})]
    att = entries(settings, store, "approval_attachment")
    assert len(att) == 1 and att[0][2]["size"] == 6 and att[0][2]["op"] == "upload"
    assert [x[2]["op"] for x in entries(settings, store, "approval_delegation")] == ["delegate", "revoke"]


def test_incident_changes(store: Store, settings: Settings) -> None:
    inc = incidents.open_incident(store, settings, playbook="system_outage", level=1, title="支付宕机",
                                  opened_by="spec_a", now=T0)
    incidents.add_note(store, inc.id, author="tom", text="回滚中")
    incidents.complete_step(store, inc.id, 1, author="tom")
    incidents.complete_step(store, inc.id, 1, author="tom")  # already ticked: no second record
    incidents.set_level(store, inc.id, 2, author="tom")
    with pytest.raises(JingyunError):
        incidents.close(store, inc.id, author="tom", review={"summary": "x"})  # review missing: no record
    incidents.close(store, inc.id, author="tom", review={"summary": "ok", "root_cause": "db", "actions": ["a"]})
    got = entries(settings, store, "incident_change")
    assert [(a, d["op"]) for a, _, d in got] == [("spec_a", "open"), ("tom", "note"), ("tom", "step"),
                                                  ("tom", "level"), ("tom", "close")]
    assert {t for _, t, _ in got} == {f"incident:{inc.id}"} and "回滚中" not in json.dumps(got)


def test_ingest_keys_record_consent_and_are_audited(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.service.service_support import build_service

    for svc in build_service(tmp_path_factory.mktemp("consent_keys")):
        c, body = svc.client, {"purpose": "marketing", "channel": "*", "granted": True}
        assert c.put("/api/v1/consent/u9", json=body, headers=svc.headers("read_key")).status_code == 403
        assert c.put("/api/v1/consent/u9", json=body, headers=svc.headers("manager")).status_code == 403
        ok = c.put("/api/v1/consent/u9", json=body, headers=svc.headers("ingest_key"))
        assert ok.status_code == 200 and ok.json()["granted"] is True and ok.json()["updated_at"].endswith("+08:00")
        assert c.get("/api/v1/consent/u9", headers=svc.headers("ingest_key")).json()[0]["source"] == "api"
        _, records = svc.state.auditor.query(action="consent_write", limit=10)
        assert [(r.actor[:4], r.target, r.detail["granted"]) for r in records] == [("key:", "consent:u9", True)]
