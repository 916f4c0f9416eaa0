"""The audit log (审计日志): logins, reads of personal data, exports, permission
changes and denials — append-only, queryable, exportable — and unusual-access
alerts (bulk export, off-hours reads of personal data, repeated failed logins).

Working time is the workspace's working days (:mod:`jingyun.calendar`: public holidays are
off, 调休 make-up Saturdays are on) between the ``work_hours`` (08:00–20:00 local by default).

``detail`` never carries personal data: targets are internal ids or route
templates, never names, phones or the values read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from jingyun import calendar
from jingyun.config import DEFAULT_TIMEZONE
from jingyun.errors import JingyunError
from jingyun.localtime import aware, local_iso
from jingyun.security.config import ServiceSettings
from jingyun.security.exports import safe_row
from jingyun.store import Alert, AuditEntry, Store
from jingyun.store.models import utcnow

ACTIONS = ("login", "logout", "login_failed", "login_throttled", "account_locked", "read_personal", "export", "permission_change",
           "user_created", "key_created", "key_revoked", "password_reset", "denied", "segment_change", "replay",
           "job_run",
           # the act and manage capabilities (issues 18, 19): written by the library where the change happens, so
           # the CLI, the API, the console and the scheduler are all recorded (see :func:`record`)
           "message_send", "consent_write", "endpoint_change", "coupon_change", "approval_submit",
           "approval_decision", "approval_comment", "approval_delegation", "approval_attachment", "incident_change",
           "alert_change",
           # privacy (PIPL Art. 47): an erasure and its byte purge, target ``erasure:<id>``, counts only
           "erase")
PERSONAL_ACTIONS = frozenset({"read_personal", "export"})


@dataclass(frozen=True)
class AuditRecord:
    id: int
    ts: dt.datetime
    actor: str
    actor_role: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]
    request_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "ts": self.ts.isoformat() + "Z", "actor": self.actor, "actor_role": self.actor_role,
            "action": self.action, "target": self.target, "outcome": self.outcome, "detail": self.detail,
            "request_id": self.request_id,
        }


def record(store: Store, *, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
           role: str = "", outcome: str = "ok", now: dt.datetime | None = None, session: Any = None) -> None:
    """Append one entry from a library call site (no service settings needed: these actions raise no alerts).

    ``session``: the caller's open store session, so the entry commits (or rolls back) with the change itself.
    ``detail`` carries ids, codes and counts only — never a recipient address, a name or a message body.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action}")
    entry = AuditEntry(ts=now or utcnow(), actor=(actor or "system")[:100], actor_role=role, action=action,
                       target=target[:200],
                       outcome=outcome, detail=json.dumps(detail or {}, ensure_ascii=False, default=str),
                       request_id="")
    if session is not None:
        session.add(entry)
        return
    with store.session() as ses:
        ses.add(entry)


def _record(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(entry.id, entry.ts, entry.actor, entry.actor_role, entry.action, entry.target,
                       entry.outcome, json.loads(entry.detail or "{}"), entry.request_id)


class Auditor:
    """Writes audit entries and raises alerts; one per service."""

    def __init__(self, store: Store, service: ServiceSettings, timezone: str = DEFAULT_TIMEZONE, *,
                 work_calendar: calendar.WorkCalendar | None = None):
        self.store = store
        self.service = service
        self.tz = ZoneInfo(timezone)
        # the environment's workspace calendar unless one is given (read per call: calendar.yaml may change)
        self.work_calendar = work_calendar

    def is_workday(self, day: dt.date) -> bool:
        return (self.work_calendar or calendar.current()).is_workday(day)

    def log(self, *, actor: str, role: str = "", action: str, target: str = "", outcome: str = "ok",
            detail: dict[str, Any] | None = None, request_id: str = "", now: dt.datetime | None = None) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action}")
        ts = now or utcnow()
        with self.store.session() as ses:
            ses.add(AuditEntry(ts=ts, actor=actor, actor_role=role, action=action, target=target, outcome=outcome,
                               detail=json.dumps(detail or {}, ensure_ascii=False, default=str), request_id=request_id))
            for kind, info in self._alerts(action, outcome, detail or {}, ts):
                ses.add(Alert(ts=ts, kind=kind, actor=actor, detail=json.dumps(info, default=str)))

    def _alerts(self, action: str, outcome: str, detail: dict[str, Any], ts: dt.datetime) -> list[tuple[str, dict[str, Any]]]:
        alerts: list[tuple[str, dict[str, Any]]] = []
        if action == "export" and int(detail.get("rows", 0)) > self.service.export_alert_rows:
            alerts.append(("bulk_export", {"rows": detail.get("rows"), "threshold": self.service.export_alert_rows}))
        if action in PERSONAL_ACTIONS and outcome == "ok":
            local = aware(ts, self.tz.key)
            start, end = self.service.work_hours
            if not self.is_workday(local.date()) or not (start <= local.hour < end):
                alerts.append(("off_hours", {"action": action, "local_time": local.isoformat(timespec="minutes")}))
        if action in ("login_throttled", "account_locked"):  # account_locked: entries from before the throttle
            alerts.append(("failed_logins", {"failures": detail.get("failures"), "scope": detail.get("scope")}))
        return alerts

    # -- reading -----------------------------------------------------------
    def query(self, *, actor: str | None = None, action: str | None = None, since: dt.datetime | None = None,
              until: dt.datetime | None = None, limit: int = 50, offset: int = 0) -> tuple[int, list[AuditRecord]]:
        if action is not None and action not in ACTIONS:
            raise JingyunError("bad_action", f"action must be one of {', '.join(ACTIONS)}", "action", status=422)
        stmt = select(AuditEntry)
        if actor:
            stmt = stmt.where(AuditEntry.actor == actor)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        if since:
            stmt = stmt.where(AuditEntry.ts >= since)
        if until:
            stmt = stmt.where(AuditEntry.ts < until)
        with self.store.session() as ses:
            total = int(ses.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = ses.scalars(stmt.order_by(AuditEntry.id).limit(limit).offset(offset)).all()
            return total, [_record(r) for r in rows]

    def export_csv(self, **filters: Any) -> str:
        _, records = self.query(limit=1_000_000, **filters)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["id", "ts", "actor", "actor_role", "action", "target", "outcome", "detail", "request_id"])
        for r in records:
            writer.writerow(safe_row([r.id, local_iso(r.ts, self.tz.key), r.actor, r.actor_role, r.action, r.target,
                                      r.outcome, json.dumps(r.detail, ensure_ascii=False), r.request_id]))
        return buf.getvalue()

    def alerts(self, *, limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        with self.store.session() as ses:
            total = int(ses.scalar(select(func.count()).select_from(Alert)) or 0)
            rows = ses.scalars(select(Alert).order_by(Alert.id).limit(limit).offset(offset)).all()
            return total, [{"id": a.id, "ts": a.ts.isoformat() + "Z", "kind": a.kind, "actor": a.actor,
                            "detail": json.loads(a.detail or "{}"), "acknowledged": a.acknowledged} for a in rows]
