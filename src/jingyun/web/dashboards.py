"""Saved dashboards (我的看板): pinned panels with their parameters.

Pins live in the metadata store (table ``dashboard_pins``, one row per pin)
behind :class:`DashboardStore`; only this module knows the table. A pin marked
``shared`` shows on the dashboards of everyone who shares one of its
departments. Each pin, unpin and share is its own row change in one
transaction, so two tabs or two processes pinning at once both keep their pin
(the per-user JSON files this replaces were read, changed and written back, and
the later writer dropped the earlier one's pin).

Older workspaces kept ``$JINGYUN_HOME/dashboards/<username>.json``; those files
are imported the first time a process opens the store and renamed
``*.json.imported``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select, update

from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.segments.common import now_utc
from jingyun.store.db import Store
from jingyun.store.models import DashboardPin

MAX_PINS = 50


@dataclass(frozen=True)
class Pin:
    id: str
    panel: str
    query: str  # the panel's parameters, as a query string
    title: str
    owner: str
    departments: tuple[int, ...]  # the owner's departments when it was shared
    shared: bool = False
    created_at: str = ""


def _pin(row: DashboardPin) -> Pin:
    return Pin(row.id, row.panel, row.query, row.title, row.owner, tuple(json.loads(row.departments or "[]")),
               bool(row.shared), row.created_at.isoformat(timespec="seconds"))


_IMPORTED: set[tuple[str, str]] = set()
_IMPORT_LOCK = threading.Lock()


class DashboardStore:
    def __init__(self, home: Path, store: Store | None = None):
        from jingyun.store.shared import metadata_store

        self.dir = home / "dashboards"  # only where older workspaces kept the files imported once
        self.store = store or metadata_store(load_settings(home))
        key = (str(self.store.engine.url), str(home))
        if key not in _IMPORTED:
            with _IMPORT_LOCK:
                if key not in _IMPORTED:
                    self.import_files()
                    _IMPORTED.add(key)

    def pins(self, username: str) -> list[Pin]:
        with self.store.session() as ses:
            rows = ses.scalars(select(DashboardPin).where(DashboardPin.owner == username)
                               .order_by(DashboardPin.created_at, DashboardPin.id))
            return [_pin(r) for r in rows]

    def pin(self, username: str, departments: frozenset[int], panel: str, query: str, title: str) -> Pin:
        with self.store.session() as ses:
            mine = select(DashboardPin).where(DashboardPin.owner == username)
            same = ses.scalar(mine.where(DashboardPin.panel == panel, DashboardPin.query == query[:2000]))
            if same is not None:
                return _pin(same)
            if (ses.scalar(select(func.count()).select_from(mine.subquery())) or 0) >= MAX_PINS:
                raise JingyunError("too_many_pins", f"a dashboard holds at most {MAX_PINS} charts; unpin one first",
                                   "panel")
            row = DashboardPin(id=uuid.uuid4().hex[:12], panel=panel, query=query[:2000], title=title[:200],
                               owner=username, departments=json.dumps(sorted(departments)), shared=False,
                               created_at=now_utc())
            ses.add(row)
            ses.flush()
            return _pin(row)

    def unpin(self, username: str, pin_id: str) -> None:
        with self.store.session() as ses:
            gone = ses.execute(delete(DashboardPin).where(DashboardPin.id == pin_id, DashboardPin.owner == username))
            if gone.rowcount == 0:  # type: ignore[attr-defined]
                raise JingyunError("not_found", "no such pin on your dashboard", "pin", status=404)

    def share(self, username: str, pin_id: str, shared: bool, departments: frozenset[int]) -> Pin:
        with self.store.session() as ses:
            done = ses.execute(update(DashboardPin).where(DashboardPin.id == pin_id, DashboardPin.owner == username)
                               .values(shared=shared, departments=json.dumps(sorted(departments))))
            if done.rowcount == 0:  # type: ignore[attr-defined]
                raise JingyunError("not_found", "no such pin on your dashboard", "pin", status=404)
            return _pin(ses.get_one(DashboardPin, pin_id))

    def shared_with(self, username: str, departments: frozenset[int]) -> list[Pin]:
        """Pins other people shared with one of these departments."""
        if not departments:
            return []
        with self.store.session() as ses:
            rows = ses.scalars(select(DashboardPin).where(DashboardPin.shared.is_(True), DashboardPin.owner != username)
                               .order_by(DashboardPin.owner, DashboardPin.created_at, DashboardPin.id))
            return [p for p in map(_pin, rows) if set(p.departments) & departments]

    def import_files(self) -> int:
        """Import ``dashboards/<username>.json`` once (a pin id already stored is kept); rename each imported."""
        n = 0
        for path in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []:
            data = json.loads(path.read_text(encoding="utf-8"))
            with self.store.session() as ses:
                for p in data.get("pins", []):
                    if ses.get(DashboardPin, p["id"]) is not None:
                        continue
                    created = p.get("created_at") or ""
                    ses.add(DashboardPin(
                        id=p["id"], panel=p["panel"], query=p.get("query", ""), title=p.get("title", ""),
                        owner=p["owner"], departments=json.dumps(sorted(p.get("departments", ()))),
                        shared=bool(p.get("shared")),
                        created_at=_naive(created) if created else now_utc()))
                    n += 1
            target = path.with_name(path.name + ".imported")
            if path.exists():
                path.rename(target if not target.exists() else path.with_name(f"{path.name}.imported.{uuid.uuid4().hex[:6]}"))
        return n


def _naive(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text)
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t
