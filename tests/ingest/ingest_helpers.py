"""Helpers to build source files with known answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_ndjson(path: Path, records: list[Any]) -> Path:
    """Records are dicts (dumped as JSON) or raw str/bytes lines (written as they are)."""
    with path.open("wb") as fh:
        for rec in records:
            if isinstance(rec, bytes):
                fh.write(rec + b"\n")
            elif isinstance(rec, str):
                fh.write(rec.encode("utf-8") + b"\n")
            else:
                fh.write(json.dumps(rec, ensure_ascii=False).encode("utf-8") + b"\n")
    return path


def event(i: int | str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"e{i}", "user_id": "u1", "event": "view_product", "ts": "2026-10-01T10:00:00+08:00",
        "platform": "app", "properties": {"product_id": "p1"},
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not ...}


