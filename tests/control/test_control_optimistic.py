"""A file's chunks commit optimistically inside the service (warehouse.claims): the transaction runs without the
writer's lock and commits under it only if nothing committed meanwhile could clash — the same key stored twice,
or a person resolved without a link made meanwhile. Otherwise the chunk runs again under the lock, and the
answer is exactly what the locked path would give."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from jingyun.api.routers.ingest import _job
from jingyun.api.writer import IngestWriter
from jingyun.config import Settings
from jingyun.control.ambient import Session
from jingyun.ingest import ingest_file
from jingyun.ingest.pipeline import ChunkLoader
from jingyun.warehouse import Warehouse
from jingyun.warehouse.claims import NOTHING, Claim, Journal

TS = "2024-05-01T08:00:00Z"


def _s(*values: str) -> pa.Array:
    return pa.array(list(values), pa.string())


def test_claims_clash_on_a_shared_key_or_a_link_and_on_anything_unsaid() -> None:
    mine = Claim("events", keys=_s("e1", "e2"), anon=_s("a1"), linked=_s("a2"))
    assert mine.clashes(Claim("events", keys=_s("e2")))
    assert not mine.clashes(Claim("orders", keys=_s("e2")))  # another table's keys never meet ours
    assert not mine.clashes(Claim("events", keys=_s("e3"), anon=_s("a9")))
    assert mine.clashes(Claim("events", keys=_s("e3"), linked=_s("a1")))  # they linked an id our rows carry
    assert mine.clashes(Claim("events", keys=_s("e3"), anon=_s("a2")))  # we link an id their rows carry
    assert mine.clashes(None)  # a write that did not say what it touched
    assert not mine.clashes(NOTHING)


def test_the_journal_checks_every_holding_since_and_assumes_the_worst_when_it_forgot() -> None:
    journal = Journal(keep=3)
    journal.opened()
    journal.note(Claim("events", keys=_s("x")))
    journal.opened()  # no note: unknown
    journal.opened()  # the caller's own holding
    assert [c is None for c in journal.since(0)] == [False, True]
    for _ in range(5):
        journal.opened()
    assert journal.since(0) == [None]  # older holdings were forgotten


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[IngestWriter, Warehouse]]:
    writer = IngestWriter(Warehouse.open(settings), linger_s=0.0, max_linger_s=0.0, idle_s=3600.0)
    session = Session(writer)
    wh = session.open(settings, read_only=False)
    yield writer, wh
    wh.close()
    session.close()
    writer.close()
    writer.wh.close()


def _file(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "events.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _during_the_chunk(monkeypatch: pytest.MonkeyPatch, wh: Warehouse, action: Any) -> list[bool]:
    """Run ``action`` once, inside the first transaction of the command's chunk (on ``wh``), before it stores;
    record each try's mode (the writer's own commits also load chunks: they are not counted)."""
    tries: list[bool] = []
    real_tx, real_rows = ChunkLoader._transaction, ChunkLoader._load_rows

    def transaction(self: ChunkLoader, chunk: Any, report: Any, *, optimistic: bool) -> None:
        if self.wh is wh:
            tries.append(optimistic)
        real_tx(self, chunk, report, optimistic=optimistic)

    def load_rows(self: ChunkLoader, report: Any) -> None:
        if self.wh is wh and len(tries) == 1:
            self.wh.rows("SELECT count(*) FROM events")  # the transaction's snapshot is taken now, before the action
            action()
        real_rows(self, report)

    monkeypatch.setattr(ChunkLoader, "_transaction", transaction)
    monkeypatch.setattr(ChunkLoader, "_load_rows", load_rows)
    return tries


def _rows(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"event_id": f"f{i}", "user_id": f"u{i}", "event": "view_home", "ts": TS, **extra} for i in range(n)]


def test_a_key_committed_meanwhile_sends_the_chunk_back_under_the_lock(
        served: tuple[IngestWriter, Warehouse], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer, wh = served
    path = _file(tmp_path, _rows(50))
    http: list[Any] = []
    tries = _during_the_chunk(monkeypatch, wh, lambda: http.extend(writer.submit(_job("events", [_rows(50)[7]])).result(60)))
    report = ingest_file(wh, "events", path)
    assert [o.status for o in http] == ["accepted"]
    assert wh.scalar("SELECT count(*) FROM events") == 50  # f7 once
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (50, 49, 1, 0)
    assert tries == [True, False]  # the clash was seen; the chunk ran again under the lock


def test_a_disjoint_commit_meanwhile_lets_the_chunk_commit_as_it_ran(
        served: tuple[IngestWriter, Warehouse], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer, wh = served
    path = _file(tmp_path, _rows(50))
    other = [{"event_id": "h1", "user_id": "u900", "event": "view_home", "ts": TS}]
    tries = _during_the_chunk(monkeypatch, wh, lambda: writer.submit(_job("events", other)).result(60))
    report = ingest_file(wh, "events", path)
    assert tries == [True]
    assert report.stored == 50
    assert wh.scalar("SELECT count(*) FROM events") == 51


def test_a_write_that_says_nothing_sends_the_chunk_back(
        served: tuple[IngestWriter, Warehouse], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer, wh = served

    def unknown_write() -> None:
        with writer.lock:  # e.g. a segment refresh: it did not say what it wrote
            pass

    tries = _during_the_chunk(monkeypatch, wh, unknown_write)
    assert ingest_file(wh, "events", _file(tmp_path, _rows(10))).stored == 10
    assert tries == [True, False]


def test_a_link_made_meanwhile_resolves_the_chunks_anonymous_rows(
        served: tuple[IngestWriter, Warehouse], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP links device a1 to u9 while the file's chunk (rows of a1 alone) is in flight: the chunk must not
    commit rows of a1 under an anonymous person."""
    writer, wh = served
    anonymous = [{"event_id": f"a{i}", "anonymous_id": "a1", "event": "view_home", "ts": TS} for i in range(5)]
    link = [{"event_id": "login", "user_id": "u9", "anonymous_id": "a1", "event": "view_home", "ts": TS}]
    tries = _during_the_chunk(monkeypatch, wh, lambda: writer.submit(_job("events", link)).result(60))
    assert ingest_file(wh, "events", _file(tmp_path, anonymous)).stored == 5
    people = wh.rows("SELECT DISTINCT person_id FROM events WHERE anonymous_id = 'a1'")
    direct = Warehouse.open(Settings(home=tmp_path / "direct"))  # the same two loads, one after the other
    try:
        ingest_file(direct, "events", _file(tmp_path / "direct", link))
        ingest_file(direct, "events", _file(tmp_path, anonymous))
        assert people == direct.rows("SELECT DISTINCT person_id FROM events WHERE anonymous_id = 'a1'")
    finally:
        direct.close()
    assert tries == [True, False]
