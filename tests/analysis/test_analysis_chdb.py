"""Agreement with ClickHouse (chdb): windowFunnel and retention on seeded random events."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from analysis_rows import insert_events

from jingyun.analysis.funnel import FunnelParams, run_funnel
from jingyun.analysis.retention import RetentionParams, run_retention

chdb = pytest.importorskip("chdb")
NAMES = ["view", "cart", "checkout", "pay", "other"]


@pytest.fixture
def random_events(wh, tmp_path: Path) -> Path:
    # Coarse times (10-minute grid over 6 days) so that ties and repeats are common.
    rng = np.random.default_rng(2024)
    n = 4000
    start = dt.datetime(2024, 1, 9, 12)
    user = rng.integers(0, 150, n)
    names = rng.choice(NAMES, n, p=[0.4, 0.25, 0.15, 0.1, 0.1])
    minutes = rng.integers(0, 6 * 144, n) * 10
    insert_events(wh, [(f"u{u}", str(e), start + dt.timedelta(minutes=int(m))) for u, e, m in zip(user, names, minutes, strict=True)])
    path = tmp_path / "events.parquet"
    wh.con.execute(f"COPY (SELECT person_id, event, ts FROM events) TO '{path}' (FORMAT parquet)")
    return path


def ch_funnel(path: Path, steps: list[str], window: int, lo: str | None = None, hi: str | None = None) -> list[int]:
    first = f"event = '{steps[0]}'" + (f" AND ts >= toDateTime64('{lo}', 6, 'UTC') AND ts < toDateTime64('{hi}', 6, 'UTC')" if lo else "")
    conds = ", ".join([first] + [f"event = '{s}'" for s in steps[1:]])
    q = (f"SELECT person_id, windowFunnel({window})(toDateTime(ts, 'UTC'), {conds}) AS level "
         f"FROM file('{path}', Parquet) GROUP BY person_id")
    levels = Counter(int(line.split(",")[1]) for line in str(chdb.query(q, "CSV")).strip().splitlines())
    return [sum(c for lv, c in levels.items() if lv >= k) for k in range(1, len(steps) + 1)]


@pytest.mark.parametrize("steps", [["view", "cart", "checkout", "pay"], ["view", "view", "pay"], ["cart", "view", "cart", "pay", "view"]])
@pytest.mark.parametrize("window", [600, 3600, 86400])
def test_funnel_matches_window_funnel(backend, random_events, steps, window):
    ours = run_funnel(backend, FunnelParams.create(steps, window), compare=False, ttc=False)
    expected = ch_funnel(random_events, steps, window)
    assert expected[0] > expected[-1] and expected[1] > 0  # not a vacuous comparison
    assert [s.users for s in ours.steps] == expected


def test_funnel_date_range_matches_window_funnel(backend, random_events):
    # Chains start on local 2024-01-11..12 = [2024-01-10 16:00, 2024-01-12 16:00) UTC; later steps may go beyond.
    p = FunnelParams.create(["view", "cart", "pay"], "6h", "2024-01-11", "2024-01-12")
    ours = [s.users for s in run_funnel(backend, p, compare=False, ttc=False).steps]
    assert ours == ch_funnel(random_events, ["view", "cart", "pay"], 6 * 3600, "2024-01-10 16:00:00", "2024-01-12 16:00:00")


@pytest.mark.parametrize(("cohort_event", "return_event"), [("view", "pay"), ("cart", "cart")])
def test_retention_matches_clickhouse_retention(backend, random_events, cohort_event, return_event):
    days = 4
    local = "toDate(toTimeZone(ts, 'Asia/Shanghai'))"
    conds = ", ".join(f"e.d = c.d0 + {k} AND e.event = '{return_event}'" for k in range(days + 1))
    q = (
        f"WITH c AS (SELECT person_id, min({local}) AS d0 FROM file('{random_events}', Parquet) "
        f"WHERE event = '{cohort_event}' GROUP BY person_id), "
        f"e AS (SELECT person_id, event, {local} AS d FROM file('{random_events}', Parquet)) "
        f"SELECT d0, sumForEach(r) FROM (SELECT c.person_id AS pid, c.d0 AS d0, retention(1, {conds}) AS r "
        f"FROM c LEFT JOIN e ON e.person_id = c.person_id GROUP BY c.person_id, c.d0) GROUP BY d0 ORDER BY d0"
    )
    expected = {}
    for line in str(chdb.query(q, "CSV")).strip().splitlines():
        day, arr = line.split(",", 1)
        counts = [int(x) for x in arr.strip('"[]').split(",")]
        expected[day.strip('"')] = (counts[0], counts[1:])
    result = run_retention(backend, RetentionParams.create(cohort_event, return_event, days))
    assert len(expected) >= 3 and sum(sum(r) for _, r in expected.values()) > 50
    assert {c.cohort: (c.size, c.retained) for c in result.cohorts} == expected
