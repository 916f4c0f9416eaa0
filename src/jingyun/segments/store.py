"""Segment metadata: saved segments, tag versions and approvals, snapshots, run status.

Kept as JSON files under ``$JINGYUN_HOME/segments/`` behind :class:`SegmentStore`
until the SQL metadata store lands; only this module knows the files. Every write
goes to a temporary file that is renamed over the old one, so a crash or a
rejected rule never leaves a half-written definition behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.segments.common import check_name, now_utc


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


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise JingyunError("bad_store", f"{path} is not valid JSON ({exc}); restore it or delete it", str(path)) from None


class SegmentStore:
    """Files under ``<home>/segments``: segments.json, tags.json, runs.json, state.json, snapshots/."""

    def __init__(self, settings: Settings):
        self.root = settings.home / "segments"

    # -- saved segments --------------------------------------------------
    def segments(self) -> dict[str, SavedSegment]:
        raw = _read_json(self.root / "segments.json", {})
        return {k: SavedSegment(**v) for k, v in raw.items()}

    def get_segment(self, name: str) -> SavedSegment:
        seg = self.segments().get(name)
        if seg is None:
            raise JingyunError("unknown_segment", f"no saved segment {name!r}; see `jingyun segment list`", "name")
        return seg

    def save_segment(self, seg: SavedSegment, *, replace: bool = False) -> SavedSegment:
        check_name(seg.name, "name")
        all_ = self.segments()
        old = all_.get(seg.name)
        if old is not None and not replace:
            raise JingyunError("segment_exists", f"segment {seg.name!r} exists; pass --replace to update it", "name")
        stamp = now_utc().isoformat()
        new = SavedSegment(**{**asdict(seg), "created_at": old.created_at if old else stamp, "updated_at": stamp,
                              "version": (old.version + 1) if old else 1})
        all_[seg.name] = new
        _write_json(self.root / "segments.json", {k: asdict(v) for k, v in sorted(all_.items())})
        return new

    def delete_segment(self, name: str) -> None:
        all_ = self.segments()
        if all_.pop(name, None) is None:
            raise JingyunError("unknown_segment", f"no saved segment {name!r}", "name")
        _write_json(self.root / "segments.json", {k: asdict(v) for k, v in all_.items()})

    # -- tag versions and approvals --------------------------------------
    def tag_versions(self, tag: str | None = None) -> list[TagVersion]:
        raw = _read_json(self.root / "tags.json", [])
        out = [TagVersion(**r) for r in raw]
        return [v for v in out if tag is None or v.tag == tag]

    def add_tag_version(self, tag: str, definition: dict[str, Any], author: str, note: str = "") -> TagVersion:
        versions = self.tag_versions()
        n = 1 + max((v.version for v in versions if v.tag == tag), default=0)
        new = TagVersion(tag, n, definition, "draft", author, now_utc().isoformat(), note=note)
        _write_json(self.root / "tags.json", [asdict(v) for v in [*versions, new]])
        return new

    def decide_tag_version(self, tag: str, version: int, approver: str, approve: bool) -> TagVersion:
        versions = self.tag_versions()
        for i, v in enumerate(versions):
            if v.tag == tag and v.version == version:
                if v.author == approver:
                    raise JingyunError("approval_self", "the author of a tag version cannot approve it", "approver")
                versions[i] = TagVersion(**{**asdict(v), "status": "approved" if approve else "rejected",
                                            "approved_by": approver, "approved_at": now_utc().isoformat()})
                _write_json(self.root / "tags.json", [asdict(x) for x in versions])
                return versions[i]
        raise JingyunError("unknown_tag_version", f"tag {tag!r} has no version {version}", "version")

    def approved_version(self, tag: str) -> TagVersion | None:
        ok = [v for v in self.tag_versions(tag) if v.status == "approved"]
        return max(ok, key=lambda v: v.version) if ok else None

    # -- run records (full / incremental recomputes) ---------------------
    def runs(self) -> list[RunRecord]:
        return [RunRecord(**r) for r in _read_json(self.root / "runs.json", [])]

    def put_run(self, run: RunRecord) -> None:
        runs = [r for r in self.runs() if r.run_id != run.run_id]
        runs.append(run)
        _write_json(self.root / "runs.json", [asdict(r) for r in runs[-500:]])

    # -- small state (incremental watermarks) ------------------------------
    def state(self) -> dict[str, Any]:
        return dict(_read_json(self.root / "state.json", {}))

    def put_state(self, key: str, value: Any) -> None:
        st = self.state()
        st[key] = value
        _write_json(self.root / "state.json", st)

    # -- snapshots -------------------------------------------------------
    def snapshot_path(self, scheme: str, label: str) -> Path:
        check_name(scheme, "scheme")
        return self.root / "snapshots" / scheme / f"{label}.json"

    def save_snapshot(self, scheme: str, label: str, data: dict[str, Any]) -> Path:
        path = self.snapshot_path(scheme, label)
        _write_json(path, data)
        return path

    def load_snapshot(self, scheme: str, label: str) -> dict[str, Any]:
        path = self.snapshot_path(scheme, label)
        if not path.exists():
            raise JingyunError("unknown_snapshot", f"no snapshot {label!r} of {scheme!r}", "snapshot")
        return dict(_read_json(path, {}))

    def snapshot_labels(self, scheme: str) -> list[str]:
        folder = self.root / "snapshots" / scheme
        return sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
