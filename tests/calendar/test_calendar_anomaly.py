"""The anomaly detector treats festivals and holidays as expected effects (docs/calendar.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest

from jingyun.analysis.anomaly import AnomalyParams, Method, detect, run_anomalies
from jingyun.calendar import WorkCalendar, festival_on
from jingyun.cli.main import main
from jingyun.config import load_settings
from jingyun.warehouse.backends import open_backend
from jingyun.warehouse.sqltext import local_date

CN = WorkCalendar()


@pytest.mark.parametrize("method", ["stl", "weekday"])
@pytest.mark.parametrize("seed", [2, 3, 5])
def test_festival_peaks_are_expected_and_an_ordinary_drop_is_still_found(method: Method, seed: int) -> None:
    """A synthetic year (Nov 2025 - Oct 2026) shaped like the demo: weekends up, 双11 and 618 peaks."""
    rng = np.random.default_rng(seed)
    start = dt.date(2025, 11, 1)
    dates = [start + dt.timedelta(days=i) for i in range(365)]
    y = np.array([1000 * (1.2 if d.weekday() >= 5 else 1.0) for d in dates]) + rng.normal(0, 20, 365)
    for i, d in enumerate(dates):
        if (d.month, d.day) == (11, 11):
            y[i] *= 5.0
        elif d.month == 11 and d.day < 11:
            y[i] *= 1.6
        elif (d.month, d.day) == (6, 18):
            y[i] *= 3.5
        elif d.month == 6 and d.day < 18:
            y[i] *= 1.5
    drop = dates.index(dt.date(2026, 9, 16))  # an ordinary Wednesday
    y[drop] *= 0.6
    plain = detect(dates, y, method)
    assert {"2025-11-11", "2026-06-18"} <= {d.date for d in plain if d.anomaly}  # the test can fail
    days = detect(dates, y, method, effects=CN.expected_effects(dates))
    assert [(d.date, d.direction) for d in days if d.anomaly] == [("2026-09-16", "low")]
    by_date = {d.date: d for d in days}
    assert by_date["2025-11-11"].effect == "双11" and not by_date["2025-11-11"].anomaly
    assert by_date["2026-10-03"].effect == "国庆节"
    # the expected level across the festival is the ordinary baseline, not bent by the peak
    assert by_date["2025-11-11"].expected == pytest.approx(1000, rel=0.05)


@pytest.mark.slow
def test_demo_festivals_are_not_flagged_and_a_planted_drop_is(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--users", "8000", "--days", "365", "--json"]) == 0
    capsys.readouterr()
    settings = load_settings()
    drop_day = dt.date(2026, 9, 16)  # an ordinary Wednesday: no festival, no holiday
    assert festival_on(drop_day) is None and CN.is_workday(drop_day) and not CN.is_holiday(drop_day)
    backend = open_backend(settings)
    p = AnomalyParams.create("gmv", "2025-11-01", "2026-10-31")
    plain = run_anomalies(backend, p, festivals=False)
    flagged = {d.date for d in plain.anomalies}
    assert "2025-11-11" in flagged and "2026-06-18" in flagged  # the demo's peaks, seen as anomalies
    aware = run_anomalies(backend, p)
    assert aware.days[10].date == "2025-11-11" and aware.days[10].effect == "双11" and not aware.days[10].anomaly
    festival_flags = [d.date for d in aware.anomalies if festival_on(dt.date.fromisoformat(d.date))]
    assert festival_flags == []
    assert str(drop_day) not in {d.date for d in aware.anomalies}
    close = getattr(backend, "close", None)
    if close is not None:
        close()
    # plant the drop: an outage, no order that local day
    with duckdb.connect(str(settings.warehouse_path)) as con:
        gone = con.execute(f"DELETE FROM orders WHERE {local_date('ts', settings.timezone)} = DATE '2026-09-16'")
        assert gone.fetchall()[0][0] > 20
    backend = open_backend(settings)
    again = run_anomalies(backend, p)
    got = {d.date: d.direction for d in again.anomalies}
    assert got.get(str(drop_day)) == "low"
