"""Deliberate bad records that ingestion must catch, counted exactly.

Every fault is planted on a copy of a valid row, so the valid data is never
damaged and the expected ingestion outcome of each file is known:
``duplicates`` = exact copies (same id, same payload); ``quarantined`` =
conflicting copies + unreadable lines + invalid rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Event files, by index: app logs (ISO 8601 +08:00, two parts), web and
# mini-program logs (epoch milliseconds), store POS events (CSV).
EVENT_FILES = ("app_events_1.ndjson", "app_events_2.ndjson", "web_events.ndjson", "miniprogram_events.ndjson", "pos_events.csv")
APP1, APP2, WEB, MINI, POS_FILE = range(5)

PLACEHOLDER_IDS = ("null", "undefined", "guest")
MALFORMED_LINES = (
    '{"event_id": "broken-1", "event": "view_home", "ts": ',
    "this is not json",
    '{"event_id": "broken-2" "event": "search"}',
    "{'event_id': 'broken-3', 'event': 'share'}",
    '["view_home", "2026-01-01"]',
    '{"event_id": "broken-4", "properties": {"a": }',
    "<html>502 Bad Gateway</html>",
)


@dataclass
class FileFaults:
    exact_duplicates: int = 0
    conflicting_duplicates: int = 0
    malformed_lines: int = 0
    missing_event_id: int = 0
    placeholder_user: int = 0
    unparseable_ts: int = 0
    absurd_ts: int = 0
    unknown_platform: int = 0

    @property
    def duplicates(self) -> int:
        return self.exact_duplicates

    @property
    def quarantined(self) -> int:
        return (
            self.conflicting_duplicates + self.malformed_lines + self.missing_event_id
            + self.placeholder_user + self.unparseable_ts + self.absurd_ts + self.unknown_platform
        )


@dataclass
class EventFaults:
    files: dict[str, FileFaults] = field(default_factory=dict)
    malformed: dict[int, list[str]] = field(default_factory=dict)  # file → raw lines to insert

    def for_file(self, i: int) -> FileFaults:
        return self.files.setdefault(EVENT_FILES[i], FileFaults())


def plant_event_faults(cols: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], EventFaults]:
    """Add fault rows to the event columns (``file``, ``rn`` order, ``eid`` …)."""
    n = len(cols["eid"])
    faults = EventFaults()
    extra: list[dict[str, np.ndarray]] = []
    next_eid = int(cols["eid"].max(initial=-1)) + 1

    def pick(file: int, k: int) -> np.ndarray:
        # Only plain rows (identified user, no fault) are copied.
        cand = np.flatnonzero((cols["file"] == file) & (cols["fault"] == 0))
        return np.sort(rng.choice(cand, size=min(k, len(cand)), replace=False))

    def copy(idx: np.ndarray, after: bool = False, **changes: np.ndarray | int) -> dict[str, np.ndarray]:
        rows = {k: v[idx].copy() for k, v in cols.items()}
        # Somewhere in the file; a conflicting copy comes after its original so the
        # original is the one stored (first occurrence wins).
        rows["rn"] = cols["rn"][idx] + 0.5 if after else rng.random(len(idx)) * n
        for key, value in changes.items():
            rows[key] = np.broadcast_to(value, len(idx)).copy() if np.ndim(value) == 0 else value
        extra.append(rows)
        return rows

    def fresh(k: int) -> np.ndarray:
        nonlocal next_eid
        ids = np.arange(next_eid, next_eid + k)
        next_eid += k
        return ids

    k_dup = max(4, n // 50_000)
    k_cross = max(3, n // 100_000)
    for f in (APP1, WEB):
        idx = pick(f, k_dup)
        copy(idx)
        faults.for_file(f).exact_duplicates += len(idx)
    idx = pick(APP1, k_cross)
    copy(idx, file=APP2)
    faults.for_file(APP2).exact_duplicates += len(idx)
    # Same id, different payload: the time drifted by 37 s.
    idx = pick(APP2, 4)
    copy(idx, after=True, ts=cols["ts"][idx] + 37_000, fault=np.full(len(idx), 1, np.int8))
    faults.for_file(APP2).conflicting_duplicates += len(idx)
    idx = pick(WEB, 4)
    copy(idx, eid=np.full(len(idx), -1), fault=np.full(len(idx), 2, np.int8))
    faults.for_file(WEB).missing_event_id += len(idx)
    idx = pick(APP2, 6)
    copy(idx, eid=fresh(len(idx)), placeholder=np.arange(len(idx)) % 3 + 1, fault=np.full(len(idx), 3, np.int8))
    faults.for_file(APP2).placeholder_user += len(idx)
    idx = pick(APP1, 3)
    copy(idx, eid=fresh(len(idx)), tsbad=np.full(len(idx), 1, np.int8), fault=np.full(len(idx), 4, np.int8))
    faults.for_file(APP1).unparseable_ts += len(idx)
    idx = pick(APP1, 4)
    copy(idx, eid=fresh(len(idx)), tsbad=np.array([2, 2, 3, 3], np.int8)[: len(idx)], fault=np.full(len(idx), 5, np.int8))
    faults.for_file(APP1).absurd_ts += len(idx)
    idx = pick(WEB, 3)
    copy(idx, eid=fresh(len(idx)), platform=np.full(len(idx), 4, np.int8), fault=np.full(len(idx), 6, np.int8))
    faults.for_file(WEB).unknown_platform += len(idx)
    faults.malformed = {MINI: list(MALFORMED_LINES[:5]), APP1: list(MALFORMED_LINES[5:])}
    for f, lines in faults.malformed.items():
        faults.for_file(f).malformed_lines += len(lines)
    out = {k: np.concatenate([v] + [e[k] for e in extra]) for k, v in cols.items()}
    return out, faults


@dataclass
class TableFaults:
    """Faults outside the event logs."""

    negative_amount_orders: list[str] = field(default_factory=list)
    mismatched_payments: list[str] = field(default_factory=list)
    orphan_payments: list[str] = field(default_factory=list)
    duplicate_phone_users: list[tuple[str, str]] = field(default_factory=list)  # (new id, original id)
