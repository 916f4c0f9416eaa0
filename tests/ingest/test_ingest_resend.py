"""A resend of the same records is counted as duplicates, for every table and with personal-data encryption on:
the hash of the record as received is stored with it (``_row_hash``), because what is stored differs from what
came in (users' test flag from the rules, sealed personal columns, normalised places). Different content under
a stored key is still a conflict, quarantined; a warehouse from before the column keeps working."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from jingyun.config import Settings
from jingyun.ingest import ingest_file
from jingyun.warehouse import Warehouse

USERS = [
    {"user_id": "u1", "phone": "13800138000", "name": "张三", "gender": "female", "province": "广东",
     "city": "深圳", "registered_at": "2026-01-01T08:00:00+08:00"},
    {"user_id": "u2", "phone": "13800138001", "name": "李四", "gender": "male", "province": "上海",
     "city": "上海", "registered_at": "2026-01-02T08:00:00+08:00"},
]
EVENTS = [{"event_id": "e1", "user_id": "u1", "event": "view_home", "ts": "2026-01-03T08:00:00+08:00"}]


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _counts(wh: Warehouse, table: str, path: Path) -> tuple[int, int, int]:
    r = ingest_file(wh, table, path)
    return r.stored, r.duplicates, r.quarantined


@pytest.mark.parametrize("encrypted", [False, True])
def test_a_resent_users_file_is_all_duplicates_and_a_changed_row_a_conflict(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encrypted: bool) -> None:
    if encrypted:
        monkeypatch.setenv("JINGYUN_ENCRYPT_PERSONAL", "true")
    users = _csv(tmp_path / "users.csv", USERS)
    changed = _csv(tmp_path / "changed.csv", [USERS[0], {**USERS[1], "phone": "13900000000"}])
    with Warehouse.open(Settings(home=tmp_path / "home")) as wh:
        assert _counts(wh, "users", users) == (2, 0, 0)
        assert _counts(wh, "users", users) == (0, 2, 0)
        assert _counts(wh, "users", changed) == (0, 1, 1)
        assert wh.scalar("SELECT count(*) FROM users") == 2
        assert wh.scalar("SELECT count(*) FROM _quarantine WHERE reason = 'conflicting_duplicate'") == 1


def test_rows_stored_before_the_hash_column_compare_by_their_columns(tmp_path: Path) -> None:
    events = _csv(tmp_path / "events.csv", EVENTS)
    with Warehouse.open(Settings(home=tmp_path / "home")) as wh:
        assert _counts(wh, "events", events) == (1, 0, 0)
        wh.con.execute("ALTER TABLE events DROP COLUMN _row_hash")  # as an older version left it
    with Warehouse.open(Settings(home=tmp_path / "home")) as wh:  # opening adds the column back, NULL
        assert wh.scalar("SELECT count(*) FROM events WHERE _row_hash IS NULL") == 1
        assert _counts(wh, "events", events) == (0, 1, 0)
        assert _counts(wh, "events", events) == (0, 1, 0)
