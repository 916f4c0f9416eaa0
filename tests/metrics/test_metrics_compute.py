"""Every shipped metric on the hand-built warehouse (see conftest.py for the data and local times)."""

from __future__ import annotations

import pytest

from jingyun.errors import JingyunError
from jingyun.metrics.compute import ComputeParams, build_query, compute, value_over
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.model import Dictionary
from jingyun.warehouse import portable
from jingyun.warehouse.backends.duckdb import DuckDBBackend

FROM, TO = "2026-10-01", "2026-10-03"

# Worked out by hand from the rows in conftest.py, over local Oct 1..3 as one bucket.
EXPECTED_TOTAL: dict[str, float | None] = {
    "new_users": 4,  # p1, p2 (registered 00:30 local = Sep 30 UTC), p3 (23:59), p4 (Oct 2 00:01 local); t1 is a test
    "dau": 8 / 3,  # daily actives 3 (p1 p2 p3), 3 (p1 p3 p4), 2 (p2 p5), averaged over 3 days
    "wau": 5,  # one ISO week (Mon Sep 28) holds the whole range: p1..p5
    "mau": 5,
    "stickiness": (8 / 3) / 5,
    "visitors": 5,
    "retention_d1": 2 / 4,  # cohorts Oct1 {p1,p2,p3}, Oct2 {p4}; back next local day: p1, p3 (00:00:30 local)
    "retention_d7": 1 / 4,  # p3 on Oct 8
    "retention_d30": 1 / 4,  # p1 on Oct 31
    "orders": 6,  # o1 o2 o3(refunded) o6(returned) o7 o10; not o4 (cancelled), o8 (test), o9 (created)
    "conversion_rate": 6 / 5,
    "gmv": 420.0,  # 100 + 50 + 80 + 40 + 120 + 30
    "revenue": 300.0,  # 100 + 50 + 120 + 30
    "aov": 70.0,
    "buyers": 4,  # p1 p2 p4 p5
    "repeat_buyers": 2,  # p1 (o1, o2), p2 (o3, o10)
    "repurchase_rate": 0.5,
    "purchase_interval": 25 / 3,  # p1 1 day, p2 1 day (Oct 1 00:50 local -> Oct 2), p5 23 days (Sep 10 -> Oct 3)
    "refunded_orders": 2,
    "refund_rate": 2 / 6,
    "paying_members": 2,  # p1 金卡, p4 银卡 (p2/p5 普通会员, p3 no level)
    "member_revenue": 270.0,  # 100 + 50 + 120
    "member_revenue_share": 0.9,
    "marketing_spend": 300.0,  # 100 + 50 + 150 (not Sep 30)
    "new_customers": 3,  # first paid order in range: p1, p2, p4 (p5's first was Sep 10)
    "cac": 100.0,
    "gross_profit": 200.0,  # o1 100-50, o2 50-30, o7 120-20 (P3 has no cost), o10 30 (no items)
    "roi": 200 / 300,
    "roas": 1.0,
    "ltv": 350 / 3,  # first revenue orders in range: p1 (100+50+50 in Nov), p2 (30), p4 (120)
    "ltv_cac": (350 / 3) / 100,
    "nps_responses": 4,
    "nps_promoters": 2,
    "nps_detractors": 1,
    "nps": 25.0,  # 100 * (2 - 1) / 4
    "csat_responses": 3,
    "csat_satisfied": 2,
    "csat": 2 / 3,
    "complaints": 2,  # cs 2 (p2), review 1 (p5)
    "complaint_rate": 2 / 6,
}


def _total(backend: DuckDBBackend, d: Dictionary, name: str, **kw: object) -> float | None:
    res = compute(backend, d, ComputeParams.create(name, FROM, TO, grain="total", **kw))  # type: ignore[arg-type]
    assert len(res.points) == 1
    return res.points[0].value


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return load_dictionary()


def test_every_shipped_metric_has_a_hand_worked_value(dictionary: Dictionary) -> None:
    assert set(EXPECTED_TOTAL) == set(dictionary.metrics)


@pytest.mark.parametrize("name", sorted(EXPECTED_TOTAL))
def test_metric_total(hand_shared: DuckDBBackend, dictionary: Dictionary, name: str) -> None:
    got = _total(hand_shared, dictionary, name)
    assert got == pytest.approx(EXPECTED_TOTAL[name], rel=1e-9, abs=1e-12)


def _series(backend: DuckDBBackend, d: Dictionary, name: str, grain: str = "day", by: str | None = None
            ) -> dict[tuple[str, str | None], float | None]:
    res = compute(backend, d, ComputeParams.create(name, FROM, TO, grain=grain, by=by))
    return {(p.label, p.by_value): p.value for p in res.points}


def test_daily_values_follow_local_midnight(hand_shared: DuckDBBackend, dictionary: Dictionary) -> None:
    days = ["2026-10-01", "2026-10-02", "2026-10-03"]
    expect = {
        "new_users": [3, 1, 0],
        "dau": [3, 3, 2],
        "orders": [2, 3, 1],
        "gmv": [180, 200, 40],
        "conversion_rate": [2 / 3, 1.0, 1 / 2],
        "retention_d1": [2 / 3, 0.0, None],  # nobody registered on Oct 3
        "marketing_spend": [150, 150, 0],
    }
    for name, values in expect.items():
        got = _series(hand_shared, dictionary, name)
        assert [got[(d, None)] for d in days] == pytest.approx(values), name


def test_breakdowns(hand_shared: DuckDBBackend, dictionary: Dictionary) -> None:
    dau = _series(hand_shared, dictionary, "dau", by="platform")
    assert [dau[(d, "app")] for d in ("2026-10-01", "2026-10-02", "2026-10-03")] == [2, 2, 1]
    assert [dau[(d, "web")] for d in ("2026-10-01", "2026-10-02", "2026-10-03")] == [1, 0, 1]
    assert [dau[(d, "miniprogram")] for d in ("2026-10-01", "2026-10-02", "2026-10-03")] == [0, 1, 0]
    label = "2026-10-01..2026-10-03"
    assert _series(hand_shared, dictionary, "gmv", "total", "channel") == {
        (label, "app"): 190.0, (label, "store"): 120.0, (label, "web"): 110.0}
    assert _series(hand_shared, dictionary, "new_users", "total", "users.channel") == {
        (label, "ads"): 2, (label, "organic"): 2}
    assert _series(hand_shared, dictionary, "marketing_spend", "total", "channel") == {
        (label, "ads"): 250.0, (label, "search"): 50.0}
    # D1 by acquisition channel: ads cohort {p1, p3} both back; organic {p2, p4} neither.
    assert _series(hand_shared, dictionary, "retention_d1", "total", "users.channel") == {
        (label, "ads"): 1.0, (label, "organic"): 0.0}
    assert _series(hand_shared, dictionary, "visitors", "total", "properties.src") == {
        (label, "app"): 3, (label, "miniprogram"): 1, (label, "web"): 1}  # p1 p3 p5; t1 is a test


def test_week_and_month_grains_average_per_day_counts(hand_shared: DuckDBBackend, dictionary: Dictionary) -> None:
    assert _series(hand_shared, dictionary, "dau", "week") == {("2026-W40", None): pytest.approx(8 / 3)}
    assert _series(hand_shared, dictionary, "stickiness", "month") == {("2026-10", None): pytest.approx(8 / 15)}
    assert _series(hand_shared, dictionary, "gmv", "month") == {("2026-10", None): 420.0}
    # A target on the daily average counts days without any registration as zero.
    assert value_over(hand_shared, dictionary, "new_users", *_dates(), grain="day") == pytest.approx(4 / 3)


def _dates() -> tuple[object, object]:
    import datetime as dt

    return dt.date(2026, 10, 1), dt.date(2026, 10, 3)


def test_test_accounts_only_with_include_test(hand_shared: DuckDBBackend, dictionary: Dictionary) -> None:
    assert _total(hand_shared, dictionary, "new_users", include_test=True) == 5
    assert _total(hand_shared, dictionary, "gmv", include_test=True) == 1419.0


def test_impossible_grain_and_breakdown_name_the_field(hand_shared: DuckDBBackend, dictionary: Dictionary) -> None:
    with pytest.raises(JingyunError) as err:
        compute(hand_shared, dictionary, ComputeParams.create("mau", FROM, TO, grain="day"))
    assert err.value.field == "grain" and "per month" in err.value.message
    with pytest.raises(JingyunError) as err:
        compute(hand_shared, dictionary, ComputeParams.create("wau", FROM, TO, grain="month"))
    assert err.value.field == "grain"
    with pytest.raises(JingyunError) as err:
        compute(hand_shared, dictionary, ComputeParams.create("conversion_rate", FROM, TO, by="platform"))
    assert err.value.field == "by" and "orders" in err.value.message
    with pytest.raises(JingyunError) as err:
        ComputeParams.create("gmv", TO, FROM)
    assert err.value.field == "from"
    with pytest.raises(JingyunError) as err:
        ComputeParams.create("gmv", FROM, TO, grain="year")
    assert err.value.field == "grain"
    with pytest.raises(JingyunError) as err:
        compute(hand_shared, dictionary, ComputeParams.create("gmvv", FROM, TO))
    assert err.value.field == "metric" and "gmv" in err.value.message


@pytest.mark.parametrize("grain", ["day", "week", "month", "total"])
def test_every_query_is_portable(dictionary: Dictionary, grain: str) -> None:
    for name in dictionary.metrics:
        for by in (None, "users.channel"):
            try:
                q = build_query(dictionary, ComputeParams.create(name, FROM, TO, grain=grain, by=by))
            except JingyunError as exc:
                # per-week/per-month metrics refuse finer grains; spend has no person to join users on
                assert exc.field in ("grain", "by"), (name, exc)
                continue
            assert portable.lint(q.sql) == [], name
            assert "SELECT" in portable.to_spark(q.sql)
