"""The batched scorecard (one query for every target and period) equals the per-target computation.

The reference is the scorecard as it was computed before batching: each target's metric
run once per period through :func:`value_over`, and each metric's first data day found by
converting every row to a local day. Both are plugged into :func:`scorecard` in place of
the batched functions, so the whole JSON is compared, on hand-built data and a small demo.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jingyun.config import load_settings
from jingyun.demo.build import build
from jingyun.demo.params import DemoParams
from jingyun.errors import JingyunError
from jingyun.metrics import compute as compute_mod
from jingyun.metrics import kpi
from jingyun.metrics.compute import (
    build_periods_query,
    data_starts,
    leaves_of,
    value_over,
    values_over,
)
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.kpi import load_targets, parse_targets, scorecard, scorecard_dict, targets_path
from jingyun.metrics.model import Dictionary
from jingyun.metrics.periods import Period, parse_period, period_of
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend
from jingyun.warehouse.portable import check, to_spark
from jingyun.warehouse.sqltext import quote

Window = tuple[dt.date, dt.date]


def ref_data_starts(backend: DuckDBBackend, d: Dictionary, metrics: list[str], timezone: str) -> dict[str, Any]:
    """Every row converted to its local day (the exact, slow way), one query per metric."""
    out: dict[str, Any] = {}
    for m in metrics:
        days = []
        for leaf in leaves_of(d, m).values():
            s = d.sources[leaf.source]
            col = f"t.{s.time}"
            day = col if s.time_type == "date" else f"CAST((({col} AT TIME ZONE 'UTC') AT TIME ZONE {quote(timezone)}) AS DATE)"
            where = f" WHERE NOT coalesce(t.{s.test}, FALSE)" if s.test else ""
            days.append(backend.run(f"SELECT min({day}) AS d FROM {s.sql} t{where}").to_pylist()[0]["d"])
        out[m] = None if any(v is None for v in days) else max(days)
    return out


def ref_values_over(backend: DuckDBBackend, d: Dictionary, metrics: list[tuple[str, str]], windows: list[Window], *,
                    timezone: str = "Asia/Shanghai") -> dict[tuple[str, str], dict[Window, float | None]]:
    """One query per metric and period, as the scorecard did before batching."""
    return {(m, g): {w: value_over(backend, d, m, w[0], w[1], grain=g, timezone=timezone) for w in windows}
            for m, g in metrics}


def reference_card(monkeypatch: pytest.MonkeyPatch, *args: Any) -> dict[str, Any]:
    with monkeypatch.context() as mp:
        mp.setattr(kpi, "values_over", ref_values_over)
        mp.setattr(kpi, "data_starts", ref_data_starts)
        return scorecard_dict(scorecard(*args))


# One metric per kind of formula (count, distinct per day/week/month, first, min_rows, sum over a
# dataset with a join, a users.* filter, interval, retention, cohort revenue, ratio, formula).
SOME = ("new_users", "dau", "wau", "stickiness", "retention_d1", "gmv", "aov", "repurchase_rate", "purchase_interval",
        "cac", "roi", "ltv", "nps", "member_revenue_share", "refund_rate", "conversion_rate")


def every_metric_targets(d: Dictionary, kind: str, names: tuple[str, ...] | None = None,
                         daily: bool = True) -> dict[str, Any]:
    """A target on every metric (alternating >= and <=), at whole-period and daily grain where allowed."""
    targets = []
    for i, name in enumerate(sorted(names or d.metrics)):
        for grain in ("total", "day") if daily else ("total",):
            per = {leaf.per for leaf in leaves_of(d, name).values()} - {None, "day"}
            if grain == "day" and per:
                continue  # weekly/monthly counts have no daily value
            targets.append({"id": f"{name}_{grain}", "metric": name, "op": ">=" if i % 2 else "<=",
                            "target": 0.5 + i, "grain": grain, "weight": 1 + i % 3, "owner": "o", "period": kind})
    return {"targets": targets}


def _check_same(monkeypatch: pytest.MonkeyPatch, backend: DuckDBBackend, d: Dictionary, data: dict[str, Any],
                period: Period) -> dict[str, Any]:
    ts = parse_targets(data, d, "t.yaml")
    got = scorecard_dict(scorecard(backend, d, ts, period))
    want = reference_card(monkeypatch, backend, d, ts, period)
    assert got == want
    return got


def _targets(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for p in card["perspectives"] for t in p["targets"]}


# -- hand-built data ----------------------------------------------------------------------
@pytest.mark.parametrize("period", ["2026-10-02", "2026-10", "2026-W40", "2025-10", "2026"])
def test_batched_scorecard_equals_per_target_on_hand_data(
    hand_shared: DuckDBBackend, monkeypatch: pytest.MonkeyPatch, period: str
) -> None:
    d = load_dictionary(load_settings(Path(hand_shared.warehouse.settings.home)))
    p = parse_period(period)
    every = period == "2026-10-02"
    data = every_metric_targets(d, p.kind, None if every else SOME, daily=every or period == "2026-10")
    card = _check_same(monkeypatch, hand_shared, d, data, p)
    t = _targets(card)
    if period == "2026-10-02":
        # Known values: GMV Oct 2 = 200, Oct 1 = 180, and no orders a year earlier (missing, not 0).
        assert t["gmv_total"]["actual"] == 200.0 and t["gmv_total"]["previous"]["value"] == 180.0
        assert t["gmv_total"]["year_ago"]["value"] is None
        assert t["gmv_total"]["op"] == "<=" and t["gmv_total"]["attainment"] == pytest.approx(t["gmv_total"]["target"] / 200)
    if period == "2025-10":
        assert all(x["status"] == "no_data" and x["score"] == 0 for x in t.values())
    if period == "2026":
        # A year's previous period is also its year-ago period: computed once, reported twice.
        assert all(x["previous"] == x["year_ago"] for x in t.values())


def test_no_data_and_lower_is_better_targets(hand_shared: DuckDBBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    d = load_dictionary(load_settings(Path(hand_shared.warehouse.settings.home)))
    data = {"targets": [
        # Refund rate Oct 2: o2, o7, o10 paid, none refunded → 0 → an actual of 0 on <= counts as the cap.
        {"id": "refund", "metric": "refund_rate", "op": "<=", "target": "5%", "weight": 40, "owner": "s",
         "period": "day"},
        # No marketing spend on Oct 3: ROI has no value (zero denominator) → no_data.
        {"id": "roi", "metric": "roi", "op": ">=", "target": 2, "weight": 30, "owner": "m", "period": "day"},
        {"id": "spend", "metric": "marketing_spend", "op": "<=", "target": 100, "weight": 30, "owner": "m",
         "period": "day"},
    ]}
    card = _check_same(monkeypatch, hand_shared, d, data, parse_period("2026-10-03"))
    t = _targets(card)
    assert t["roi"]["status"] == "no_data" and t["roi"]["actual"] is None
    assert t["spend"]["actual"] == 0.0 and t["spend"]["attainment"] == 1.2  # the cap
    # Oct 2 spend was 150 → a ≤ 100 target scores 100/150.
    card2 = _check_same(monkeypatch, hand_shared, d, data, parse_period("2026-10-02"))
    assert _targets(card2)["spend"]["attainment"] == pytest.approx(100 / 150)


def test_windows_sharing_a_week_fall_back_to_one_query_each(hand_shared: DuckDBBackend) -> None:
    d = load_dictionary(load_settings(Path(hand_shared.warehouse.settings.home)))
    sep, octo = period_of("month", dt.date(2026, 9, 1)), period_of("month", dt.date(2026, 10, 1))
    windows = [(sep.start, sep.end), (octo.start, octo.end)]
    metrics = [("dau", "week"), ("gmv", "week"), ("orders", "day"), ("gmv", "total")]
    got = values_over(hand_shared, d, metrics, windows)
    assert got == ref_values_over(hand_shared, d, metrics, windows)
    with pytest.raises(JingyunError) as err:
        build_periods_query(d, [("gmv", "week")], tuple(windows))
    assert err.value.code == "bad_range"


def test_batched_query_is_portable(hand_shared: DuckDBBackend) -> None:
    d = load_dictionary(load_settings(Path(hand_shared.warehouse.settings.home)))
    p = parse_period("2026-10")
    windows = tuple((x.start, x.end) for x in (p, p.previous(), p.year_ago()))
    metrics = [(m, "total") for m in sorted(d.metrics)]
    q = build_periods_query(d, metrics, windows)
    check(q.sql)
    assert "FROM_UTC_TIMESTAMP" in to_spark(q.sql)
    # Leaves shared by several metrics (orders: AOV, conversion, refund rate) are computed once.
    assert len(q.leaves) == len({(g, leaf) for m, g in metrics for leaf in leaves_of(d, m)})
    # CSAT and NPS counts (feedback with different filters) read feedback once; a dataset once per form.
    assert q.sql.count("FROM feedback t") == 1
    assert q.sql.count("FROM marketing_spend t") == 1


# -- a small demo -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DuckDBBackend, Dictionary, Path]]:
    home = tmp_path_factory.mktemp("kpi_batch_demo")
    settings = load_settings(home)
    build(settings, DemoParams(users=300, days=75, seed=11))
    wh = Warehouse.open(settings, read_only=True)
    yield DuckDBBackend(wh), load_dictionary(settings), home
    wh.close()


def _last_day(backend: DuckDBBackend) -> dt.date:
    value = backend.run("SELECT max(CAST(ts AS DATE)) AS d FROM orders").to_pylist()[0]["d"]
    assert isinstance(value, dt.date)
    return value


def test_demo_shipped_targets_equal_per_target(demo: tuple[DuckDBBackend, Dictionary, Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    backend, d, home = demo
    ts = load_targets(d, targets_path(load_settings(home)))
    month = period_of("month", _last_day(backend))
    got = scorecard_dict(scorecard(backend, d, ts, month))
    assert got == reference_card(monkeypatch, backend, d, ts, month)
    t = _targets(got)
    assert t["gmv"]["actual"] is not None and t["gmv"]["actual"] > 0
    assert t["gmv"]["previous"]["value"] is not None


@pytest.mark.parametrize("kind", ["month", "week", "day"])
def test_demo_every_metric_equals_per_target(demo: tuple[DuckDBBackend, Dictionary, Path],
                                             monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    backend, d, _ = demo
    p = period_of(kind, _last_day(backend) - dt.timedelta(days=3))  # type: ignore[arg-type]
    every = kind == "month"
    _check_same(monkeypatch, backend, d, every_metric_targets(d, kind, None if every else SOME, daily=every), p)


def test_demo_data_starts_equal_full_conversion(demo: tuple[DuckDBBackend, Dictionary, Path]) -> None:
    backend, d, _ = demo
    names = sorted(d.metrics)
    got = data_starts(backend, d, names, "Asia/Shanghai")
    assert got == ref_data_starts(backend, d, names, "Asia/Shanghai")
    assert got["gmv"] is not None
    assert compute_mod.data_start(backend, d, "gmv", "Asia/Shanghai") == got["gmv"]
