"""Carrying out one journey action live, once: guards, the decision row, then the send.

The rule that makes an action happen once (the key is ``journey:version:step:person:entry``):

1. **Guards** (:mod:`jingyun.automation.guards`, the simulation's own rules): consent, quiet hours in
   the recipient's zone, frequency caps counted from the **delivery log** (``message_deliveries``, so
   caps hold across journeys, other senders and restarts). A held-back message is recorded with its
   reason; one that waits (quiet hours, ``on_cap: wait``) tells the runtime when to come back.
2. **Decide**: the ``automation_actions`` row is written and committed (``decided``) before anything
   leaves. A second decision with the same key finds the row and does not decide again.
3. **Carry out** under the same key — ``messaging.deliver`` and ``coupons.issue`` are idempotent on it,
   tasks and memberships are rows with the key unique — then mark the row ``done`` (or ``suppressed``,
   ``failed``). After a crash, :func:`resume_decided` carries out every ``decided`` row again: a send
   that had already happened is found by its key and is not repeated (messaging's rule decides what a
   half-sent email becomes).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from jingyun.automation import guards
from jingyun.automation.journey import ActionStep, Journey
from jingyun.errors import JingyunError
from jingyun.store.automation import AutomationAction, AutomationMembership, AutomationTask
from jingyun.store.db import Store
from jingyun.store.models import utcnow

log = logging.getLogger(__name__)
Deliver = Callable[..., Any]


@dataclass(frozen=True)
class Person:
    """What an action needs to know about its recipient (looked up in the warehouse once)."""

    user_id: str
    tz: str
    email: str | None = None
    phone: str | None = None
    locale: str = "zh-CN"


@dataclass(frozen=True)
class Verdict:
    """``state``: done | suppressed | failed | wait (come back at ``retry_at``, naive UTC)."""

    state: str
    reason: str = ""
    retry_at: dt.datetime | None = None
    ref: str = ""


def action_key(journey: str, version: int, step: str, user: str, entry: int) -> str:
    return f"{journey}:{version}:{step}:{user}:{entry}"[:200]


def marketing_sent(store: Store, user: str, lo: dt.datetime, hi: dt.datetime) -> int:
    """Marketing messages of ``user`` in the delivery log decided in ``[lo, hi)`` (naive UTC), whatever sent them."""
    from jingyun.store.messages import MessageDelivery

    with store.session() as ses:
        return int(ses.scalar(select(func.count()).select_from(MessageDelivery).where(
            MessageDelivery.user_id == user, MessageDelivery.purpose == "marketing",
            MessageDelivery.status != "suppressed", MessageDelivery.created_at >= lo,
            MessageDelivery.created_at < hi)) or 0)


Sent = Callable[[dt.datetime, dt.datetime], int]  # the person's marketing messages in [lo, hi), naive UTC


def _cap_room(sent: Sent, rules: guards.GuardRules, person: Person, at: dt.datetime) -> bool:
    wall = guards.local(at, person.tz)
    day0 = dt.datetime.combine(wall.date(), dt.time())
    week0 = day0 - dt.timedelta(days=wall.weekday())
    day = sent(guards.to_utc(day0, person.tz), guards.to_utc(day0 + dt.timedelta(days=1), person.tz))
    if day >= rules.cap_day:
        return False
    week = sent(guards.to_utc(week0, person.tz), guards.to_utc(week0 + dt.timedelta(days=7), person.tz))
    return week < rules.cap_week


def guard(store: Store, rules: guards.GuardRules, journey: Journey, step: ActionStep, person: Person,
          at: dt.datetime, *, cap_waits: int = 0, consented: bool | None = None, sent: Sent | None = None
          ) -> Verdict | None:
    """None when the message may go at ``at``; else why not (or when to try again).

    ``consented`` and ``sent`` let a caller that read consent and the delivery log for a whole batch answer
    from what it read (the live runtime); without them the store is asked."""
    if not step.is_message or step.purpose != "marketing":
        return None
    if consented is None:
        from jingyun.messaging import consent

        consented = consent.allowed(store, person.user_id, channel=step.channel, purpose=step.purpose)
    if not consented:
        return Verdict("suppressed", "unsubscribed")
    if guards.in_quiet_hours(guards.local(at, person.tz), rules):
        if journey.on_quiet_hours == "drop":
            return Verdict("suppressed", "quiet_hours")
        return Verdict("wait", "quiet_hours", guards.quiet_end_after(at, person.tz, rules))
    if sent is None:
        def sent(lo: dt.datetime, hi: dt.datetime) -> int:
            return marketing_sent(store, person.user_id, lo, hi)
    if not _cap_room(sent, rules, person, at):
        if journey.on_cap == "wait" and cap_waits < guards.MAX_CAP_WAITS:
            day = guards.local(at, person.tz).date()
            morning = dt.datetime.combine(day + dt.timedelta(days=1), rules.quiet_end)
            return Verdict("wait", "cap", guards.to_utc(morning, person.tz))
        return Verdict("suppressed", "cap")
    return None


def decide(store: Store, *, key: str, journey: Journey, version: int, step: ActionStep, user: str, entry: int,
           at: dt.datetime, state: str = "decided", reason: str = "") -> AutomationAction | None:
    """Write the decision row (committed); None when the key was decided before (a replay)."""
    row = AutomationAction(key=key, journey_key=journey.key, version=version, step=step.id, user_id=user,
                           entry_id=entry, channel=step.channel, purpose=step.purpose if step.is_message else "service",
                           state=state, reason=reason, ref="", due_at=at, decided_at=utcnow(),
                           done_at=None if state == "decided" else utcnow())
    try:
        with store.session() as ses:
            ses.add(row)
    except IntegrityError:
        return None
    return row


def _render(store: Store, wh: Any, step: ActionStep, person: Person, extra: dict[str, Any]) -> tuple[str, str, str | None]:
    from jingyun.messaging import templates

    assert step.template is not None
    try:
        template = templates.get(store, step.template, person.locale)
    except JingyunError:
        return step.template, step.template, None  # no such template: the step's name is the message
    ctx = templates.person_context(wh, person.user_id) if wh is not None else {"user_id": person.user_id}
    rendered = templates.render(template, {**ctx, **extra})
    return rendered.subject, rendered.text, rendered.html


def _recipient(step: ActionStep, person: Person) -> str | None:
    if step.channel == "email":
        return person.email
    if step.channel == "sms":
        return person.phone
    if step.channel == "webhook":
        return step.template  # the endpoint's name
    return person.user_id  # push, wechat, inbox: the adapter addresses the person


def carry_out(store: Store, settings: Any, row: AutomationAction, step: ActionStep, person: Person, *,
              wh: Any = None, deliver: Deliver | None = None, now: dt.datetime | None = None) -> Verdict:
    """Do what a decided row says, under its key, and record the outcome on the row."""
    verdict = _do(store, settings, row, step, person, wh=wh, deliver=deliver, now=now)
    with store.session() as ses:
        stored = ses.get(AutomationAction, row.id)
        if stored is not None:
            stored.state, stored.reason, stored.ref, stored.done_at = verdict.state, verdict.reason[:500], \
                verdict.ref[:200], utcnow()
    return verdict


def _do(store: Store, settings: Any, row: AutomationAction, step: ActionStep, person: Person, *, wh: Any,
        deliver: Deliver | None, now: dt.datetime | None) -> Verdict:
    at = now or row.due_at
    try:
        if step.channel == "coupon":
            from jingyun.coupons.registry import issue

            assert step.coupon is not None
            got = issue(store, settings, step.coupon, person.user_id, key=row.key, now=at, issued_by="journey")
            return Verdict("done", ref=str(getattr(got, "code", "")))
        if step.channel in ("tag", "segment"):
            name = step.tag if step.channel == "tag" else step.segment
            assert name is not None
            _insert_once(store, AutomationMembership(key=row.key, kind=step.channel, name=name, user_id=person.user_id,
                                                     journey_key=row.journey_key, added_at=at))
            return Verdict("done", ref=name)
        if step.channel == "task":
            assert step.assignee is not None
            task = _insert_once(store, AutomationTask(
                key=row.key, journey_key=row.journey_key, user_id=person.user_id, assignee=step.assignee,
                title=(step.title or f"{row.journey_key}: {person.user_id}")[:200], status="open", created_at=at))
            return Verdict("done", ref=str(task))
        to = _recipient(step, person)
        if not to:
            return Verdict("failed", f"no_address: the person has no {step.channel} address")
        from jingyun import messaging

        subject, text, html = _render(store, wh, step, person, {})
        message = messaging.Message(channel=step.channel, to=to, subject=subject, text=text, html=html,  # type: ignore[arg-type]
                                    purpose=step.purpose, key=row.key, user_id=person.user_id, locale=person.locale,
                                    meta={"journey": row.journey_key, "step": step.id})
        delivery = (deliver or messaging.deliver)(store, settings, message, now=at)
        state = "suppressed" if delivery.status == "suppressed" else "done"
        return Verdict(state, delivery.reason if state == "suppressed" else delivery.status, ref=str(delivery.id))
    except JingyunError as exc:
        return Verdict("failed", f"{exc.code}: {exc.message}")


def _insert_once(store: Store, row: AutomationTask | AutomationMembership) -> int:
    try:
        with store.session() as ses:
            ses.add(row)
            ses.flush()
            return int(row.id)
    except IntegrityError:
        with store.session() as ses:
            kind = type(row)
            found = ses.scalar(select(kind.id).where(kind.key == row.key))
            return int(found or 0)


def decided_rows(store: Store, limit: int = 1000) -> list[AutomationAction]:
    """Rows decided and never carried out (the runtime stopped in between), oldest first."""
    with store.session() as ses:
        rows = list(ses.scalars(select(AutomationAction).where(AutomationAction.state == "decided")
                                .order_by(AutomationAction.id).limit(limit)))
        ses.expunge_all()
        return rows


def meta(row: AutomationAction) -> str:
    return json.dumps({"key": row.key, "state": row.state}, ensure_ascii=False)
