"""The writer's group commit: announced requests coalesce into one commit, groups respect the cap,
checkpoints run off the request path, and no request leaves the writer waiting for a job that
never comes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from service_support import Service

from jingyun.api.routers.ingest import _job
from jingyun.api.writer import IngestWriter
from jingyun.config import Settings
from jingyun.warehouse import Warehouse


def _events(prefix: str, n: int) -> list[dict[str, object]]:
    return [{"event_id": f"{prefix}-{i}", "user_id": f"u{i % 5}", "event": "view_home", "ts": "2024-05-01T08:00:00Z"}
            for i in range(n)]


def _until(condition: Callable[[], bool], what: str) -> None:
    """Poll a background outcome (the writer is a thread); generous, and never a timing assertion."""
    for _ in range(600):
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def writer(settings: Settings) -> Iterator[IngestWriter]:
    w = IngestWriter(Warehouse.open(settings), linger_s=30.0, max_linger_s=30.0, idle_s=3600.0)
    yield w
    w.close()
    w.wh.close()


def test_announced_requests_are_committed_together(writer: IngestWriter) -> None:
    arrivals = [writer.expect() for _ in range(3)]
    futures = [writer.submit(_job("events", _events(f"wave{n}", 4)), expected=a.take())
               for n, a in enumerate(arrivals)]
    outcomes = [f.result(timeout=60) for f in futures]
    assert [[o.status for o in out] for out in outcomes] == [["accepted"] * 4] * 3
    commits = [s for s in writer.stats if s.jobs]
    assert [(s.jobs, s.rows) for s in commits] == [(3, 12)]
    sources = writer.wh.rows("SELECT DISTINCT _source FROM events")
    assert len(sources) == 1  # one transaction stored all three requests


def test_an_announced_request_that_sends_no_job_does_not_hold_the_group(writer: IngestWriter) -> None:
    first, dropped = writer.expect(), writer.expect()
    future = writer.submit(_job("events", _events("alone", 2)), expected=first.take())
    dropped.settle()  # e.g. answered 422: with linger_s=30 the test would hang if the writer kept waiting
    assert [o.status for o in future.result(timeout=20)] == ["accepted", "accepted"]
    dropped.settle()  # settling twice changes nothing
    assert writer._preparing == 0


def test_groups_are_capped_by_events(settings: Settings) -> None:
    writer = IngestWriter(Warehouse.open(settings), max_rows=1000, linger_s=0.0, idle_s=3600.0)
    try:
        with writer.lock:  # the writer takes the first job and waits for the lock inside its commit
            first = writer.submit(_job("events", _events("cap-a", 500)))
            _until(lambda: not writer._jobs, "the writer to take the first job")
            rest = [writer.submit(_job("events", _events(f"cap-{n}", 500))) for n in "bcde"]
        for f in [first, *rest]:
            assert [o.status for o in f.result(timeout=60)].count("accepted") == 500
        assert [(s.jobs, s.rows) for s in writer.stats if s.jobs] == [(1, 500), (2, 1000), (2, 1000)]
        assert writer.wh.scalar("SELECT count(*) FROM events") == 2500
    finally:
        writer.close()
        writer.wh.close()


def test_idle_writer_checkpoints_and_the_data_stays(settings: Settings) -> None:
    writer = IngestWriter(Warehouse.open(settings), idle_s=0.05)
    wal = Path(f"{settings.warehouse_path}.wal")
    try:
        # DuckDB's own checkpoint (inside a commit) is only a backstop now: 64 MB (61 MiB), not 16 MB
        assert writer.wh.scalar("SELECT current_setting('checkpoint_threshold')").startswith("61")
        writer.submit(_job("events", _events("idle", 50))).result(timeout=60)
        _until(lambda: any(s.checkpoint_ms > 0 for s in writer.stats), "the idle checkpoint")
        assert not wal.exists() or wal.stat().st_size == 0  # folded into the database file
    finally:
        writer.close()
        writer.wh.close()
    reopened = Warehouse.open(settings, read_only=True)
    try:
        assert reopened.scalar("SELECT count(*) FROM events WHERE event_id LIKE 'idle-%'") == 50
    finally:
        reopened.close()


def test_busy_writer_checkpoints_past_the_threshold_between_commits(settings: Settings) -> None:
    writer = IngestWriter(Warehouse.open(settings), idle_s=3600.0, busy_checkpoint_bytes=1)
    try:
        writer.submit(_job("events", _events("busy", 20))).result(timeout=60)
        _until(lambda: len(writer.stats) >= 2, "the checkpoint after the commit")
        commit, checkpoint = list(writer.stats)[:2]
        assert (commit.jobs, checkpoint.jobs) == (1, 0) and checkpoint.checkpoint_ms > 0 and checkpoint.wal_bytes > 0
    finally:
        writer.close()
        writer.wh.close()


def test_every_kind_of_ingestion_request_settles_its_arrival(svc: Service) -> None:
    headers = {"Content-Type": "application/json", **svc.headers("ingest_key")}
    good = json.dumps({"events": _events("settle", 3)})
    answers = [
        svc.client.post("/api/v1/events/batch", content=good, headers=headers).status_code,
        svc.client.post("/api/v1/events/batch", content=good, headers={**headers, "Idempotency-Key": "s-1"}).status_code,
        svc.client.post("/api/v1/events/batch", content=good, headers={**headers, "Idempotency-Key": "s-1"}).status_code,
        svc.client.post("/api/v1/events/batch", content=b"{not json", headers=headers).status_code,
        svc.client.post("/api/v1/events/batch", content=good, headers={**headers, "Content-Type": "text/plain"}).status_code,
        svc.client.post("/api/v1/events/batch", content=good, headers={"Content-Type": "application/json"}).status_code,
        svc.client.post("/api/v1/orders/batch", content=json.dumps({"orders": []}), headers=headers).status_code,
        svc.client.post("/api/v1/user/sync", content=json.dumps({"user_ids": []}), headers=headers).status_code,
    ]
    assert answers == [200, 200, 200, 422, 415, 401, 200, 422]
    assert svc.state.writer._preparing == 0
