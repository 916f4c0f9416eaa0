"""web.datacache: a result is kept per key and data version (the ingest log's last finish), recomputed after
an ingest, computed once when asked concurrently, and a failure is not kept. On a real DuckDB warehouse."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jingyun.config import load_settings
from jingyun.warehouse import Warehouse
from jingyun.web import datacache


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    datacache.clear()
    w = Warehouse.open(load_settings(tmp_path))
    yield w
    w.close()


def _log_ingest(wh: Warehouse, table: str = "events") -> None:
    """The row the ingest pipeline writes when a load commits (ingest/pipeline.py)."""
    wh.con.execute("INSERT INTO _ingest_log VALUES (?, ?, ?, ?, ?, ?, now() AT TIME ZONE 'UTC', "
                   "now() AT TIME ZONE 'UTC' + to_seconds((SELECT count(*) FROM _ingest_log)))",
                   [table, "test", 1, 1, 0, 0])


def test_kept_per_key_and_recomputed_after_an_ingest(wh: Warehouse) -> None:
    calls: list[str] = []

    def compute(tag: str) -> str:
        calls.append(tag)
        return f"{tag}#{len(calls)}"

    assert datacache.memo(wh, ("k", 1), lambda: compute("a")) == "a#1"
    assert datacache.memo(wh, ("k", 1), lambda: compute("a")) == "a#1"  # kept
    assert datacache.memo(wh, ("k", 2), lambda: compute("b")) == "b#2"  # another key
    _log_ingest(wh)
    assert datacache.memo(wh, ("k", 1), lambda: compute("a")) == "a#3"  # new data: computed again
    assert datacache.memo(wh, ("k", 1), lambda: compute("a")) == "a#3"
    assert calls == ["a", "b", "a"]


def test_concurrent_askers_share_one_computation(tmp_path: Path) -> None:
    datacache.clear()
    settings = load_settings(tmp_path)
    Warehouse.open(settings).close()
    calls: list[int] = []
    started = threading.Event()

    def slow() -> int:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return 42

    results: list[int] = []

    def ask() -> None:
        w = Warehouse.open(settings, read_only=True)
        try:
            results.append(datacache.memo(w, "slow", slow))
        finally:
            w.close()

    first = threading.Thread(target=ask)
    first.start()
    started.wait(5)
    others = [threading.Thread(target=ask) for _ in range(3)]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(10)
    assert results == [42, 42, 42, 42] and len(calls) == 1


def test_a_failure_is_not_kept(wh: Warehouse) -> None:
    def boom() -> int:
        raise RuntimeError("warehouse busy")

    with pytest.raises(RuntimeError):
        datacache.memo(wh, "f", boom)
    assert datacache.memo(wh, "f", lambda: 7) == 7


def test_the_oldest_results_go_past_the_limit(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datacache, "LIMIT", 3)
    for i in range(5):
        datacache.memo(wh, i, functools.partial(int, i))
    assert datacache.memo(wh, 0, lambda: -1) == -1  # evicted: computed again
    assert datacache.memo(wh, 4, lambda: -1) == 4  # recent: kept
