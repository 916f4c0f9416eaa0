"""The always-on benchmark runs at a toy size (a real serve, its console and HTTP clients, an ingest
through the control channel), so it cannot rot; its numbers mean nothing at this size."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_always_on_bench_toy(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.bench_always_on as bench

    for name, value in {"BENCH_AO_EVENTS": "20000", "BENCH_AO_USERS": "300", "BENCH_AO_DAYS": "30",
                        "BENCH_AO_IDLE_S": "3", "BENCH_AO_RATE": "10"}.items():
        monkeypatch.setenv(name, value)
    rows = bench.run(quick=False)  # raises if a request failed or the served ingest's counts differ from direct
    assert [r["phase"] for r in rows] == ["idle, before", "ingesting through the service", "idle, after"]
    assert all(int(str(r["HTTP batches"])) > 0 for r in rows)
    assert int(str(rows[0]["funnel n"])) > 0 and int(str(rows[0]["kpi gmv n"])) > 0
    assert rows[1]["file events"] == 20000 and "(" in str(rows[1]["ingest s (events/s)"])
    assert all(r["goal: panel p95 <= 2x idle, HTTP p99 < 500 ms"] in ("yes", "NO") for r in rows)
