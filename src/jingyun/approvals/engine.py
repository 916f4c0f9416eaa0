"""Requests through their workflow: submit, decide (approve/reject, in person or as a delegate), comment, attach,
escalate what waited too long. Every change is one transaction and one timeline entry; callbacks registered with
:func:`on_decision` run after the final decision is committed.

Stages run in order; the steps of a stage are parallel co-signatures (every one must approve; one rejection
rejects the request). ``activated_at`` starts a step's SLA clock, ``assigned_at`` its escalation clock (reset when
it moves to a superior).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from jingyun.approvals import org
from jingyun.approvals.hours import IsWorkday, deadline
from jingyun.approvals.money import from_cents, parse_amount, to_cents
from jingyun.approvals.workflows import Workflows, load_workflows
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store import Store
from jingyun.store.approvals import (
    ApprovalAttachment,
    ApprovalDelegation,
    ApprovalEntry,
    ApprovalRequestRow,
    ApprovalStepRow,
)
from jingyun.store.models import utcnow

log = logging.getLogger(__name__)
Decision = Literal["approve", "reject"]
Box = Literal["to_decide", "submitted", "all"]
MAX_ATTACHMENT = 20 * 1024 * 1024


@dataclass(frozen=True)
class Step:
    stage: int
    position: str
    approver: str | None
    assignee: str | None = None
    status: str = "planned"
    id: int | None = None
    activated_at: dt.datetime | None = None
    decided_at: dt.datetime | None = None
    decided_by: str | None = None
    escalations: int = 0
    timed_out: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "stage": self.stage, "position": self.position, "approver": self.approver,
                "assignee": self.assignee, "status": self.status, "activated_at": self.activated_at,
                "decided_at": self.decided_at, "decided_by": self.decided_by, "escalations": self.escalations,
                "timed_out": self.timed_out}


_ESCALATED = re.compile(r"^(?P<was>\S+) did not answer within (?P<hours>[0-9.]+) (?P<clock>calendar|business) hours"
                        r"(?:; escalated to (?P<to>\S+)|; nobody above to escalate to, reminded again)$")


@dataclass(frozen=True)
class Entry:
    ts: dt.datetime
    author: str
    kind: str
    text: str
    step_id: int | None = None

    @property
    def facts(self) -> dict[str, Any] | None:
        """What a system-written entry says, as values an edge words in its reader's language (the ``text`` is the
        English of the API and the notices): an escalation's ``was``, ``hours``, ``clock`` and ``to`` (None: nobody
        above). None for entries whose text is a person's own words or not of that shape."""
        found = _ESCALATED.match(self.text) if self.kind == "escalate" else None
        return None if found is None else found.groupdict()


@dataclass(frozen=True)
class Attachment:
    id: int
    filename: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ApprovalRequest:
    id: int
    type: str
    amount: Decimal
    title: str
    payload: dict[str, Any]
    requester: str
    status: str
    tier: int
    created_at: dt.datetime
    decided_at: dt.datetime | None
    steps: list[Step] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def pending_with(self) -> list[str]:
        return [s.assignee for s in self.steps if s.status == "pending" and s.assignee]


@dataclass(frozen=True)
class Delegation:
    id: int
    delegator: str
    delegate: str
    type: str | None
    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True)
class Escalation:
    request_id: int
    step_id: int
    from_: str
    to: str | None  # None: nobody above; the step stays and is reminded again


Callback = Callable[[Store, ApprovalRequest], None]
_CALLBACKS: dict[str, list[Callback]] = {}


def on_decision(type: str, callback: Callback) -> None:
    """Run ``callback(store, request)`` after a request of ``type`` is finally approved or rejected.

    Register at import time of your module. A callback that raises does not undo the decision: the error
    is written to the request's timeline and logged.
    """
    if callback not in _CALLBACKS.setdefault(type, []):
        _CALLBACKS[type].append(callback)


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now


def _audit(store: Store, ses: Session, actor: str, action: str, request_id: int | None, detail: dict[str, Any],
           at: dt.datetime | None) -> None:
    """The audit entry of a change, in its transaction (amounts and ids; never comment text or file contents)."""
    from jingyun.security.audit import record as audit_record

    target = f"approval:{request_id}" if request_id is not None else "approval-delegations"
    audit_record(store, actor=actor, action=action, target=target, detail=detail, now=at, session=ses)


# -- reading -----------------------------------------------------------------------------------
def _view(ses: Session, row: ApprovalRequestRow) -> ApprovalRequest:
    steps = ses.scalars(select(ApprovalStepRow).where(ApprovalStepRow.request_id == row.id)
                        .order_by(ApprovalStepRow.stage, ApprovalStepRow.id))
    entries = ses.scalars(select(ApprovalEntry).where(ApprovalEntry.request_id == row.id)
                          .order_by(ApprovalEntry.ts, ApprovalEntry.id))
    files = ses.scalars(select(ApprovalAttachment).where(ApprovalAttachment.request_id == row.id)
                        .order_by(ApprovalAttachment.id))
    return ApprovalRequest(
        row.id, row.type, from_cents(row.amount_cents), row.title, json.loads(row.payload or "{}"), row.requester,
        row.status, row.tier, row.created_at, row.decided_at,
        [Step(s.stage, s.position, s.approver, s.assignee, s.status, s.id, s.activated_at, s.decided_at,
              s.decided_by, s.escalations, s.timed_out) for s in steps],
        [Entry(e.ts, e.author, e.kind, e.text, e.step_id) for e in entries],
        [Attachment(a.id, a.filename, a.size, a.sha256, a.uploaded_by, a.created_at) for a in files])


def _row(ses: Session, request_id: int) -> ApprovalRequestRow:
    row = ses.get(ApprovalRequestRow, request_id)
    if row is None:
        raise JingyunError("not_found", f"no approval request {request_id}", "id", status=404)
    return row


def get(store: Store, request_id: int) -> ApprovalRequest:
    with store.session() as ses:
        return _view(ses, _row(ses, request_id))


def visible_to(store: Store, request: ApprovalRequest, person: str, *, now: dt.datetime | None = None) -> bool:
    """Whether ``person`` takes part in the request: its requester, an approver or assignee of a step, whoever
    decided one, or a live delegate of someone it waits for. Everyone else is told it does not exist."""
    if person == request.requester or any(person in (s.approver, s.assignee, s.decided_by) for s in request.steps):
        return True
    waiting = {s.assignee for s in request.steps if s.status == "pending" and s.assignee}
    if not waiting:
        return False
    with store.session() as ses:
        return bool(waiting & _acting_for(ses, person, request.type, _now(now)))


def _acting_for(ses: Session, actor: str, type: str, now: dt.datetime) -> set[str]:
    """Whom ``actor`` may decide for now: themself and everyone with a live delegation to them."""
    rows = ses.scalars(select(ApprovalDelegation.delegator).where(
        ApprovalDelegation.delegate == actor, ApprovalDelegation.revoked.is_(False),
        ApprovalDelegation.starts_at <= now, ApprovalDelegation.ends_at > now,
        or_(ApprovalDelegation.type.is_(None), ApprovalDelegation.type == type)))
    return {actor, *rows}


def list_requests(store: Store, *, person: str | None = None, box: Box = "all", status: str | None = None,
                  type: str | None = None, limit: int = 50, offset: int = 0,
                  now: dt.datetime | None = None) -> tuple[list[ApprovalRequest], int]:
    """One page of requests, newest first, and how many there are in all.

    ``to_decide``: pending steps assigned to ``person`` or delegated to them now; ``submitted``: theirs.
    """
    if not 1 <= limit <= 500 or offset < 0:
        raise JingyunError("bad_page", "limit is 1-500 and offset 0 or more", "limit", status=422)
    at = _now(now)
    with store.session() as ses:
        stmt = select(ApprovalRequestRow)
        if box == "submitted":
            stmt = stmt.where(ApprovalRequestRow.requester == (person or ""))
        elif box == "to_decide":
            delegators = set(ses.scalars(select(ApprovalDelegation.delegator).where(
                ApprovalDelegation.delegate == (person or ""), ApprovalDelegation.revoked.is_(False),
                ApprovalDelegation.starts_at <= at, ApprovalDelegation.ends_at > at)))
            ids = select(ApprovalStepRow.request_id).where(
                ApprovalStepRow.status == "pending", ApprovalStepRow.assignee.in_({person or "", *delegators}))
            stmt = stmt.where(ApprovalRequestRow.id.in_(ids), ApprovalRequestRow.status == "pending")
        if status:
            stmt = stmt.where(ApprovalRequestRow.status == status)
        if type:
            stmt = stmt.where(ApprovalRequestRow.type == type)
        total = ses.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = ses.scalars(stmt.order_by(ApprovalRequestRow.id.desc()).limit(limit).offset(offset))
        out = [_view(ses, r) for r in rows]
        if box == "to_decide" and person:  # a delegation of another type does not put the request here
            out = [r for r in out if {s.assignee for s in r.steps if s.status == "pending"}
                   & _acting_for(ses, person, r.type, at)]
        return out, total


# -- routing and submitting --------------------------------------------------------------------
def route(store: Store, type: str, amount: Decimal | str | int, *, settings: Settings | None = None,
          requester: str | None = None) -> list[Step]:
    """The chain a request of this type and amount would follow now (``approver`` None: nobody holds it).

    ``settings`` reads the workspace's ``approvals.yaml``; without it, the shipped workflows.
    """
    money = parse_amount(amount)
    wf = load_workflows(settings).workflow(type)
    _tier_no, tier = wf.tier_for(money)
    with store.session() as ses:
        return [Step(i + 1, spec, org.resolve(ses, spec, requester))
                for i, stage in enumerate(tier.stages) for spec in stage]


def submit(store: Store, settings: Settings, *, type: str, amount: Decimal | str | int, title: str,
           payload: dict[str, Any], requester: str, now: dt.datetime | None = None) -> ApprovalRequest:
    money = parse_amount(amount)
    title = (title or "").strip()
    if not 1 <= len(title) <= 200:
        raise JingyunError("bad_title", "a title of 1-200 characters says what is asked", "title", status=422)
    if not isinstance(payload, dict):
        raise JingyunError("bad_payload", "payload is a JSON object", "payload", status=422)
    try:
        payload_text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        raise JingyunError("bad_payload", "payload must be JSON (strings, numbers, lists, objects)", "payload",
                           status=422) from None
    wf = load_workflows(settings).workflow(type)
    tier_no, tier = wf.tier_for(money)
    at = _now(now)
    with store.session() as ses:
        if org.person(ses, requester) is None:
            raise JingyunError("not_found", f"no person {requester!r} in the organisation", "requester", status=404)
        row = ApprovalRequestRow(type=type, amount_cents=to_cents(money), title=title, payload=payload_text,
                                 requester=requester, status="pending", tier=tier_no, created_at=at)
        ses.add(row)
        ses.flush()
        for i, stage in enumerate(tier.stages):
            for spec in stage:
                who = org.resolve(ses, spec, requester)
                if who is None:
                    raise JingyunError("no_approver", f"nobody holds {spec} in the organisation; assign it "
                                       "(jingyun org import) before submitting", "type", status=422)
                ses.add(ApprovalStepRow(request_id=row.id, stage=i + 1, position=spec, approver=who, assignee=who,
                                        status="waiting", escalations=0, timed_out=False))
        ses.add(ApprovalEntry(request_id=row.id, ts=at, author=requester, kind="submit",
                              text=f"{wf.en} ¥{money:,} — tier {tier_no + 1}"))
        ses.flush()
        _audit(store, ses, requester, "approval_submit", row.id, {"type": type, "amount": str(money),
                                                                   "tier": tier_no + 1}, at)
        pending = _activate(ses, row, 1, at)
        view = _view(ses, row)
    _notify_pending(store, settings, view, pending, at)
    return view


def _activate(ses: Session, row: ApprovalRequestRow, stage: int, at: dt.datetime) -> list[ApprovalStepRow]:
    steps = list(ses.scalars(select(ApprovalStepRow).where(ApprovalStepRow.request_id == row.id,
                                                           ApprovalStepRow.stage == stage)))
    for s in steps:
        s.status, s.activated_at, s.assigned_at = "pending", at, at
    return steps


# -- deciding ----------------------------------------------------------------------------------
def decide(store: Store, settings: Settings, request_id: int, *, actor: str, decision: Decision,
           comment: str = "", now: dt.datetime | None = None) -> ApprovalRequest:
    """Approve or reject the caller's pending steps of the request (their own, or delegated to them)."""
    if decision not in ("approve", "reject"):
        raise JingyunError("bad_decision", "decision is approve or reject", "decision", status=422)
    at = _now(now)
    with store.session() as ses:
        row = _row(ses, request_id)
        if row.status != "pending":
            raise JingyunError("decided", f"request {request_id} is already {row.status}", "id", status=409)
        mine = _acting_for(ses, actor, row.type, at)
        steps = list(ses.scalars(select(ApprovalStepRow).where(
            ApprovalStepRow.request_id == row.id, ApprovalStepRow.status == "pending",
            ApprovalStepRow.assignee.in_(mine))))
        if not steps:
            raise JingyunError("not_yours", f"request {request_id} has no step waiting for {actor} (or for someone "
                               "who delegated to them)", "id", status=403)
        for s in steps:
            s.status = "approved" if decision == "approve" else "rejected"
            s.decided_at, s.decided_by = at, actor
            behalf = f" (on behalf of {s.assignee})" if s.assignee != actor else ""
            ses.add(ApprovalEntry(request_id=row.id, step_id=s.id, ts=at, author=actor, kind=decision,
                                  text=(comment.strip() + behalf).strip()))
        _audit(store, ses, actor, "approval_decision", row.id, {
            "decision": decision, "steps": [s.id for s in steps],
            "on_behalf_of": sorted({s.assignee for s in steps if s.assignee and s.assignee != actor})}, at)
        newly: list[ApprovalStepRow] = []
        stage = steps[0].stage
        if decision == "reject":
            for s in ses.scalars(select(ApprovalStepRow).where(ApprovalStepRow.request_id == row.id,
                                                               ApprovalStepRow.status.in_(("pending", "waiting")))):
                s.status = "skipped"
            row.status, row.decided_at = "rejected", at
        elif not ses.scalar(select(func.count()).where(ApprovalStepRow.request_id == row.id,
                                                       ApprovalStepRow.stage == stage,
                                                       ApprovalStepRow.status == "pending")):
            newly = _activate(ses, row, stage + 1, at)
            if not newly:
                row.status, row.decided_at = "approved", at
        ses.flush()
        view = _view(ses, row)
    if view.status != "pending":
        _finished(store, settings, view, at)
    else:
        _notify_pending(store, settings, view, newly, at)
    return view


def _finished(store: Store, settings: Settings, view: ApprovalRequest, at: dt.datetime) -> None:
    _notify(store, settings, view.requester, f"approval:{view.id}:{view.status}",
            f"审批{'已通过' if view.status == 'approved' else '被驳回'} / request {view.status}: {view.title}",
            f"#{view.id} {view.title} — {view.status}", at)
    for callback in _CALLBACKS.get(view.type, []):
        try:
            callback(store, view)
        except Exception as exc:  # the decision stands; the owner of the callback sees why it failed
            log.exception("approval callback failed for request %s", view.id)
            with store.session() as ses:
                ses.add(ApprovalEntry(request_id=view.id, ts=at, author="system", kind="callback",
                                      text=f"{getattr(callback, '__qualname__', callback)} failed: {exc}"[:2000]))


def comment(store: Store, request_id: int, *, author: str, text: str, now: dt.datetime | None = None) -> Entry:
    text = (text or "").strip()
    if not 1 <= len(text) <= 4000:
        raise JingyunError("bad_comment", "a comment has 1-4000 characters", "text", status=422)
    at = _now(now)
    with store.session() as ses:
        _row(ses, request_id)
        ses.add(ApprovalEntry(request_id=request_id, ts=at, author=author, kind="comment", text=text))
        _audit(store, ses, author, "approval_comment", request_id, {"chars": len(text)}, at)
    return Entry(at, author, "comment", text)


def withdraw(store: Store, request_id: int, *, actor: str, now: dt.datetime | None = None) -> ApprovalRequest:
    at = _now(now)
    with store.session() as ses:
        row = _row(ses, request_id)
        if row.requester != actor:
            raise JingyunError("not_yours", "only the requester withdraws a request", "id", status=403)
        if row.status != "pending":
            raise JingyunError("decided", f"request {request_id} is already {row.status}", "id", status=409)
        for s in ses.scalars(select(ApprovalStepRow).where(ApprovalStepRow.request_id == row.id,
                                                           ApprovalStepRow.status.in_(("pending", "waiting")))):
            s.status = "skipped"
        row.status, row.decided_at = "withdrawn", at
        ses.add(ApprovalEntry(request_id=row.id, ts=at, author=actor, kind="withdraw", text=""))
        _audit(store, ses, actor, "approval_decision", row.id, {"decision": "withdraw"}, at)
        ses.flush()
        return _view(ses, row)


# -- attachments -------------------------------------------------------------------------------
_SAFE = re.compile(r"[^A-Za-z0-9._\-\u4e00-\u9fff]+")


def attach(store: Store, settings: Settings, request_id: int, *, filename: str, data: bytes, uploaded_by: str,
           now: dt.datetime | None = None) -> Attachment:
    """Keep a file privately under ``$JINGYUN_HOME/approvals/<request>/`` (0600), named by its hash."""
    from jingyun.security.files import private_dir, private_file

    name = _SAFE.sub("_", (filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip("._")[:150]
    if not name:
        raise JingyunError("bad_filename", "the attachment needs a file name", "filename", status=422)
    if not data or len(data) > MAX_ATTACHMENT:
        raise JingyunError("bad_attachment", f"an attachment has 1 byte to {MAX_ATTACHMENT // 1024 // 1024} MB",
                           "file", status=422)
    digest = hashlib.sha256(data).hexdigest()
    at = _now(now)
    with store.session() as ses:
        _row(ses, request_id)
        folder = settings.home / "approvals" / str(request_id)
        private_dir(folder)
        rel = f"approvals/{request_id}/{digest[:16]}-{name}"
        (settings.home / rel).write_bytes(data)
        private_file(settings.home / rel)
        a = ApprovalAttachment(request_id=request_id, filename=name, path=rel, size=len(data), sha256=digest,
                               uploaded_by=uploaded_by, created_at=at)
        ses.add(a)
        ses.add(ApprovalEntry(request_id=request_id, ts=at, author=uploaded_by, kind="attach", text=name))
        ses.flush()
        _audit(store, ses, uploaded_by, "approval_attachment", request_id, {"op": "upload", "attachment": a.id,
                                                                           "size": len(data), "sha256": digest}, at)
        return Attachment(a.id, a.filename, a.size, a.sha256, a.uploaded_by, a.created_at)


def read_attachment(store: Store, settings: Settings, request_id: int, attachment_id: int) -> tuple[str, bytes]:
    with store.session() as ses:
        a = ses.get(ApprovalAttachment, attachment_id)
        if a is None or a.request_id != request_id:
            raise JingyunError("not_found", f"request {request_id} has no attachment {attachment_id}", "attachment",
                               status=404)
        data = (settings.home / a.path).read_bytes()
        if hashlib.sha256(data).hexdigest() != a.sha256:
            raise JingyunError("attachment_changed", "the stored file no longer matches its hash", "attachment",
                               status=409)
        return a.filename, data


# -- delegation --------------------------------------------------------------------------------
def delegate(store: Store, *, delegator: str, delegate: str, starts_at: dt.datetime, ends_at: dt.datetime,
             type: str | None = None, settings: Settings | None = None, actor: str = "") -> Delegation:
    """``actor``: who set it up when not the delegator themself (an admin); audited as ``approval_delegation``."""
    starts, ends = _now(starts_at), _now(ends_at)
    if ends <= starts:
        raise JingyunError("bad_period", "a delegation ends after it starts", "ends_at", status=422)
    if delegate == delegator:
        raise JingyunError("bad_delegate", "delegate to someone else", "delegate", status=422)
    if type is not None:
        load_workflows(settings).workflow(type)
    with store.session() as ses:
        for who, fld in ((delegator, "delegator"), (delegate, "delegate")):
            if org.person(ses, who) is None:
                raise JingyunError("not_found", f"no person {who!r}", fld, status=404)
        d = ApprovalDelegation(delegator=delegator, delegate=delegate, type=type, starts_at=starts, ends_at=ends,
                               revoked=False, created_at=utcnow())
        ses.add(d)
        ses.flush()
        _audit(store, ses, actor or delegator, "approval_delegation", None, {
            "op": "delegate", "delegation": d.id, "delegator": delegator, "delegate": delegate, "type": type,
            "starts_at": starts, "ends_at": ends}, None)
        return Delegation(d.id, d.delegator, d.delegate, d.type, d.starts_at, d.ends_at)


def revoke_delegation(store: Store, delegation_id: int, *, actor: str) -> None:
    with store.session() as ses:
        d = ses.get(ApprovalDelegation, delegation_id)
        if d is None:
            raise JingyunError("not_found", f"no delegation {delegation_id}", "id", status=404)
        if d.delegator != actor:
            raise JingyunError("not_yours", "only the delegator revokes a delegation", "id", status=403)
        d.revoked = True
        _audit(store, ses, actor, "approval_delegation", None, {"op": "revoke", "delegation": d.id}, None)


# -- escalation --------------------------------------------------------------------------------
def escalate_due(store: Store, settings: Settings, *, now: dt.datetime | None = None,
                 is_workday: IsWorkday | None = None, workflows: Workflows | None = None) -> list[Escalation]:
    """Move every pending step unanswered for ``after_hours`` (on the configured clock) to its assignee's
    superior. Idempotent: a step moved now has a fresh clock, so running again at once moves nothing."""
    wfs = workflows or load_workflows(settings)
    at = _now(now)
    out: list[Escalation] = []
    notices: list[tuple[str, str, str, str]] = []
    with store.session() as ses:
        pending = list(ses.scalars(select(ApprovalStepRow).where(ApprovalStepRow.status == "pending")
                                   .order_by(ApprovalStepRow.id)))
        for s in pending:
            assert s.assigned_at is not None
            due = deadline(s.assigned_at, wfs.after_hours, clock=wfs.clock, tz=settings.timezone,
                           is_workday=is_workday)
            if at < due:
                continue
            sup = org.superior_of(ses, s.assignee)
            s.timed_out = True
            was = s.assignee
            s.assigned_at = at
            s.escalations += 1
            text = f"{was} did not answer within {wfs.after_hours:g} {wfs.clock} hours"
            if sup is not None:
                s.assignee = sup
                text += f"; escalated to {sup}"
            else:
                text += "; nobody above to escalate to, reminded again"
            ses.add(ApprovalEntry(request_id=s.request_id, step_id=s.id, ts=at, author="system", kind="escalate",
                                  text=text))
            out.append(Escalation(s.request_id, s.id, was, sup))
            title = ses.get(ApprovalRequestRow, s.request_id)
            notices.append((s.assignee, f"approval:{s.request_id}:step:{s.id}:escalation:{s.escalations}",
                            f"待审批（已升级）/ escalated approval: {title.title if title else s.request_id}", text))
    for to, key, subject, text in notices:
        _notify(store, settings, to, key, subject, text, at)
    return out


# -- notifications -----------------------------------------------------------------------------
def _notify_pending(store: Store, settings: Settings, view: ApprovalRequest, steps: list[ApprovalStepRow],
                    at: dt.datetime) -> None:
    for s in steps:
        _notify(store, settings, s.assignee, f"approval:{view.id}:step:{s.id}:pending",
                f"待审批 / approval needed: {view.title}",
                f"#{view.id} {view.type} ¥{view.amount:,} from {view.requester}", at)


def _notify(store: Store, settings: Settings, to: str, key: str, subject: str, text: str, at: dt.datetime) -> None:
    """An inbox message through jingyun.messaging (idempotent on ``key``); a failure never undoes the approval."""
    try:
        from jingyun.messaging import Message, deliver

        deliver(store, settings, Message(channel="inbox", to=to, subject=subject[:300], text=text, purpose="service",
                                         key=key, meta={"source": "approvals"}), now=at)
    except Exception:
        log.exception("approval notice %s to %s failed", key, to)
