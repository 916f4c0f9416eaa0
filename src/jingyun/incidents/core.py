"""Incidents (应急事件): opened from a playbook by a red alert or by hand; a response level with its deadline
(opened + 24/48/72 h for level 1/2/3), a first responder from the organisation, the playbook's steps to tick,
a timeline of entries, and a post-incident review that closing requires.

An alert opens at most one open incident: a second ``open_incident`` with the same ``alert_id`` while the first
is open returns the first.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jingyun.approvals import org
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.incidents.playbooks import LEVEL_HOURS, OWNER, check_level
from jingyun.incidents.playbooks import playbook as _library_playbook
from jingyun.store import Store
from jingyun.store.approvals import IncidentEntry, IncidentRow, IncidentStepRow
from jingyun.store.models import utcnow

log = logging.getLogger(__name__)
REVIEW_KEYS = ("summary", "root_cause", "actions")


@dataclass(frozen=True)
class IncidentStep:
    idx: int
    zh: str
    en: str
    done_at: dt.datetime | None
    done_by: str | None


_FACTS = {
    "opened": re.compile(r"^.* level (?P<level>[123]) from (?P<source>.+?); first responder: "
                         r"(?:nobody holds (?P<position>\S+)|(?P<responder>\S+))$", re.S),
    "step": re.compile(r"^(?P<step>\d+)\. ", re.S),
    "level": re.compile(r"^level (?P<was>[123]) → (?P<level>[123])$"),
    "closed": re.compile(r"^closed(?P<late> \(after the deadline\))?: (?P<summary>.*)$", re.S),
}


@dataclass(frozen=True)
class TimelineEntry:
    ts: dt.datetime
    author: str
    kind: str
    text: str

    @property
    def facts(self) -> dict[str, Any] | None:
        """What a library-written entry says, as values an edge words in its reader's language (``text`` stays the
        English of the API): opened — ``level``, ``source``, ``responder`` or the unheld ``position``; step —
        ``step`` (its number); level — ``was`` and ``level``; closed — ``late`` and ``summary``. None for a note."""
        pattern = _FACTS.get(self.kind)
        found = pattern.match(self.text) if pattern is not None else None
        if found is None:
            return None
        out: dict[str, Any] = found.groupdict()
        if self.kind == "closed":
            out["late"] = bool(out["late"])
        return out


@dataclass(frozen=True)
class Incident:
    id: int
    playbook: str
    level: int
    title: str
    source: str
    alert_id: int | None
    status: str
    first_responder: str | None
    opened_by: str
    opened_at: dt.datetime
    deadline_at: dt.datetime
    closed_at: dt.datetime | None
    review: dict[str, Any] | None
    steps: list[IncidentStep] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)

    def overdue(self, now: dt.datetime) -> bool:
        return self.status == "open" and now >= self.deadline_at


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now


def _view(ses: Session, row: IncidentRow) -> Incident:
    steps = ses.scalars(select(IncidentStepRow).where(IncidentStepRow.incident_id == row.id)
                        .order_by(IncidentStepRow.idx))
    entries = ses.scalars(select(IncidentEntry).where(IncidentEntry.incident_id == row.id)
                          .order_by(IncidentEntry.ts, IncidentEntry.id))
    return Incident(row.id, row.playbook, row.level, row.title, row.source, row.alert_id, row.status,
                    row.first_responder, row.opened_by, row.opened_at, row.deadline_at, row.closed_at,
                    json.loads(row.review) if row.review else None,
                    [IncidentStep(s.idx, s.zh, s.en, s.done_at, s.done_by) for s in steps],
                    [TimelineEntry(e.ts, e.author, e.kind, e.text) for e in entries])


def _row(ses: Session, incident_id: int) -> IncidentRow:
    row = ses.get(IncidentRow, incident_id)
    if row is None:
        raise JingyunError("not_found", f"no incident {incident_id}", "id", status=404)
    return row


def _responder(ses: Session, spec: str, department: str | None, owner: str | None) -> str | None:
    """The username a playbook position names now. ``owner.<title>``: that title in the owning department,
    else (for a manager) the owner's superior — so ``owner.manager`` is the metric owner's manager."""
    where, _, title = spec.rpartition(".")
    if where != OWNER:
        return org.resolve(ses, spec, None)
    held = org.holder(ses, department, title) if department else None
    if held is None and owner:
        boss = org.superior_of(ses, owner)
        held = boss if title == "manager" or boss is None else org.superior_of(ses, boss) or boss
    return held


def open_incident(store: Store, settings: Settings, *, playbook: str, level: int, title: str,
                  source: str = "manual", alert_id: int | None = None, now: dt.datetime | None = None,
                  opened_by: str = "system", department: str | None = None, owner: str | None = None) -> Incident:
    """``department`` and ``owner`` (a username) are what the incident is about, for ``owner.*`` positions."""
    pb = _library_playbook(playbook)
    check_level(level)
    title = (title or "").strip()
    if not 1 <= len(title) <= 200:
        raise JingyunError("bad_title", "an incident needs a title of 1-200 characters", "title", status=422)
    if not source or len(source) > 30:
        raise JingyunError("bad_source", "source is 1-30 characters (manual, alert, ...)", "source", status=422)
    at = _now(now)
    with store.session() as ses:
        if alert_id is not None:
            existing = ses.scalar(select(IncidentRow).where(IncidentRow.alert_id == alert_id,
                                                            IncidentRow.status == "open"))
            if existing is not None:
                return _view(ses, existing)
        responder = _responder(ses, pb.first_responder, department, owner)
        row = IncidentRow(playbook=pb.key, level=level, title=title, source=source, alert_id=alert_id, status="open",
                          first_responder=responder, opened_by=opened_by, opened_at=at,
                          deadline_at=at + dt.timedelta(hours=LEVEL_HOURS[level]))
        ses.add(row)
        ses.flush()
        for i, (zh, en) in enumerate(pb.steps, start=1):
            ses.add(IncidentStepRow(incident_id=row.id, idx=i, zh=zh, en=en))
        who = responder or f"nobody holds {pb.first_responder}"
        ses.add(IncidentEntry(incident_id=row.id, ts=at, author=opened_by, kind="opened",
                              text=f"{pb.en} level {level} from {source}; first responder: {who}"))
        ses.flush()
        _audit(store, ses, opened_by, row.id, {"op": "open", "playbook": pb.key, "level": level, "source": source,
                                               "alert_id": alert_id}, at)
        view = _view(ses, row)
    if responder:
        _notify(store, settings, responder, f"incident:{view.id}:opened",
                f"应急事件 / incident L{level}: {title}",
                f"#{view.id} {pb.zh} / {pb.en}, level {level}, due {view.deadline_at.isoformat()}Z", at)
    return view




def get(store: Store, incident_id: int) -> Incident:
    with store.session() as ses:
        return _view(ses, _row(ses, incident_id))


def list_incidents(store: Store, *, status: str | None = None, limit: int = 50,
                   offset: int = 0) -> tuple[list[Incident], int]:
    if not 1 <= limit <= 500 or offset < 0:
        raise JingyunError("bad_page", "limit is 1-500 and offset 0 or more", "limit", status=422)
    if status not in (None, "open", "closed"):
        raise JingyunError("bad_status", "status is open or closed", "status", status=422)
    with store.session() as ses:
        stmt = select(IncidentRow)
        if status:
            stmt = stmt.where(IncidentRow.status == status)
        total = ses.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = ses.scalars(stmt.order_by(IncidentRow.id.desc()).limit(limit).offset(offset))
        return [_view(ses, r) for r in rows], total


def _open_row(ses: Session, incident_id: int) -> IncidentRow:
    row = _row(ses, incident_id)
    if row.status != "open":
        raise JingyunError("closed", f"incident {incident_id} is closed", "id", status=409)
    return row


def add_note(store: Store, incident_id: int, *, author: str, text: str, now: dt.datetime | None = None) -> Incident:
    text = (text or "").strip()
    if not 1 <= len(text) <= 4000:
        raise JingyunError("bad_note", "a note has 1-4000 characters", "text", status=422)
    with store.session() as ses:
        row = _open_row(ses, incident_id)
        ses.add(IncidentEntry(incident_id=row.id, ts=_now(now), author=author, kind="note", text=text))
        _audit(store, ses, author, row.id, {"op": "note", "chars": len(text)}, _now(now))
        ses.flush()
        return _view(ses, row)


def complete_step(store: Store, incident_id: int, idx: int, *, author: str,
                  now: dt.datetime | None = None) -> Incident:
    at = _now(now)
    with store.session() as ses:
        row = _open_row(ses, incident_id)
        step = ses.scalar(select(IncidentStepRow).where(IncidentStepRow.incident_id == row.id,
                                                        IncidentStepRow.idx == idx))
        if step is None:
            raise JingyunError("not_found", f"incident {incident_id} has no step {idx}", "step", status=404)
        if step.done_at is None:
            step.done_at, step.done_by = at, author
            ses.add(IncidentEntry(incident_id=row.id, ts=at, author=author, kind="step", text=f"{idx}. {step.en}"))
            _audit(store, ses, author, row.id, {"op": "step", "step": idx}, at)
        ses.flush()
        return _view(ses, row)


def set_level(store: Store, incident_id: int, level: int, *, author: str, now: dt.datetime | None = None) -> Incident:
    """A new level moves the deadline to opened + that level's hours (the clock runs from the opening)."""
    check_level(level)
    at = _now(now)
    with store.session() as ses:
        row = _open_row(ses, incident_id)
        if row.level != level:
            ses.add(IncidentEntry(incident_id=row.id, ts=at, author=author, kind="level",
                                  text=f"level {row.level} → {level}"))
            _audit(store, ses, author, row.id, {"op": "level", "from": row.level, "to": level}, at)
            row.level, row.deadline_at = level, row.opened_at + dt.timedelta(hours=LEVEL_HOURS[level])
        ses.flush()
        return _view(ses, row)


def close(store: Store, incident_id: int, *, author: str, review: dict[str, Any],
          now: dt.datetime | None = None) -> Incident:
    """Close with the post-incident review (复盘): summary, root_cause and actions, each non-empty."""
    clean: dict[str, Any] = {}
    for key in REVIEW_KEYS:
        value = review.get(key) if isinstance(review, dict) else None
        if key == "actions" and isinstance(value, list):
            value = [str(v).strip() for v in value if str(v).strip()]
        elif isinstance(value, str):
            value = value.strip()
        if not value:
            raise JingyunError("review_required", f"the post-incident review needs {key}", f"review.{key}",
                               status=422)
        clean[key] = value
    at = _now(now)
    with store.session() as ses:
        row = _open_row(ses, incident_id)
        row.status, row.closed_at = "closed", at
        row.review = json.dumps(clean, ensure_ascii=False)
        late = " (after the deadline)" if at > row.deadline_at else ""
        ses.add(IncidentEntry(incident_id=row.id, ts=at, author=author, kind="closed",
                              text=f"closed{late}: {clean['summary']}"))
        _audit(store, ses, author, row.id, {"op": "close", "late": bool(late), "actions": len(clean["actions"])}, at)
        ses.flush()
        return _view(ses, row)


def _audit(store: Store, ses: Session, actor: str, incident_id: int, detail: dict[str, Any], at: dt.datetime) -> None:
    """``incident_change`` in the transaction of the change (ids and counts; never the note or review text)."""
    from jingyun.security.audit import record as audit_record

    audit_record(store, actor=actor, action="incident_change", target=f"incident:{incident_id}", detail=detail,
                 now=at, session=ses)


def _notify(store: Store, settings: Settings, to: str, key: str, subject: str, text: str, at: dt.datetime) -> None:
    try:
        from jingyun.messaging import Message, deliver

        deliver(store, settings, Message(channel="inbox", to=to, subject=subject[:300], text=text, purpose="alert",
                                         key=key, meta={"source": "incidents"}), now=at)
    except Exception:
        log.exception("incident notice %s to %s failed", key, to)
