"""Sequential stages and parallel co-signatures, rejection, delegation, callbacks, comments and attachments."""

from __future__ import annotations

import datetime as dt
import os
import stat
from decimal import Decimal

import pytest

from jingyun import approvals
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store import Store

T0 = dt.datetime(2026, 3, 2, 2, 0)  # Monday 10:00 in Shanghai


def big(store: Store, settings: Settings, amount: str = "600000") -> approvals.ApprovalRequest:
    return approvals.submit(store, settings, type="marketing", amount=Decimal(amount), title="618 campaign",
                            payload={"campaign": "618"}, requester="alice", now=T0)


def test_co_signature_then_the_general_manager(store: Store, settings: Settings) -> None:
    seen: list[tuple[int, str]] = []
    approvals.on_decision("marketing", lambda st, r: seen.append((r.id, r.status)))
    req = big(store, settings)
    with pytest.raises(JingyunError) as exc:  # the second stage waits for the first
        approvals.decide(store, settings, req.id, actor="gm", decision="approve", now=T0)
    assert exc.value.code == "not_yours" and exc.value.status == 403
    req = approvals.decide(store, settings, req.id, actor="mdir", decision="approve", comment="ok", now=T0)
    assert [s.status for s in req.steps] == ["approved", "pending", "waiting"]  # co-signature still open
    req = approvals.decide(store, settings, req.id, actor="fdir", decision="approve",
                           now=T0 + dt.timedelta(hours=2))
    assert [s.status for s in req.steps] == ["approved", "approved", "pending"]
    assert req.steps[2].activated_at == T0 + dt.timedelta(hours=2)
    assert seen == []
    req = approvals.decide(store, settings, req.id, actor="gm", decision="approve", now=T0 + dt.timedelta(hours=3))
    assert req.status == "approved" and req.decided_at == T0 + dt.timedelta(hours=3)
    assert seen == [(req.id, "approved")]
    assert [e.kind for e in req.entries] == ["submit", "approve", "approve", "approve"]
    with pytest.raises(JingyunError) as exc:
        approvals.decide(store, settings, req.id, actor="gm", decision="approve")
    assert exc.value.code == "decided"


def test_one_rejection_rejects_and_skips_the_rest(store: Store, settings: Settings) -> None:
    seen: list[str] = []
    approvals.on_decision("marketing", lambda st, r: seen.append(r.status))
    req = big(store, settings)
    req = approvals.decide(store, settings, req.id, actor="fdir", decision="reject", comment="over budget", now=T0)
    assert req.status == "rejected"
    assert [s.status for s in req.steps] == ["skipped", "rejected", "skipped"]
    assert seen[-1] == "rejected"
    assert req.entries[-1].text == "over budget"


def test_failing_callback_keeps_the_decision(store: Store, settings: Settings) -> None:
    def boom(st: Store, r: approvals.ApprovalRequest) -> None:
        raise RuntimeError("budget service down")

    approvals.on_decision("budget", boom)
    req = approvals.submit(store, settings, type="budget", amount=Decimal("1"), title="t", payload={},
                           requester="alice")
    req = approvals.decide(store, settings, req.id, actor="fdir", decision="approve")
    assert req.status == "approved"
    assert "budget service down" in approvals.get(store, req.id).entries[-1].text


def test_delegation_for_a_period(store: Store, settings: Settings) -> None:
    req = big(store, settings, "1000")
    approvals.delegate(store, delegator="mdir", delegate="mman", starts_at=T0 + dt.timedelta(hours=1),
                       ends_at=T0 + dt.timedelta(days=3))
    with pytest.raises(JingyunError):  # not yet
        approvals.decide(store, settings, req.id, actor="mman", decision="approve", now=T0)
    inbox, total = approvals.list_requests(store, person="mman", box="to_decide", now=T0 + dt.timedelta(hours=1))
    assert total == 1 and [r.id for r in inbox] == [req.id]
    with pytest.raises(JingyunError):  # over
        approvals.decide(store, settings, req.id, actor="mman", decision="approve", now=T0 + dt.timedelta(days=3))
    req = approvals.decide(store, settings, req.id, actor="mman", decision="approve", now=T0 + dt.timedelta(days=1))
    assert req.status == "approved" and req.steps[0].decided_by == "mman"
    assert "on behalf of mdir" in req.entries[-1].text
    # a delegation limited to another type does not reach marketing requests
    other = big(store, settings, "1000")
    approvals.delegate(store, delegator="mdir", delegate="bob", type="pricing", starts_at=T0,
                       ends_at=T0 + dt.timedelta(days=3))
    with pytest.raises(JingyunError):
        approvals.decide(store, settings, other.id, actor="bob", decision="approve", now=T0 + dt.timedelta(hours=1))
    with pytest.raises(JingyunError) as exc:
        approvals.delegate(store, delegator="mdir", delegate="bob", starts_at=T0, ends_at=T0)
    assert exc.value.field == "ends_at"


def test_inboxes_page(store: Store, settings: Settings) -> None:
    ids = [big(store, settings, "10").id for _ in range(3)]
    page, total = approvals.list_requests(store, person="alice", box="submitted", limit=2)
    assert total == 3 and [r.id for r in page] == ids[::-1][:2]
    page, total = approvals.list_requests(store, person="alice", box="submitted", limit=2, offset=2)
    assert [r.id for r in page] == [ids[0]]
    assert approvals.list_requests(store, person="fdir", box="to_decide")[1] == 0
    assert approvals.list_requests(store, person="mdir", box="to_decide")[1] == 3


def test_comments_and_private_attachments(store: Store, settings: Settings) -> None:
    req = big(store, settings, "10")
    approvals.comment(store, req.id, author="mdir", text="请补充ROI测算")
    a = approvals.attach(store, settings, req.id, filename="../../roi 测算.xlsx", data=b"roi-data", uploaded_by="alice")
    assert a.filename == "roi_测算.xlsx" and a.size == 8
    name, data = approvals.read_attachment(store, settings, req.id, a.id)
    assert (name, data) == ("roi_测算.xlsx", b"roi-data")
    stored = next((settings.home / "approvals" / str(req.id)).iterdir())
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert [e.kind for e in approvals.get(store, req.id).entries] == ["submit", "comment", "attach"]
    with pytest.raises(JingyunError):
        approvals.read_attachment(store, settings, req.id + 1, a.id)
