"""A file ingest through the service stalls HTTP ingestion by at most one chunk's commit
(bench/results/always_on.md): the writer's lock is granted in turn order, so a command committing chunk
after chunk cannot keep it from the writer; chunks are staged before the transaction that takes the lock;
and a command's chunks are capped inside the service."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from control_support import Service, free_port, jingyun

from jingyun.api.routers.ingest import _job
from jingyun.api.writer import FairLock, IngestWriter
from jingyun.config import Settings, load_settings
from jingyun.control.server import SERVICE_CHUNK_ROWS, service_chunks
from jingyun.ingest import ingest_file
from jingyun.warehouse import Warehouse


def _chunks(lock: FairLock | threading.Lock, rounds: int, hold_s: float, counter: list[int], started: threading.Event
            ) -> threading.Thread:
    """A command committing chunk after chunk: it takes the lock again right after releasing it."""
    def run() -> None:
        for _ in range(rounds):
            with lock:
                counter[0] += 1
                started.set()
                time.sleep(hold_s)
    return threading.Thread(target=run, daemon=True)


def test_a_waiter_gets_the_lock_after_the_current_hold() -> None:
    lock = FairLock()
    counter, started = [0], threading.Event()
    holder = _chunks(lock, 60, 0.02, counter, started)
    holder.start()
    started.wait(10)
    waited = []
    for _ in range(5):
        asked = counter[0]
        with lock:
            waited.append(counter[0] - asked)
    holder.join(30)
    # in turn order the waiter goes before the holder's next round (a plain Lock lets it re-take at once)
    assert max(waited) <= 1, waited


def test_an_interrupted_waiter_does_not_lose_the_turn() -> None:
    lock = FairLock()
    lock.acquire()
    broken = threading.Thread(target=lambda: _interrupted_acquire(lock), daemon=True)
    broken.start()
    broken.join(10)
    lock.release()
    done = threading.Event()

    def later() -> None:
        with lock:
            done.set()
    threading.Thread(target=later, daemon=True).start()
    assert done.wait(10), "the lock stayed with an abandoned ticket"


def _interrupted_acquire(lock: FairLock) -> None:
    real = lock._cv.wait_for

    def fail(*a: object, **k: object) -> bool:
        raise KeyboardInterrupt
    lock._cv.wait_for = fail  # type: ignore[method-assign, assignment]
    with contextlib.suppress(KeyboardInterrupt):
        lock.acquire()
    lock._cv.wait_for = real  # type: ignore[method-assign]


@pytest.fixture
def writer(settings: Settings) -> Iterator[IngestWriter]:
    w = IngestWriter(Warehouse.open(settings), linger_s=0.0, max_linger_s=0.0, idle_s=3600.0)
    yield w
    w.close()
    w.wh.close()


def test_http_commits_between_a_commands_chunks(writer: IngestWriter) -> None:
    counter, started = [0], threading.Event()
    command = _chunks(writer.lock, 40, 0.05, counter, started)
    command.start()
    started.wait(10)
    asked = counter[0]
    events = [{"event_id": f"fair-{i}", "user_id": "u1", "event": "view_home", "ts": "2024-05-01T08:00:00Z"}
              for i in range(3)]
    outcomes = writer.submit(_job("events", events)).result(timeout=60)
    answered = counter[0]
    command.join(60)
    assert [o.status for o in outcomes] == ["accepted"] * 3
    assert answered - asked <= 2, (asked, answered)  # the chunk running when it came, and at most the next


def test_a_backlog_commits_before_the_next_chunk(settings: Settings) -> None:
    """Five groups' worth of requests queued behind one chunk all commit before the command's next one."""
    writer = IngestWriter(Warehouse.open(settings), max_rows=100, linger_s=0.0, max_linger_s=0.0, idle_s=3600.0)
    try:
        with writer.lock:  # the chunk running while the requests arrive
            futures = [writer.submit(_job("events", [
                {"event_id": f"b{n}-{i}", "user_id": "u1", "event": "view_home", "ts": "2024-05-01T08:00:00Z"}
                for i in range(100)])) for n in range(5)]
        assert writer.drained(60)
        with writer.lock:  # the command's next chunk
            done = [f.done() for f in futures]
        assert done == [True] * 5
        assert [(s.jobs, s.rows) for s in writer.stats if s.jobs] == [(1, 100)] * 5
    finally:
        writer.close()
        writer.wh.close()


class _Watched(Warehouse):
    """Records, at each transaction's start, whether the chunk was already staged."""

    staged_at_begin: list[bool]

    @contextlib.contextmanager
    def transaction(self, *, optimistic: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        found = self.con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = '_staged'")
        self.staged_at_begin.append(bool(found.fetchall()[0][0]))
        with super().transaction(optimistic=optimistic) as con:
            yield con


def test_chunks_are_staged_before_the_transaction(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    path.write_text("".join(json.dumps({"event_id": f"s{i}", "user_id": f"u{i}", "event": "view_home",
                                        "ts": "2024-05-01T08:00:00Z"}) + "\n" for i in range(30)), encoding="utf-8")
    base = Warehouse.open(settings)
    wh = _Watched(base.con.cursor(), settings, read_only=True)  # a cursor, as a command's in the service
    wh.read_only, wh.staged_at_begin = False, []
    try:
        report = ingest_file(wh, "events", path)
    finally:
        base.close()
    assert report.stored == 30
    # inside the service the transaction holds the writer's lock: typing and checking the rows stays outside it
    assert wh.staged_at_begin == [True]


def test_service_chunks_cap_unless_the_client_chose() -> None:
    overlay: dict[str, str | None] = {}
    service_chunks(overlay, {}, 1_000_000)
    assert overlay == {"JINGYUN_CHUNK_ROWS": str(SERVICE_CHUNK_ROWS)}
    service_chunks(overlay, {}, 5_000)
    assert overlay["JINGYUN_CHUNK_ROWS"] == "5000"  # the home's smaller chunk stays
    overlay = {"JINGYUN_CHUNK_ROWS": "400"}
    service_chunks(overlay, {"JINGYUN_CHUNK_ROWS": "400"}, 1_000_000)
    assert overlay == {"JINGYUN_CHUNK_ROWS": "400"}


@pytest.mark.slow  # a real serve and a file of 2.5 service chunks
def test_an_ingest_through_the_service_commits_capped_chunks(tmp_path: Path) -> None:
    home, n = tmp_path / "home", SERVICE_CHUNK_ROWS * 5 // 2
    home.mkdir()
    path = tmp_path / "big.parquet"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'b' || i AS event_id, 'u' || (i % 1000) AS user_id, 'view_home' AS event,
                         TIMESTAMPTZ '2024-05-01 08:00:00+00' + to_seconds(i % 86400) AS ts FROM range({n}) t(i))
                    TO '{path}' (FORMAT parquet)""")
    con.close()
    service = Service(home, free_port(), tmp_path / "svc")
    try:
        done = jingyun(home, "ingest", "events", str(path), "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["stored"] == n
    finally:
        service.stop()
    with Warehouse.open(load_settings(home)) as wh:
        chunks = wh.scalar("SELECT count(*) FROM _ingest_log WHERE tbl = 'events'")
    assert chunks == 3  # a direct run would commit the file in one chunk (chunk_rows 1,000,000)
