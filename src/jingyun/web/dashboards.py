"""Saved dashboards (我的看板): pinned panels with their parameters.

The metadata store has no dashboard table yet, so pins live in one JSON file
per console user under ``$JINGYUN_HOME/dashboards/<username>.json`` behind
:class:`DashboardStore` (only this module knows the files; a store-backed
implementation can replace it with the same methods). A pin marked ``shared``
shows on the dashboards of everyone who shares one of its departments.
Writes go to a temporary file renamed over the old one: never half-written.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from jingyun.errors import JingyunError
from jingyun.segments.common import now_utc

MAX_PINS = 50
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


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


class DashboardStore:
    def __init__(self, home: Path):
        self.dir = home / "dashboards"

    def _path(self, username: str) -> Path:
        return self.dir / (_SAFE.sub("_", username) + ".json")

    def _read(self, username: str) -> list[Pin]:
        path = self._path(username)
        if not path.exists():
            return []
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Pin(**{**p, "departments": tuple(p.get("departments", ()))}) for p in data.get("pins", [])]

    def _write(self, username: str, pins: list[Pin]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"pins": [asdict(p) for p in pins]}, fh, ensure_ascii=False, indent=1)
        os.replace(tmp, self._path(username))

    def pins(self, username: str) -> list[Pin]:
        return self._read(username)

    def pin(self, username: str, departments: frozenset[int], panel: str, query: str, title: str) -> Pin:
        pins = self._read(username)
        if len(pins) >= MAX_PINS:
            raise JingyunError("too_many_pins", f"a dashboard holds at most {MAX_PINS} charts; unpin one first", "panel")
        for p in pins:
            if p.panel == panel and p.query == query:
                return p
        new = Pin(uuid.uuid4().hex[:12], panel, query[:2000], title[:200], username, tuple(sorted(departments)),
                  False, now_utc().isoformat(timespec="seconds"))
        self._write(username, [*pins, new])
        return new

    def unpin(self, username: str, pin_id: str) -> None:
        pins = self._read(username)
        kept = [p for p in pins if p.id != pin_id]
        if len(kept) == len(pins):
            raise JingyunError("not_found", "no such pin on your dashboard", "pin", status=404)
        self._write(username, kept)

    def share(self, username: str, pin_id: str, shared: bool, departments: frozenset[int]) -> Pin:
        pins = self._read(username)
        out, found = [], None
        for p in pins:
            if p.id == pin_id:
                p = Pin(p.id, p.panel, p.query, p.title, p.owner, tuple(sorted(departments)), shared, p.created_at)
                found = p
            out.append(p)
        if found is None:
            raise JingyunError("not_found", "no such pin on your dashboard", "pin", status=404)
        self._write(username, out)
        return found

    def shared_with(self, username: str, departments: frozenset[int]) -> list[Pin]:
        """Pins other people shared with one of these departments."""
        if not self.dir.exists() or not departments:
            return []
        out = []
        for path in sorted(self.dir.glob("*.json")):
            if path == self._path(username):
                continue
            out += [p for p in json.loads(path.read_text(encoding="utf-8")).get("pins", [])
                    if p.get("shared") and set(p.get("departments", ())) & departments]
        return [Pin(**{**p, "departments": tuple(p["departments"])}) for p in out]
