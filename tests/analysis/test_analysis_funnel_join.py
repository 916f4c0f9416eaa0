"""The join formulation of the default funnel (time buckets instead of window sorts) against ClickHouse
``windowFunnel`` and against the window formulation, on windows that probe one bucket, several, and the
widest (32 buckets), with ties, repeats and burst users whose candidates meet in the same bucket."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from analysis_rows import insert_events

from jingyun.analysis import funnel as fn
from jingyun.analysis.common import rows
from jingyun.analysis.funnel import FunnelParams, build_funnel_sql, run_funnel
from jingyun.warehouse.sqltext import with_ctes

chdb = pytest.importorskip("chdb")
NAMES = ["view", "cart", "checkout", "pay", "other"]


@pytest.fixture
def spread_events(wh, tmp_path: Path) -> Path:
    # 40 days on a coarse 30-minute grid: multi-day windows cross many buckets; ties are common.
    rng = np.random.default_rng(77)
    n = 5000
    start = dt.datetime(2024, 3, 1, 3)
    user = rng.integers(0, 120, n)
    names = rng.choice(NAMES, n, p=[0.35, 0.25, 0.15, 0.15, 0.1])
    minutes = rng.integers(0, 40 * 48, n) * 30
    rows_ = [(f"u{u}", str(e), start + dt.timedelta(minutes=int(m))) for u, e, m in zip(user, names, minutes, strict=True)]
    # Two burst users: many steps within one hour (pairs inside one bucket), with exact repeats.
    for b in range(2):
        for j in range(60):
            rows_.append((f"burst{b}", NAMES[j % 4], start + dt.timedelta(days=3 + b, minutes=j % 7)))
    insert_events(wh, rows_)
    path = tmp_path / "events.parquet"
    wh.con.execute(f"COPY (SELECT person_id, event, ts FROM events) TO '{path}' (FORMAT parquet)")
    return path


def ch_levels(path: Path, steps: list[str], window: int) -> dict[str, int]:
    conds = ", ".join(f"event = '{s}'" for s in steps)
    q = (f"SELECT person_id, windowFunnel({window})(toDateTime(ts, 'UTC'), {conds}) AS level "
         f"FROM file('{path}', Parquet) GROUP BY person_id")
    return {line.split(",")[0].strip('"'): int(line.split(",")[1])
            for line in str(chdb.query(q, "CSV")).strip().splitlines()}


def test_bucket_width_and_probes():
    assert fn._bucket_seconds(600) == 600
    assert fn._bucket_seconds(86400) == 86400
    assert fn._bucket_seconds(7 * 86400) == 86400  # 7 buckets back at most
    assert fn._bucket_seconds(64 * 86400) == 2 * 86400  # never more than 32 probes
    assert fn._bucket_seconds(64 * 86400 + 1) == 2 * 86400 + 1


@pytest.mark.parametrize("steps", [["view", "cart", "checkout", "pay"], ["view", "view", "pay"], ["cart", "view", "cart", "pay"]])
@pytest.mark.parametrize("window", [1800, 86400, 86401, 3 * 86400 + 7, 40 * 86400])
def test_join_funnel_matches_window_funnel_per_person(backend, spread_events, steps, window):
    p = FunnelParams.create(steps, window)
    sql = with_ctes(fn._person_ctes(p), "SELECT person_id, level FROM pb WHERE level >= 1")
    ours = {r["person_id"]: int(r["level"]) for r in rows(backend, sql)}
    expected = {k: v for k, v in ch_levels(spread_events, steps, window).items() if v >= 1}
    assert Counter(expected.values())[len(steps)] > 0 and len(expected) > 50  # not vacuous
    assert ours == expected


@pytest.mark.parametrize("window", [3600, 2 * 86400, 40 * 86400])
def test_join_and_window_formulations_agree(backend, spread_events, window, monkeypatch):
    # Everything the funnel reports (levels by first-touch day, and time to convert) is the same with the
    # window formulation that the exclusion path still uses.
    p = FunnelParams.create(["view", "cart", "pay"], window, "2024-03-05", "2024-03-25", period="week")
    joined = run_funnel(backend, p, compare=True)
    monkeypatch.setattr(fn, "_join_ctes", None)  # force the window path below
    original = fn._default_ctes

    def windows_only(q: FunnelParams, first: fn.FirstTouch) -> list[tuple[str, str]]:
        # An exclusion that never matches takes the window path without changing any chain.
        return original(q, first) if q.exclusions else original(
            FunnelParams(**{**q.__dict__, "exclusions": (fn.Step("no_such_event"),)}), first)

    monkeypatch.setattr(fn, "_default_ctes", windows_only)
    windowed = run_funnel(backend, p, compare=True)
    assert "OVER" in build_funnel_sql(p) and "OVER" not in joined.sql[0]
    a, b = joined.to_dict(), windowed.to_dict()
    a.pop("sql"), b.pop("sql")
    assert a["steps"][-1]["users"] > 0 and a["time_to_convert"]["users"] > 0
    assert a == b
