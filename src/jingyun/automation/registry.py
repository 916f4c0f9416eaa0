"""Journeys in the metadata store: create (a new version each time), list, show, activate, pause, resume.

Status: ``draft`` when created; ``active`` only through :func:`activate` (a manager's permission,
``journeys:approve``; the approvals flow calls it once a request is approved); ``paused`` ⇄ ``active``
by :func:`pause` and :func:`resume`. A saved definition is never edited: saving a changed journey
adds a version, and the journey keeps its status (an active journey runs its newest version).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select

from jingyun.automation.journey import Journey, parse_journey, to_data
from jingyun.errors import JingyunError
from jingyun.localtime import local_iso
from jingyun.store.automation import JourneyRow, JourneyVersionRow
from jingyun.store.db import Store
from jingyun.store.models import utcnow

Status = Literal["draft", "active", "paused"]
MAX_PAGE = 200


@dataclass(frozen=True)
class StoredJourney:
    key: str
    name: str
    status: str
    priority: int
    version: int
    created_by: str
    created_at: dt.datetime  # naive UTC
    updated_at: dt.datetime
    updated_by: str
    journey: Journey

    def to_dict(self, timezone: str) -> dict[str, Any]:
        def aware(t: dt.datetime) -> str:
            return local_iso(t, timezone)  # type: ignore[return-value]

        return {"key": self.key, "name": self.name, "status": self.status, "priority": self.priority,
                "version": self.version, "created_by": self.created_by, "created_at": aware(self.created_at),
                "updated_at": aware(self.updated_at), "updated_by": self.updated_by,
                "definition": to_data(self.journey)}


# Bumped by every change of a journey's status or version in this process. Inside the service, every
# command runs in its process, so the live runtime re-reads the active journeys as soon as this moves.
_generation = [0]


def generation() -> int:
    """How many journey changes this process has made (the live runtime compares it)."""
    return _generation[0]


def _changed() -> None:
    _generation[0] += 1


def _stored(row: JourneyRow, definition: str) -> StoredJourney:
    return StoredJourney(row.key, row.name, row.status, row.priority, row.version, row.created_by, row.created_at,
                         row.updated_at, row.updated_by, parse_journey(json.loads(definition), row.key))


def _row(ses: Any, key: str) -> JourneyRow:
    row = ses.scalar(select(JourneyRow).where(JourneyRow.key == key))
    if row is None:
        raise JingyunError("journey_not_found", f"no journey {key!r}; see `jingyun journey list`", "key", status=404)
    return row


def _definition(ses: Any, row: JourneyRow, version: int | None = None) -> str:
    v = row.version if version is None else version
    text = ses.scalar(select(JourneyVersionRow.definition).where(
        JourneyVersionRow.journey_id == row.id, JourneyVersionRow.version == v))
    if text is None:
        raise JingyunError("journey_not_found", f"journey {row.key!r} has no version {v}", "version", status=404)
    return str(text)


def create(store: Store, journey: Journey, *, by: str = "") -> tuple[StoredJourney, bool]:
    """Save ``journey``: a new journey (draft, version 1) or a new version of it; ``(stored, changed)``.
    Saving the same definition again changes nothing."""
    text = json.dumps(to_data(journey), ensure_ascii=False, sort_keys=True)
    now = utcnow()
    with store.session() as ses:
        row = ses.scalar(select(JourneyRow).where(JourneyRow.key == journey.key))
        if row is None:
            row = JourneyRow(key=journey.key, name=journey.name, status="draft", priority=journey.priority, version=1,
                             created_by=by, created_at=now, updated_at=now, updated_by=by)
            ses.add(row)
            ses.flush()
        elif _definition(ses, row) == text:
            return _stored(row, text), False
        else:
            row.version += 1
            row.name, row.priority, row.updated_at, row.updated_by = journey.name, journey.priority, now, by
        ses.add(JourneyVersionRow(journey_id=row.id, version=row.version, definition=text, created_by=by,
                                  created_at=now))
        stored = _stored(row, text)
    _changed()
    return stored, True


def get(store: Store, key: str, *, version: int | None = None) -> StoredJourney:
    with store.session() as ses:
        row = _row(ses, key)
        return _stored(row, _definition(ses, row, version))


def versions(store: Store, key: str) -> list[dict[str, Any]]:
    with store.session() as ses:
        row = _row(ses, key)
        found = ses.execute(select(JourneyVersionRow.version, JourneyVersionRow.created_by,
                                   JourneyVersionRow.created_at).where(JourneyVersionRow.journey_id == row.id)
                            .order_by(JourneyVersionRow.version)).all()
        return [{"version": v, "created_by": b, "created_at": t} for v, b, t in found]


def listing(store: Store, *, status: str | None = None, limit: int = 50, offset: int = 0
            ) -> tuple[list[StoredJourney], int]:
    """A page of journeys by key, and the total."""
    if not 1 <= limit <= MAX_PAGE:
        raise JingyunError("bad_param", f"limit must be 1..{MAX_PAGE}", "limit")
    if offset < 0:
        raise JingyunError("bad_param", "offset must be 0 or more", "offset")
    if status is not None and status not in ("draft", "active", "paused"):
        raise JingyunError("bad_param", "status is one of draft, active, paused", "status")
    with store.session() as ses:
        query = select(JourneyRow)
        count = select(func.count()).select_from(JourneyRow)
        if status:
            query, count = query.where(JourneyRow.status == status), count.where(JourneyRow.status == status)
        total = int(ses.scalar(count) or 0)
        rows = ses.scalars(query.order_by(JourneyRow.key).limit(limit).offset(offset)).all()
        return [_stored(r, _definition(ses, r)) for r in rows], total


def _move(store: Store, key: str, allowed: tuple[str, ...], to: Status, by: str, hint: str) -> StoredJourney:
    with store.session() as ses:
        row = _row(ses, key)
        if row.status == to:
            return _stored(row, _definition(ses, row))
        if row.status not in allowed:
            raise JingyunError("bad_status", f"journey {key!r} is {row.status}; {hint}", "status", status=409)
        row.status, row.updated_at, row.updated_by = to, utcnow(), by
        stored = _stored(row, _definition(ses, row))
    _changed()
    return stored


def activate(store: Store, key: str, *, by: str = "") -> StoredJourney:
    """Turn a draft (or paused) journey on: the step an approval grants."""
    return _move(store, key, ("draft", "paused"), "active", by, "")


def pause(store: Store, key: str, *, by: str = "") -> StoredJourney:
    return _move(store, key, ("active",), "paused", by, "only an active journey can be paused")


def resume(store: Store, key: str, *, by: str = "") -> StoredJourney:
    return _move(store, key, ("paused",), "active", by,
                 "only a paused journey can be resumed; a draft is activated once approved")


def active(store: Store) -> list[Journey]:
    """The journeys that run now, newest version each (what the live runtime and a full simulation read)."""
    found, _ = listing(store, status="active", limit=MAX_PAGE)
    return [j.journey for j in found]
