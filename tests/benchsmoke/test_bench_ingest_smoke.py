"""The ingestion benchmark runs (small size) and its counts are the planted ones."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_ingest_bench_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.bench_ingest as bench

    monkeypatch.setenv("BENCH_EVENTS", "20000")
    monkeypatch.setenv("BENCH_ROUNDS", "2")  # rounds must agree on the counts
    rows = bench.run(quick=False)
    assert [r["format"] for r in rows] == ["parquet", "ndjson"]
    assert all(r["rounds"] == 2 and len(r["pipeline s, each round"].split(" / ")) == 2 for r in rows)
    for row in rows:
        n = row["events"]
        # 1% exact duplicates, 1% placeholder user ids, 1% unknown platform — the same in both formats
        assert (row["stored"], row["duplicates"], row["quarantined"]) == (n * 97 // 100, n // 100, n * 2 // 100)
        assert row["peak MB"] > 0 and row["DuckDB-only load s"] > 0 and row["DuckDB in-memory load s"] > 0


def test_results_keep_earlier_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bench.run import _earlier_runs

    path = tmp_path / "x.md"
    assert _earlier_runs(path) == ""
    path.write_text("# x\n\nold description\n\nRun 2026-01-01 10:00 (3 s).\n\n| a |\n|---|\n| 1 |\n\nA note.\n", encoding="utf-8")
    assert _earlier_runs(path) == "\nRun 2026-01-01 10:00 (3 s).\n\n| a |\n|---|\n| 1 |\n\nA note.\n"
    path.write_text("# x\n\nno run yet\n", encoding="utf-8")
    assert _earlier_runs(path) == ""
