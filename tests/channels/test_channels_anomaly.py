"""Anomalies planted in synthetic weekly-seasonal series are found; clean series raise none."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from channel_rows import orders

from jingyun.analysis.anomaly import AnomalyParams, build_series_sql, detect, fit, robust_z, run_anomalies
from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend
from jingyun.warehouse.portable import check, to_spark

START = dt.date(2026, 1, 5)  # a Monday


def _series(n: int, seed: int, curved: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    weekly = np.array([0, -5, -8, -4, 6, 25, 30])  # strong weekends
    # The weekday method's rolling-median trend assumes a locally straight trend: give it one.
    wave = 10 * np.sin(t / 20) if curved else 0
    return 200 + 0.5 * t + wave + weekly[t % 7] + rng.normal(0, 3, n)


@pytest.mark.parametrize("method", ["stl", "weekday"])
def test_planted_anomalies_are_found(method: str) -> None:
    y = _series(120, 1, method == "stl")
    planted = {40: +40.0, 77: -35.0, 103: +30.0, 104: +30.0, 105: +30.0}  # and a three-day run
    for i, bump in planted.items():
        y[i] += bump
    days = detect([START + dt.timedelta(days=i) for i in range(120)], y, method)  # type: ignore[arg-type]
    found = {i: d.direction for i, d in enumerate(days) if d.anomaly}
    assert found == {40: "high", 77: "low", 103: "high", 104: "high", 105: "high"}


@pytest.mark.parametrize("method", ["stl", "weekday"])
@pytest.mark.parametrize("seed", [2, 3, 4])
def test_clean_series_has_no_anomalies(method: str, seed: int) -> None:
    y = _series(120, seed, method == "stl")
    days = detect([START + dt.timedelta(days=i) for i in range(120)], y, method)  # type: ignore[arg-type]
    # The weekend peaks (+25/+30, ten times the noise) are seasonality, not anomalies.
    assert [d.date for d in days if d.anomaly] == []


def test_robust_z_matches_the_definition() -> None:
    r = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    # median 3, |r − 3| = 2, 1, 0, 1, 97 → MAD 1
    assert robust_z(r) == pytest.approx((r - 3) / 1.4826)
    assert robust_z(np.zeros(5)).tolist() == [0.0] * 5


def test_short_series_is_refused() -> None:
    with pytest.raises(JingyunError) as err:
        fit(np.ones(10))
    assert err.value.code == "short_series"


def test_orders_series_from_the_warehouse(backend: DuckDBBackend, wh: Warehouse) -> None:
    # 8 weeks of orders: 10 a weekday, 20 on Saturdays and Sundays; 60 on one Wednesday; none on one Thursday.
    rows = []
    noise = np.random.default_rng(5).integers(-1, 2, 56)
    for i in range(56):
        day = START + dt.timedelta(days=i)
        n = (20 if day.weekday() >= 5 else 10) + int(noise[i])
        if i == 23:
            n = 60
        if i == 38:
            n = 0
        # 02:00 UTC is 10:00 in Shanghai: the same local day.
        rows += [(f"o{i}_{k}", f"p{k}", f"{day.isoformat()} 02:00:00", 10) for k in range(n)]
    orders(wh, rows)
    # Jan 5 - Mar 1 2026 holds 年货节 and the 春节 break (expected effects, tests/calendar): test every day here.
    r = run_anomalies(backend, AnomalyParams.create("orders", START, START + dt.timedelta(days=55)), festivals=False)
    assert len(r.days) == 56 and r.days[38].value == 0
    assert [(d.date, d.direction) for d in r.anomalies] == [
        ((START + dt.timedelta(days=23)).isoformat(), "high"), ((START + dt.timedelta(days=38)).isoformat(), "low")]
    assert r.days[5].expected == pytest.approx(20, abs=1)  # a Saturday is expected high
    aov = run_anomalies(backend, AnomalyParams.create("aov", START, START + dt.timedelta(days=55), method="weekday"))
    # AOV is 10 on every day with orders; the empty day has no value and is not flagged.
    assert aov.anomalies == [] and aov.days[38].value is None


@pytest.mark.parametrize("metric", ["gmv", "orders", "aov", "visitors", "conversion_rate", "new_users"])
def test_series_queries_are_portable(metric: str) -> None:
    sql = build_series_sql(AnomalyParams.create(metric, "2026-01-01", "2026-03-31"))
    check(sql)
    assert to_spark(sql)
