"""Consent and unsubscribes per person, purpose and channel.

Subjects are user ids; an address without a user is kept as ``addr:<address>``. A record
for one channel wins over the all-channels record (``*``). Marketing needs consent
(opt-in: no record means no); service messages and alerts are sent under the contract
with the person and need none. Purposes recorded: marketing, analytics, personalisation.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from jingyun.errors import JingyunError
from jingyun.store.db import Store
from jingyun.store.messages import MessageConsent
from jingyun.store.models import utcnow

PURPOSES = ("marketing", "analytics", "personalisation")
CHANNELS = ("email", "webhook", "sms", "push", "wechat", "inbox")
ANY_CHANNEL = "*"


def subject_of(user_id: str | None, address: str | None = None) -> str:
    if user_id:
        return user_id
    if address:
        return "addr:" + address.strip().lower()
    raise JingyunError("no_subject", "give a user id or an address", "user_id")


@dataclass(frozen=True)
class ConsentRecord:
    subject: str
    purpose: str
    channel: str
    granted: bool
    source: str
    updated_at: dt.datetime


def _check(purpose: str, channel: str) -> None:
    if purpose not in PURPOSES:
        raise JingyunError("bad_purpose", f"purpose must be one of {', '.join(PURPOSES)}", "purpose")
    if channel != ANY_CHANNEL and channel not in CHANNELS:
        raise JingyunError("bad_channel", f"channel must be '*' or one of {', '.join(CHANNELS)}", "channel")


def decision(store: Store, subject: str, *, channel: str, purpose: str) -> tuple[bool, str]:
    """(allowed, reason): reason is ``""``, ``unsubscribed`` (consent withdrawn) or ``no_consent``."""
    if purpose in ("service", "alert"):
        return True, ""
    with store.session() as ses:
        rows = {r.channel: r.granted for r in ses.scalars(select(MessageConsent).where(
            MessageConsent.subject == subject, MessageConsent.purpose == purpose,
            MessageConsent.channel.in_([channel, ANY_CHANNEL])))}
    granted = rows.get(channel, rows.get(ANY_CHANNEL))
    if granted is None:
        return False, "no_consent"
    return (True, "") if granted else (False, "unsubscribed")


def allowed(store: Store, user_id: str, *, channel: str, purpose: str) -> bool:
    """Whether a message of this purpose may go to this person on this channel (every sender asks)."""
    return decision(store, user_id, channel=channel, purpose=purpose)[0]


def record(store: Store, subject: str, *, purpose: str, channel: str = ANY_CHANNEL, granted: bool,
           source: str = "api", now: dt.datetime | None = None, actor: str = "", audit: bool = True) -> ConsentRecord:
    """Record one consent; audited (``consent_write``) with the change, unless a caller audits a batch itself."""
    _check(purpose, channel)
    if not subject or len(subject) > 330:
        raise JingyunError("bad_user", "user_id must be 1-330 characters", "user_id")
    now = now or utcnow()
    with store.session() as ses:
        row = ses.scalar(select(MessageConsent).where(MessageConsent.subject == subject, MessageConsent.purpose == purpose,
                                                      MessageConsent.channel == channel))
        if row is None:
            row = MessageConsent(subject=subject, purpose=purpose, channel=channel, granted=granted, source=source,
                                 updated_at=now)
            ses.add(row)
        else:
            row.granted, row.source, row.updated_at = granted, source, now
        if audit:
            _audit(store, ses, actor or source, audit_target(subject),
                   {"purpose": purpose, "channel": channel, "granted": granted, "source": source}, now)
    return ConsentRecord(subject, purpose, channel, granted, source, now)


def of(store: Store, subject: str) -> list[ConsentRecord]:
    with store.session() as ses:
        rows = ses.scalars(select(MessageConsent).where(MessageConsent.subject == subject)
                           .order_by(MessageConsent.purpose, MessageConsent.channel)).all()
        return [ConsentRecord(r.subject, r.purpose, r.channel, r.granted, r.source, r.updated_at) for r in rows]


_TRUE = {"1", "true", "yes", "y", "granted", "是"}
_FALSE = {"0", "false", "no", "n", "withdrawn", "revoked", "否"}


def import_csv(store: Store, text: str, *, source: str = "import", now: dt.datetime | None = None,
               actor: str = "") -> int:
    """Record consent from CSV with columns user_id, purpose, channel (optional, default *), granted.

    The whole file is checked first; one bad row refuses the file (naming the line) and records nothing.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = {"user_id", "purpose", "granted"} - set(reader.fieldnames or [])
    if missing:
        raise JingyunError("bad_csv", f"the CSV needs the columns {', '.join(sorted(missing))}", "file")
    rows: list[tuple[str, str, str, bool]] = []
    for line, raw in enumerate(reader, start=2):
        user = (raw.get("user_id") or "").strip()
        purpose = (raw.get("purpose") or "").strip().lower()
        channel = (raw.get("channel") or "").strip().lower() or ANY_CHANNEL
        flag = (raw.get("granted") or "").strip().lower()
        try:
            _check(purpose, channel)
        except JingyunError as exc:
            raise JingyunError(exc.code, f"line {line}: {exc.message}", exc.field) from None
        if not user:
            raise JingyunError("bad_csv", f"line {line}: user_id is empty", "user_id")
        if flag not in _TRUE | _FALSE:
            raise JingyunError("bad_csv", f"line {line}: granted must be true or false, not {flag!r}", "granted")
        rows.append((user, purpose, channel, flag in _TRUE))
    for user, purpose, channel, granted in rows:
        record(store, user, purpose=purpose, channel=channel, granted=granted, source=source, now=now, audit=False)
    _audit(store, None, actor or source, "consent:import", {"rows": len(rows),
           "granted": sum(1 for r in rows if r[3]), "withdrawn": sum(1 for r in rows if not r[3]), "source": source}, now)
    return len(rows)


def audit_target(subject: str) -> str:
    """An audit target naming the person by user id; an address-only subject by a hash (no address in the log)."""
    if subject.startswith("addr:"):
        return "consent:addr:" + hashlib.sha256(subject.encode()).hexdigest()[:16]
    return "consent:" + subject


def _audit(store: Store, ses: Any, actor: str, target: str, detail: dict[str, Any], now: dt.datetime | None) -> None:
    from jingyun.security.audit import record as audit_record

    audit_record(store, actor=actor, action="consent_write", target=target, detail=detail, now=now, session=ses)
