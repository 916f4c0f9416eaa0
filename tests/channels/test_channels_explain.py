"""Diagnosis: exact mix/rate decompositions computed by hand."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from channel_rows import insert, orders, users

from jingyun.analysis.explain import ExplainParams, Period, build_explain_sql, decompose_ratio, run_explain
from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend
from jingyun.warehouse.portable import check, to_spark


def _visits(wh: Warehouse, prefix: str, n: int, day: str, platform: str) -> None:
    insert(wh, "events", ("event_id", "user_id", "event", "ts", "platform"),
           [(f"{prefix}{i}", f"{prefix}{i}", "view", f"{day} 04:00:00", platform) for i in range(n)])
    wh.con.execute("UPDATE events SET person_id = user_id, is_test = FALSE WHERE person_id IS NULL")


@pytest.fixture
def conv(wh: Warehouse) -> None:
    # September: app 10 visitors / 2 orders, web 10 / 1. October: app 20 / 5, web 5 / 1.
    _visits(wh, "sa", 10, "2026-09-10", "app")
    _visits(wh, "sw", 10, "2026-09-10", "web")
    _visits(wh, "oa", 20, "2026-10-10", "app")
    _visits(wh, "ow", 5, "2026-10-10", "web")
    orders(wh, [("s1", "sa0", "2026-09-10 05:00:00", 10, None, "app"), ("s2", "sa1", "2026-09-10 05:00:00", 30, None, "app"),
                ("s3", "sw0", "2026-09-10 05:00:00", 20, None, "web"),
                *[(f"o{i}", f"oa{i}", "2026-10-10 05:00:00", 10 * (i + 1), None, "app") for i in range(5)],
                ("o9", "ow0", "2026-10-10 05:00:00", 40, None, "web"),
                ("x", "oa9", "2026-10-10 05:00:00", 999, "cancelled", "app")])


def test_conversion_rate_mix_and_rate(backend: DuckDBBackend, conv: None) -> None:
    """R0 = 3/20 = 0.15, R1 = 6/25 = 0.24, R̄ = 0.195.

    app: w 0.5 → 0.8, r 0.2 → 0.25: mix 0.3·(0.225 − 0.195) = 0.009, rate 0.05·0.65 = 0.0325.
    web: w 0.5 → 0.2, r 0.1 → 0.2: mix −0.3·(0.15 − 0.195) = 0.0135, rate 0.1·0.35 = 0.035.
    """
    e = run_explain(backend, ExplainParams.create("conversion_rate", "2026-10", "2026-09", by="platform"))
    assert (e.previous, e.current, e.change) == pytest.approx((0.15, 0.24, 0.09))
    seg = {s.segment: s for s in e.segments}
    assert (seg["app"].mix_effect, seg["app"].rate_effect, seg["app"].contribution) == pytest.approx((0.009, 0.0325, 0.0415))
    assert (seg["web"].mix_effect, seg["web"].rate_effect, seg["web"].contribution) == pytest.approx((0.0135, 0.035, 0.0485))
    assert (seg["app"].previous_weight, seg["app"].current_weight) == pytest.approx((0.5, 0.8))
    assert (seg["web"].previous, seg["web"].current) == pytest.approx((0.1, 0.2))
    assert sum(s.contribution for s in e.segments) == pytest.approx(e.change, abs=1e-12)
    assert [s.segment for s in e.drivers] == ["web", "app"] and e.drags == []
    assert e.change_pct == pytest.approx(0.6)


def test_additive_and_aov(backend: DuckDBBackend, conv: None) -> None:
    e = run_explain(backend, ExplainParams.create("gmv", "2026-10", by="platform"))  # previous: September
    assert e.previous_period == "2026-09-01..2026-09-30"
    assert (e.previous, e.current, e.change) == (60, 190, 130)
    assert {s.segment: (s.previous, s.current, s.contribution) for s in e.segments} == {
        "app": (40, 150, 110), "web": (20, 40, 20)}
    assert e.segments[0].share_of_change == pytest.approx(110 / 130)
    # AOV 20 → 190/6. app: w 2/3 → 5/6, r 20 → 30; web: w 1/3 → 1/6, r 20 → 40.
    a = run_explain(backend, ExplainParams.create("aov", "2026-10", "2026-09", by="platform"))
    r0, r1 = Fraction(20), Fraction(190, 6)
    rbar = (r0 + r1) / 2
    app_mix = (Fraction(5, 6) - Fraction(2, 3)) * (25 - rbar)
    web_mix = (Fraction(1, 6) - Fraction(1, 3)) * (30 - rbar)
    seg = {s.segment: s for s in a.segments}
    assert seg["app"].mix_effect == pytest.approx(float(app_mix))
    assert seg["app"].rate_effect == pytest.approx(float(10 * (Fraction(2, 3) + Fraction(5, 6)) / 2))
    assert seg["web"].mix_effect == pytest.approx(float(web_mix))
    assert seg["web"].rate_effect == pytest.approx(float(20 * (Fraction(1, 3) + Fraction(1, 6)) / 2))
    assert sum(s.contribution for s in a.segments) == pytest.approx(float(r1 - r0), abs=1e-12)


def test_ratio_identity_is_exact_with_missing_segments() -> None:
    cells = {("a",): (Fraction(3), Fraction(10), Fraction(0), Fraction(0)),  # gone in period 1
             ("b",): (Fraction(1), Fraction(10), Fraction(4), Fraction(8)),
             ("c",): (Fraction(0), Fraction(0), Fraction(2), Fraction(2)),  # new in period 1
             ("d",): (Fraction(1), Fraction(0), Fraction(1), Fraction(0))}  # numerator without denominator
    r0, r1, terms = decompose_ratio(cells)
    assert (r0, r1) == (Fraction(5, 20), Fraction(7, 10))
    assert sum((t.mix + t.rate for t in terms.values()), Fraction(0)) == r1 - r0
    assert terms[("a",)].rate == 0 and terms[("c",)].rate == 0
    # b: r 1/10 → 1/2 with weights 1/2 and 4/5.
    assert terms[("b",)].rate == Fraction(2, 5) * (Fraction(1, 2) + Fraction(4, 5)) / 2


def test_category_split_user_type_and_cross(backend: DuckDBBackend, wh: Warehouse) -> None:
    users(wh, [("n1", "2026-10-02 00:00:00", "feed"), ("e1", "2026-01-01 00:00:00", "feed"),
               ("e2", "2026-01-01 00:00:00", "search")])
    insert(wh, "products", ("product_id", "category", "price", "cost"), [("P1", "美妆", 60, 1), ("P2", "食品", 40, 1)])
    orders(wh, [("a", "n1", "2026-10-03 00:00:00", 90), ("b", "e1", "2026-09-03 00:00:00", 50),
                ("c", "e2", "2026-10-05 00:00:00", 30)])
    insert(wh, "order_items", ("order_id", "line_no", "product_id", "quantity", "amount"),
           [("a", 1, "P1", 1, 60), ("a", 2, "P2", 1, 40), ("b", 1, "P2", 1, 50)])
    e = run_explain(backend, ExplainParams.create("gmv", "2026-10", "2026-09", by="category"))
    # Order a (90 after discount) splits 60:40 → 54 美妆, 36 食品; order c has no lines.
    assert {s.segment: s.contribution for s in e.segments} == pytest.approx({"美妆": 54, "食品": -14, "(unknown)": 30})
    u = run_explain(backend, ExplainParams.create("orders", "2026-10", "2026-09", by="channel,user_type"))
    assert {s.segment: (s.previous, s.current) for s in u.segments} == {
        "feed / new": (0, 1), "feed / existing": (1, 0), "search / existing": (0, 1)}
    # Ties in |contribution| are ordered by segment name.
    assert u.segments[0].values == {"channel": "feed", "user_type": "existing"}
    assert [s.segment for s in u.drivers] == ["feed / new", "search / existing"]


def test_periods_and_errors() -> None:
    assert Period.parse("2026-02", "current") == Period(dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    p = ExplainParams.create("gmv", "2026-10-08..2026-10-14")
    assert p.previous.label() == "2026-10-01..2026-10-07"
    for kwargs, field in (({"metric": "nps", "current": "2026-10"}, "metric"),
                          ({"metric": "gmv", "current": "2026-13"}, "current"),
                          ({"metric": "gmv", "current": "2026-10", "previous": "2026-10-15"}, "previous"),
                          ({"metric": "gmv", "current": "2026-10", "by": "colour"}, "by"),
                          ({"metric": "conversion_rate", "current": "2026-10", "by": "category"}, "by")):
        with pytest.raises(JingyunError) as err:
            ExplainParams.create(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == field


def test_empty_ratio_period(backend: DuckDBBackend) -> None:
    with pytest.raises(JingyunError) as err:
        run_explain(backend, ExplainParams.create("aov", "2026-10"))
    assert err.value.code == "empty_period"


@pytest.mark.parametrize("metric", ["gmv", "orders", "aov", "conversion_rate"])
def test_queries_are_portable(metric: str) -> None:
    for by in ("channel,user_type", "platform", "province"):
        sql = build_explain_sql(ExplainParams.create(metric, "2026-10", by=by))
        check(sql)
        assert to_spark(sql)
    check(build_explain_sql(ExplainParams.create("gmv", "2026-10", by="category,sales_channel")))
