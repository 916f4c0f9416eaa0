"""deliver(): one message, once.

The rule that makes sends idempotent (keys are unique in ``message_deliveries``):

1. **Decide**: the row for the key is written and committed first — ``queued``, or
   ``suppressed`` with its reason (unsubscribed, no_consent, test_account). A second
   deliver with the same key returns that row and sends nothing.
2. **Mark sending**: ``sending`` and the attempt count are committed before the network call.
3. **Send**, then mark ``sent`` (or ``failed`` with a due time for the retry, or ``dead``).

After a crash: a ``queued`` row was never attempted and is sent by the retry worker; a
``sending`` row may or may not have reached the person — it is resent only if the channel
deduplicates (webhooks and providers carry ``Idempotency-Key`` and ``X-Jingyun-Delivery``; the
inbox is the row itself), otherwise (email) it is marked ``unknown`` and never resent.
Transient failures retry with jittered exponential backoff for up to 4 hours from the first
attempt, then the delivery is ``dead`` (a dead letter: listed and replayable).
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store.db import Store
from jingyun.store.messages import MessageDelivery
from jingyun.store.models import utcnow

from . import channels, consent, endpoints, links

Channel = Literal["email", "webhook", "sms", "push", "wechat", "inbox"]
Purpose = Literal["marketing", "service", "alert"]
CHANNELS: tuple[str, ...] = ("email", "webhook", "sms", "push", "wechat", "inbox")
PURPOSES: tuple[str, ...] = ("marketing", "service", "alert")
STATUSES = ("queued", "sending", "sent", "failed", "suppressed", "dead", "unknown")

RETRY_WINDOW = dt.timedelta(hours=4)
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 3600.0
STALE_DECISION = dt.timedelta(minutes=1)  # a queued row this old lost its sender (crash): the worker sends it
STALE_SENDING = dt.timedelta(minutes=5)  # a sending row this old lost its sender mid-send


@dataclass(frozen=True)
class Message:
    channel: Channel
    to: str
    subject: str
    text: str
    html: str | None = None
    purpose: Purpose = "service"
    key: str = ""
    user_id: str | None = None
    locale: str = "zh-CN"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    id: int
    key: str
    channel: str
    status: str
    reason: str
    attempts: int
    next_attempt_at: dt.datetime | None = None


def _view(row: MessageDelivery) -> Delivery:
    return Delivery(row.id, row.key, row.channel, row.status, row.reason, row.attempts, row.next_attempt_at)


def _naive(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now


def _validate(message: Message) -> None:
    if message.channel not in CHANNELS:
        raise JingyunError("bad_channel", f"channel must be one of {', '.join(CHANNELS)}", "channel")
    if message.purpose not in PURPOSES:
        raise JingyunError("bad_purpose", f"purpose must be one of {', '.join(PURPOSES)}", "purpose")
    if not message.to or len(message.to) > 320:
        raise JingyunError("bad_recipient", "the recipient (to) must be 1-320 characters", "to")
    if message.channel == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", message.to):
        raise JingyunError("bad_recipient", f"{message.to!r} is not an email address", "to")
    if len(message.key) > 200:
        raise JingyunError("bad_key", "a send key is at most 200 characters", "key")
    if message.locale not in ("zh-CN", "en"):
        raise JingyunError("bad_locale", "locale must be zh-CN or en", "locale")


def is_test_recipient(settings: Settings, message: Message) -> bool:
    """Test accounts by the workspace's rules (the ones ingestion marks ``is_test`` with), or flagged by the caller.

    Callers that pick people from the warehouse already leave test accounts out through
    ``metrics.definitions.real_people``; this is the last gate for anything addressed by hand.
    """
    if message.meta.get("is_test"):
        return True
    if message.user_id and any(message.user_id.startswith(p) for p in settings.test_user_prefixes):
        return True
    to = message.to.strip().lower()
    if message.channel == "email" and any(to.endswith("@" + d.lower()) for d in settings.test_email_domains):
        return True
    return message.channel == "sms" and to in set(settings.test_phones)


def _suppression(store: Store, settings: Settings, message: Message) -> str:
    if is_test_recipient(settings, message) and not message.meta.get("allow_test"):
        return "test_account"
    if message.purpose == "marketing":
        subject = consent.subject_of(message.user_id, message.to)
        ok, reason = consent.decision(store, subject, channel=message.channel, purpose="marketing")
        if not ok:
            return reason
    return ""


def deliver(store: Store, settings: Settings, message: Message, *, now: dt.datetime | None = None,
            actor: str = "") -> Delivery:
    """Send one message once (see the module doc for the rule). Returns the delivery as it stands.

    The decision is audited (``message_send``) in the same transaction as the row: ``actor`` is the person who
    sent it by hand, else the sending capability (``meta["source"]``) or ``system``. A repeat of a key is not.
    """
    _validate(message)
    at = _naive(now)
    key = message.key or f"auto:{uuid.uuid4().hex}"
    with store.session() as ses:
        existing = ses.scalar(select(MessageDelivery).where(MessageDelivery.key == key))
        if existing is not None:
            return _view(existing)
    reason = _suppression(store, settings, message)
    row = MessageDelivery(
        key=key, channel=message.channel, recipient=message.to, user_id=message.user_id, purpose=message.purpose,
        locale=message.locale, subject=message.subject, body_text=message.text, body_html=message.html,
        meta_json=json.dumps(message.meta, ensure_ascii=False, default=str),
        status="suppressed" if reason else "queued", reason=reason, attempts=0,
        next_attempt_at=None if reason else at, created_at=at, updated_at=at)
    try:
        with store.session() as ses:
            ses.add(row)
            ses.flush()
            from jingyun.security.audit import record as audit_record

            audit_record(store, actor=actor or str(message.meta.get("source") or "system"), action="message_send",
                         target=f"delivery:{row.id}", now=at, session=ses,
                         detail={"channel": message.channel, "purpose": message.purpose, "decision": row.status,
                                 "reason": reason, "user_id": message.user_id})
    except IntegrityError:  # another sender decided this key a moment ago
        with store.session() as ses:
            return _view(ses.scalars(select(MessageDelivery).where(MessageDelivery.key == key)).one())
    if reason:
        return _view(row)
    return _attempt(store, settings, row.id, at)


def _outgoing(settings: Settings, row: MessageDelivery) -> channels.Outgoing:
    meta = json.loads(row.meta_json or "{}")
    text, html, headers = row.body_text, row.body_html, {}
    if row.channel == "email":
        if html:
            html = _track(settings, row.id, html)
        if row.purpose == "marketing":
            subject = consent.subject_of(row.user_id, row.recipient)
            unsub = links.unsubscribe_url(settings, subject=subject, channel="email", locale=row.locale, delivery_id=row.id)
            label = "退订" if row.locale == "zh-CN" else "Unsubscribe"
            text = f"{text}\n\n{label}: {unsub}\n"
            if html:
                link = f'<p style="font-size:12px;color:#888"><a href="{html_lib.escape(unsub)}">{label}</a></p>'
                html = html.replace("</body>", link + "</body>") if "</body>" in html else html + link
            headers = {"List-Unsubscribe": f"<{unsub}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return channels.Outgoing(row.id, row.key, row.channel, row.recipient, row.subject, text, html, row.user_id,
                             row.locale, meta, headers)


_HREF = re.compile(r'href="(https?://[^"]+)"')


def _track(settings: Settings, delivery_id: int, html: str) -> str:
    """Links through the click redirect, and an open pixel (both signed: no data in the URL)."""
    html = _HREF.sub(lambda m: f'href="{html_lib.escape(links.click_url(settings, delivery_id, html_lib.unescape(m.group(1))))}"', html)
    pixel = f'<img src="{links.open_url(settings, delivery_id)}" width="1" height="1" alt="">'
    return html.replace("</body>", pixel + "</body>") if "</body>" in html else html + pixel


def _idempotent(store: Store, settings: Settings, row: MessageDelivery) -> bool:
    if row.channel in channels.IDEMPOTENT:
        return channels.IDEMPOTENT[row.channel]
    found = _endpoint_for(store, settings, row)
    return bool(found and found[0].idempotent)


def _endpoint_for(store: Store, settings: Settings, row: MessageDelivery) -> tuple[endpoints.Endpoint, str] | None:
    meta = json.loads(row.meta_json or "{}")
    name = row.recipient if row.channel == "webhook" else str(meta.get("endpoint") or row.channel)
    return endpoints.resolve(store, settings, name)


def _send(store: Store, settings: Settings, row: MessageDelivery, at: dt.datetime) -> None:
    out = _outgoing(settings, row)
    if row.channel == "inbox":
        return
    if row.channel == "email":
        channels.send_email(settings, out)
        return
    found = _endpoint_for(store, settings, row)
    if found is None:
        raise channels.Permanent(f"no active endpoint for {row.channel} "
                                 f"{row.recipient if row.channel == 'webhook' else ''}".strip())
    ep, secret = found
    if row.channel != "webhook":
        out = channels.Outgoing(out.delivery_id, out.key, out.channel, row.recipient if row.channel != "webhook" else "",
                                out.subject, out.text, out.html, out.user_id, out.locale, out.meta, out.headers)
    body = channels.render_payload(ep.payload, out)
    channels.post_signed(ep.url, secret, body, out, now=at.replace(tzinfo=dt.UTC).timestamp())


def backoff(attempt: int, rng: random.Random | None = None) -> dt.timedelta:
    """Delay after the ``attempt``-th failure: exponential from 30 s, capped at 1 h, jittered to 50-100 %."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempt - 1))
    return dt.timedelta(seconds=base * (rng or random).uniform(0.5, 1.0))


def _attempt(store: Store, settings: Settings, delivery_id: int, at: dt.datetime) -> Delivery:
    with store.session() as ses:
        row = ses.get(MessageDelivery, delivery_id)
        assert row is not None
        if row.status not in ("queued", "failed", "sending"):
            return _view(row)
        row.status, row.attempts, row.updated_at = "sending", row.attempts + 1, at
        row.first_attempt_at = row.first_attempt_at or at
    try:
        _send(store, settings, row, at)
    except channels.Transient as exc:
        with store.session() as ses:
            row = ses.get(MessageDelivery, delivery_id)
            assert row is not None
            first = row.first_attempt_at or at
            deadline = first + RETRY_WINDOW
            if at >= deadline:
                row.status, row.next_attempt_at = "dead", None
                row.reason = f"{exc} (gave up after {row.attempts} attempts in 4 h)"
            else:
                row.status, row.reason = "failed", str(exc)
                row.next_attempt_at = min(at + backoff(row.attempts), deadline)
            row.updated_at = at
            return _view(row)
    except channels.Permanent as exc:
        return _mark(store, delivery_id, at, status="dead", reason=str(exc))
    return _mark(store, delivery_id, at, status="sent", reason="")


def _mark(store: Store, delivery_id: int, at: dt.datetime, *, status: str, reason: str) -> Delivery:
    with store.session() as ses:
        row = ses.get(MessageDelivery, delivery_id)
        assert row is not None
        row.status, row.reason, row.updated_at, row.next_attempt_at = status, reason, at, None
        if status == "sent":
            row.sent_at = at
        return _view(row)


def retry_due(store: Store, settings: Settings, *, now: dt.datetime | None = None, limit: int = 500) -> dict[str, int]:
    """The worker: retry failed deliveries that are due, send decisions whose sender crashed, and
    settle sends interrupted mid-way (resent where the channel deduplicates, else ``unknown``).

    Run by the service scheduler every minute, or by ``jingyun messages retry``.
    """
    at = _naive(now)
    counts = {"retried": 0, "recovered": 0, "unknown": 0}
    with store.session() as ses:
        due = ses.scalars(select(MessageDelivery).where(
            ((MessageDelivery.status == "failed") & (MessageDelivery.next_attempt_at <= at))
            | ((MessageDelivery.status == "queued") & (MessageDelivery.updated_at <= at - STALE_DECISION))
            | ((MessageDelivery.status == "sending") & (MessageDelivery.updated_at <= at - STALE_SENDING)))
            .order_by(MessageDelivery.id).limit(limit)).all()
    for row in due:
        if row.status == "sending" and not _idempotent(store, settings, row):
            _mark(store, row.id, at, status="unknown",
                  reason="interrupted while sending; the channel cannot deduplicate, so it is not resent")
            counts["unknown"] += 1
            continue
        counts["retried" if row.status == "failed" else "recovered"] += 1
        _attempt(store, settings, row.id, at)
    return counts


def replay(store: Store, settings: Settings, delivery_ids: list[int] | None = None, *,
           now: dt.datetime | None = None) -> list[Delivery]:
    """Send dead letters again (all, or these ids): a fresh 4-hour retry window each."""
    at = _naive(now)
    with store.session() as ses:
        q = select(MessageDelivery).where(MessageDelivery.status == "dead")
        if delivery_ids is not None:
            q = q.where(MessageDelivery.id.in_(delivery_ids))
        rows = ses.scalars(q.order_by(MessageDelivery.id)).all()
        if delivery_ids is not None and len(rows) != len(set(delivery_ids)):
            missing = sorted(set(delivery_ids) - {r.id for r in rows})
            raise JingyunError("not_dead", f"not dead letters: {', '.join(map(str, missing))}", "ids", status=404)
        for row in rows:
            row.status, row.first_attempt_at, row.attempts, row.updated_at = "queued", None, 0, at
    return [_attempt(store, settings, row.id, at) for row in rows]


def purge(store: Store, *, days: int, now: dt.datetime | None = None) -> int:
    """Delete delivery rows (and so their keys) older than ``days`` (at least 30, so a key outlives any retry)."""
    if days < 30:
        raise JingyunError("bad_days", "keys are kept at least 30 days: give 30 or more", "days")
    cutoff = _naive(now) - dt.timedelta(days=days)
    with store.session() as ses:
        result = ses.execute(delete(MessageDelivery).where(MessageDelivery.created_at < cutoff,
                                                           MessageDelivery.status.in_(["sent", "suppressed", "dead", "unknown"])))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LogPage:
    items: list[MessageDelivery]
    total: int


def log(store: Store, *, status: str | None = None, channel: str | None = None, user_id: str | None = None,
        limit: int = 50, offset: int = 0) -> LogPage:
    if status is not None and status not in STATUSES:
        raise JingyunError("bad_status", f"status must be one of {', '.join(STATUSES)}", "status")
    if channel is not None and channel not in CHANNELS:
        raise JingyunError("bad_channel", f"channel must be one of {', '.join(CHANNELS)}", "channel")
    if not 1 <= limit <= 500 or offset < 0:
        raise JingyunError("bad_page", "limit is 1-500 and offset 0 or more", "limit")
    with store.session() as ses:
        q = select(MessageDelivery)
        if status:
            q = q.where(MessageDelivery.status == status)
        if channel:
            q = q.where(MessageDelivery.channel == channel)
        if user_id:
            q = q.where(MessageDelivery.user_id == user_id)
        total = ses.scalar(select(func.count()).select_from(q.subquery())) or 0
        items = list(ses.scalars(q.order_by(MessageDelivery.id.desc()).limit(limit).offset(offset)))
        return LogPage(items, int(total))


def track(store: Store, settings: Settings, kind: str, token: str, *, now: dt.datetime | None = None) -> str | None:
    """Record an open or a click from a signed token; a click returns its target URL."""
    data = links.verify(settings, kind, token)
    at = _naive(now)
    with store.session() as ses:
        row = ses.get(MessageDelivery, int(data["d"]))
        if row is not None:
            if row.opened_at is None:
                row.opened_at = at  # a click implies the message was opened
            if kind == "click" and row.clicked_at is None:
                row.clicked_at = at
    return str(data["u"]) if kind == "click" else None


def unsubscribe(store: Store, settings: Settings, token: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Apply a one-click unsubscribe (marketing on the token's channel)."""
    data = links.verify(settings, "unsub", token)
    consent.record(store, str(data["s"]), purpose="marketing", channel=str(data["c"]), granted=False,
                   source="unsubscribe", now=_naive(now))
    return data
