"""Segment metadata: saved segments, tag versions and approvals, snapshots, run status.

All of it lives in the metadata store (:mod:`jingyun.store`: SQLite by default,
PostgreSQL by URL) behind :class:`SegmentStore`; only this module knows the
tables. A segment is one row of ``segments`` whether the console, the CLI or
the API made it: the API's department-owned segments with their approval and
the CLI's saved segments (zh/en names, owner, automation, playbook, version)
are the same objects.

Writes are single statements or guarded by unique keys, so two processes
writing at once never lose each other's work: the JSON files this replaces
could (read, change, write back). Each write is one transaction, so a rejected
rule or a crash never leaves half a definition behind.

The files of older workspaces (``$JINGYUN_HOME/segments/*.json`` and
``snapshots/``) are imported the first time a process opens the store, then
renamed ``*.imported``; rows already present are kept, so a second import
(after a crash between commit and rename) changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.segments.common import check_name, now_utc
from jingyun.store.db import Store
from jingyun.store.models import Department, Segment, SegmentRun, SegmentSnapshot, SegmentState, TagVersionRow

T = TypeVar("T")
KEEP_RUNS = 500
# one rule for segment names on every surface: a word of letters (any script), digits, '_', '-' or '.',
# and inner spaces; names are what rules ({"segment": name}), commands and URLs refer to
SEGMENT_NAME = re.compile(r"^[^\W_][\w.\- ]{0,98}[\w.\-]$|^[^\W_]$")


# the short form the API has always accepted: {column: value} equality filters on public users columns
SHORT_RULE_COLUMNS = ("channel", "province", "city", "member_level", "gender")
TREE_KEYS = frozenset({"and", "or", "not", "attr", "tag", "event", "orders", "segment"})


def tree_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule as a rule tree: the short form ``{column: value}`` becomes an ``and`` of ``attr eq``.

    Rules are stored as their author wrote them; every reader compiles this form.
    """
    if set(rule) & TREE_KEYS:
        return rule
    for col, value in rule.items():
        if col not in SHORT_RULE_COLUMNS:
            raise JingyunError("bad_rule", f"rule columns must be among {', '.join(SHORT_RULE_COLUMNS)}, "
                               "or write a rule tree (and/or/not/attr/tag/event/orders)", f"rule.{col}", status=422)
        if not isinstance(value, str):
            raise JingyunError("bad_rule", "short-form rule values are text", f"rule.{col}", status=422)
    return {"and": [{"attr": c, "op": "eq", "value": v} for c, v in rule.items()]}


def check_segment_name(name: str, field_name: str = "name") -> str:
    if not isinstance(name, str) or not SEGMENT_NAME.match(name):
        raise JingyunError("bad_name", f"{name!r} is not a valid segment name: 1-100 letters, digits, '_', '-', '.' "
                           "or inner spaces, starting with a letter or digit", field_name, status=422)
    return name


@dataclass(frozen=True)
class SavedSegment:
    name: str
    rule: dict[str, Any]
    zh: str = ""
    en: str = ""
    owner: str = ""
    automation: bool = False  # used by automation: kept fresh incrementally
    playbook: str | None = None  # key into playbooks.PLAYBOOKS
    created_at: str = ""
    updated_at: str = ""
    version: int = 1
    id: int | None = None
    department: str | None = None  # None: a workspace segment, seen by everyone with segments:view
    status: str = "draft"  # draft | approved; a changed rule goes back to draft
    created_by: str = ""
    approved_by: str | None = None


@dataclass(frozen=True)
class TagVersion:
    tag: str
    version: int
    definition: dict[str, Any]
    status: str  # draft | approved | rejected
    author: str
    created_at: str
    approved_by: str | None = None
    approved_at: str | None = None
    note: str = ""


@dataclass
class RunRecord:
    """One recompute: its status can never stay ``running`` past its deadline."""

    run_id: str
    kind: str  # full | incremental
    target: str
    status: str  # running | ok | failed | timeout
    started_at: str
    deadline_at: str
    finished_at: str | None = None
    seconds: float | None = None
    attempts: int = 1
    rows: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat() if value else ""


def _ts(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    t = dt.datetime.fromisoformat(str(value))
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def _segment(row: Segment) -> SavedSegment:
    return SavedSegment(
        name=row.name, rule=tree_rule(json.loads(row.rule or "{}")), zh=row.zh, en=row.en, owner=row.owner,
        automation=bool(row.automation), playbook=row.playbook, created_at=_iso(row.created_at),
        updated_at=_iso(row.updated_at or row.created_at), version=row.version, id=row.id,
        department=row.department.name if row.department else None, status=row.status, created_by=row.created_by,
        approved_by=row.approved_by,
    )


def _tag_version(row: TagVersionRow) -> TagVersion:
    return TagVersion(row.tag, row.version, json.loads(row.definition), row.status, row.author, _iso(row.created_at),
                      row.approved_by, _iso(row.approved_at) or None, row.note)


def _run(row: SegmentRun) -> RunRecord:
    return RunRecord(row.run_id, row.kind, row.target, row.status, _iso(row.started_at), _iso(row.deadline_at),
                     _iso(row.finished_at) or None, row.seconds, row.attempts, row.rows, row.error,
                     json.loads(row.extra or "{}"))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def pack_snapshot(data: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")).encode(), 6)


_IMPORTED: set[tuple[str, str]] = set()
_IMPORT_LOCK = threading.Lock()


class SegmentStore:
    """The segments capability's tables in the metadata store.

    ``root`` (``$JINGYUN_HOME/segments``) is only where older workspaces kept the
    files that are imported once.
    """

    def __init__(self, settings: Settings, store: Store | None = None):
        from jingyun.store.shared import metadata_store

        self.settings = settings
        self.root = settings.home / "segments"
        self.store = store or metadata_store(settings)
        key = (str(self.store.engine.url), str(settings.home))
        if key not in _IMPORTED:
            with _IMPORT_LOCK:
                if key not in _IMPORTED:
                    import_files(self)
                    _IMPORTED.add(key)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self.store.session() as ses:
            yield ses

    def _retry(self, fn: Callable[[], T], attempts: int = 5) -> T:
        """Run ``fn``; a unique-key race with another writer is retried (it re-reads what won)."""
        for i in range(attempts):
            try:
                return fn()
            except IntegrityError:
                if i == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- saved segments --------------------------------------------------
    def segments(self) -> dict[str, SavedSegment]:
        with self._session() as ses:
            return {r.name: _segment(r) for r in ses.scalars(select(Segment).order_by(Segment.name))}

    def get_segment(self, name: str) -> SavedSegment:
        with self._session() as ses:
            row = ses.scalar(select(Segment).where(Segment.name == name))
            if row is None:
                raise JingyunError("unknown_segment", f"no saved segment {name!r}; see `jingyun segment list`", "name",
                                   status=404)
            return _segment(row)

    def get_by_id(self, segment_id: int) -> tuple[SavedSegment, int | None] | None:
        """The segment and its department id (for object-level checks), or None."""
        with self._session() as ses:
            row = ses.get(Segment, segment_id)
            return None if row is None else (_segment(row), row.department_id)

    def save_segment(self, seg: SavedSegment, *, replace: bool = False, department_id: int | None = None
                     ) -> SavedSegment:
        """Create (version 1) or, with ``replace``, update a segment (version + 1, back to draft if the rule
        changed). The department is kept on replace unless ``department_id`` is given."""
        check_segment_name(seg.name, "name")
        rule = _dumps(seg.rule)

        def write() -> SavedSegment:
            stamp = now_utc()
            with self._session() as ses:
                old = ses.scalar(select(Segment).where(Segment.name == seg.name))
                if old is None:
                    row = Segment(name=seg.name, rule=rule, zh=seg.zh, en=seg.en, owner=seg.owner,
                                  automation=seg.automation, playbook=seg.playbook, department_id=department_id,
                                  status="draft", created_by=seg.created_by or seg.owner, created_at=stamp,
                                  updated_at=stamp, version=1)
                    ses.add(row)
                    ses.flush()
                    ses.refresh(row)
                    return _segment(row)
                if not replace:
                    raise JingyunError("segment_exists", f"segment {seg.name!r} exists; pick another name, or update it "
                                       "(`jingyun segment create --replace`)",
                                       "name", status=409)
                values: dict[str, Any] = dict(rule=rule, zh=seg.zh, en=seg.en, owner=seg.owner,
                                              automation=seg.automation, playbook=seg.playbook, updated_at=stamp,
                                              version=Segment.version + 1)  # in SQL: two writers never share a version
                if department_id is not None:
                    values["department_id"] = department_id
                if json.loads(old.rule or "{}") != seg.rule:
                    values.update(status="draft", approved_by=None)
                ses.execute(update(Segment).where(Segment.id == old.id).values(**values))
                ses.flush()
                ses.expire_all()
                return _segment(ses.get_one(Segment, old.id))

        return self._retry(write)

    def approve_segment(self, segment_id: int, approver: str) -> SavedSegment:
        with self._session() as ses:
            ses.execute(update(Segment).where(Segment.id == segment_id).values(status="approved", approved_by=approver))
            row = ses.get(Segment, segment_id)
            if row is None:
                raise JingyunError("unknown_segment", "no such segment", "segment_id", status=404)
            ses.refresh(row)
            return _segment(row)

    def delete_segment(self, name: str) -> None:
        with self._session() as ses:
            if ses.execute(delete(Segment).where(Segment.name == name)).rowcount == 0:  # type: ignore[attr-defined]
                raise JingyunError("unknown_segment", f"no saved segment {name!r}", "name", status=404)

    def department_id(self, name: str) -> int | None:
        with self._session() as ses:
            return ses.scalar(select(Department.id).where(Department.name == name))

    # -- tag versions and approvals --------------------------------------
    def tag_versions(self, tag: str | None = None) -> list[TagVersion]:
        stmt = select(TagVersionRow).order_by(TagVersionRow.id)
        if tag is not None:
            stmt = stmt.where(TagVersionRow.tag == tag)
        with self._session() as ses:
            return [_tag_version(r) for r in ses.scalars(stmt)]

    def add_tag_version(self, tag: str, definition: dict[str, Any], author: str, note: str = "") -> TagVersion:
        def write() -> TagVersion:
            with self._session() as ses:
                n = 1 + max(ses.scalars(select(TagVersionRow.version).where(TagVersionRow.tag == tag)).all(), default=0)
                row = TagVersionRow(tag=tag, version=n, definition=_dumps(definition), status="draft", author=author,
                                    created_at=now_utc(), note=note)
                ses.add(row)
                ses.flush()  # (tag, version) is unique: a concurrent writer that took n is retried with n + 1
                return _tag_version(row)

        return self._retry(write)

    def decide_tag_version(self, tag: str, version: int, approver: str, approve: bool) -> TagVersion:
        with self._session() as ses:
            row = ses.scalar(select(TagVersionRow).where(TagVersionRow.tag == tag, TagVersionRow.version == version))
            if row is None:
                raise JingyunError("unknown_tag_version", f"tag {tag!r} has no version {version}", "version")
            if row.author == approver:
                raise JingyunError("approval_self", "the author of a tag version cannot approve it", "approver")
            row.status, row.approved_by, row.approved_at = ("approved" if approve else "rejected"), approver, now_utc()
            ses.flush()
            return _tag_version(row)

    def approved_version(self, tag: str) -> TagVersion | None:
        ok = [v for v in self.tag_versions(tag) if v.status == "approved"]
        return max(ok, key=lambda v: v.version) if ok else None

    # -- run records (full / incremental recomputes) ---------------------
    def runs(self) -> list[RunRecord]:
        with self._session() as ses:
            rows = ses.scalars(select(SegmentRun).order_by(SegmentRun.started_at, SegmentRun.run_id)).all()
            return [_run(r) for r in rows]

    def put_run(self, run: RunRecord) -> None:
        values = dict(kind=run.kind, target=run.target, status=run.status, started_at=_ts(run.started_at),
                      deadline_at=_ts(run.deadline_at), finished_at=_ts(run.finished_at), seconds=run.seconds,
                      attempts=run.attempts, rows=run.rows, error=run.error, extra=_dumps(run.extra))

        def write() -> None:
            with self._session() as ses:
                if ses.execute(update(SegmentRun).where(SegmentRun.run_id == run.run_id).values(**values)
                               ).rowcount == 0:  # type: ignore[attr-defined]
                    ses.add(SegmentRun(run_id=run.run_id, **values))
                    ses.flush()
                    cutoff = ses.scalars(select(SegmentRun.started_at).order_by(SegmentRun.started_at.desc())
                                         .offset(KEEP_RUNS).limit(1)).first()
                    if cutoff is not None:
                        ses.execute(delete(SegmentRun).where(SegmentRun.started_at <= cutoff))

        self._retry(write)

    # -- small state (incremental watermarks) ------------------------------
    def state(self) -> dict[str, Any]:
        with self._session() as ses:
            return {r.key: json.loads(r.value) for r in ses.scalars(select(SegmentState))}

    def put_state(self, key: str, value: Any) -> None:
        def write() -> None:
            with self._session() as ses:
                text = _dumps(value)
                if ses.execute(update(SegmentState).where(SegmentState.key == key)
                               .values(value=text, updated_at=now_utc())).rowcount == 0:  # type: ignore[attr-defined]
                    ses.add(SegmentState(key=key, value=text, updated_at=now_utc()))

        self._retry(write)

    # -- snapshots -------------------------------------------------------
    def save_snapshot(self, scheme: str, label: str, data: dict[str, Any]) -> None:
        """One row per (scheme, label): the person → group map as zlib-compressed JSON (see
        docs/architecture.md, "Metadata in one store", for the measured sizes behind the choice)."""
        check_name(scheme, "scheme")
        blob = pack_snapshot(data)
        counts = _dumps(data.get("counts", {}))
        taken = _ts(data.get("taken_at")) or now_utc()
        persons = len(data.get("groups", {}))

        def write() -> None:
            with self._session() as ses:
                row = ses.get(SegmentSnapshot, (scheme, label))
                if row is None:
                    ses.add(SegmentSnapshot(scheme=scheme, label=label, taken_at=taken, persons=persons, counts=counts,
                                            data=blob))
                else:
                    row.taken_at, row.persons, row.counts, row.data = taken, persons, counts, blob

        self._retry(write)

    def load_snapshot(self, scheme: str, label: str) -> dict[str, Any]:
        with self._session() as ses:
            blob = ses.scalar(select(SegmentSnapshot.data).where(SegmentSnapshot.scheme == scheme,
                                                                 SegmentSnapshot.label == label))
        if blob is None:
            raise JingyunError("unknown_snapshot", f"no snapshot {label!r} of {scheme!r}", "snapshot")
        return dict(json.loads(zlib.decompress(blob)))

    def snapshot_labels(self, scheme: str) -> list[str]:
        with self._session() as ses:
            return list(ses.scalars(select(SegmentSnapshot.label).where(SegmentSnapshot.scheme == scheme)
                                    .order_by(SegmentSnapshot.label)))


# -- the files of older workspaces, imported once -------------------------------------


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise JingyunError("bad_store", f"{path} is not valid JSON ({exc}); fix or delete it, then run again",
                           str(path)) from None


def imported(path: Path) -> None:
    """Rename an imported file or folder ``<name>.imported`` (never over an earlier one)."""
    if not path.exists():
        return  # another process imported it first
    target = path.with_name(path.name + ".imported")
    if target.exists():
        target = path.with_name(f"{path.name}.imported.{now_utc():%Y%m%d%H%M%S}")
    path.rename(target)


def import_files(store: SegmentStore) -> dict[str, int]:
    """Import ``segments.json``, ``tags.json``, ``runs.json``, ``state.json`` and ``snapshots/`` once.

    Rows that already exist win (an import never overwrites what the store holds); each file is renamed
    ``*.imported`` after its rows are committed. Returns the rows imported per file.
    """
    root, out = store.root, {}
    segs = root / "segments.json"
    if segs.exists():
        n = 0
        for name, raw in dict(_read(segs)).items():
            with store.store.session() as ses:
                if ses.scalar(select(Segment.id).where(Segment.name == name)) is not None:
                    continue
                ses.add(Segment(name=name, rule=_dumps(raw.get("rule") or {}), zh=raw.get("zh") or "",
                                en=raw.get("en") or "", owner=raw.get("owner") or "",
                                automation=bool(raw.get("automation")), playbook=raw.get("playbook"),
                                created_by=raw.get("owner") or "", status="draft",
                                created_at=_ts(raw.get("created_at")) or now_utc(),
                                updated_at=_ts(raw.get("updated_at")) or now_utc(),
                                version=int(raw.get("version") or 1)))
                n += 1
        imported(segs)
        out["segments.json"] = n
    tags = root / "tags.json"
    if tags.exists():
        n = 0
        with store.store.session() as ses:
            have = {(t, v) for t, v in ses.execute(select(TagVersionRow.tag, TagVersionRow.version))}
            for raw in _read(tags):
                if (raw["tag"], int(raw["version"])) in have:
                    continue
                ses.add(TagVersionRow(tag=raw["tag"], version=int(raw["version"]), definition=_dumps(raw["definition"]),
                                      status=raw["status"], author=raw.get("author") or "",
                                      created_at=_ts(raw.get("created_at")) or now_utc(),
                                      approved_by=raw.get("approved_by"), approved_at=_ts(raw.get("approved_at")),
                                      note=raw.get("note") or ""))
                n += 1
        imported(tags)
        out["tags.json"] = n
    runs = root / "runs.json"
    if runs.exists():
        have_runs = {r.run_id for r in store.runs()}
        todo = [RunRecord(**r) for r in _read(runs) if r["run_id"] not in have_runs]
        for r in todo:
            store.put_run(r)
        imported(runs)
        out["runs.json"] = len(todo)
    state = root / "state.json"
    if state.exists():
        have_state = store.state()
        todo_state = {k: v for k, v in dict(_read(state)).items() if k not in have_state}
        for k, v in todo_state.items():
            store.put_state(k, v)
        imported(state)
        out["state.json"] = len(todo_state)
    snaps = root / "snapshots"
    if snaps.is_dir():
        n = 0
        for path in sorted(snaps.glob("*/*.json")):
            scheme, label = path.parent.name, path.stem
            if label not in store.snapshot_labels(scheme):
                store.save_snapshot(scheme, label, dict(_read(path)))
                n += 1
        imported(snaps)
        out["snapshots"] = n
    return out
