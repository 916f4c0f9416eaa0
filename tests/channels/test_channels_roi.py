"""Channel ROI, CAC, LTV and the value-cost matrix on tiny tables worked out by hand."""

from __future__ import annotations

import pytest
from channel_rows import insert, orders, touches, users

from jingyun.analysis.channels import ChannelParams, attribution_conversions, build_channels_sql, run_channels
from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend
from jingyun.warehouse.portable import check, to_spark


@pytest.fixture
def shop(wh: Warehouse) -> None:
    users(wh, [("u1", "2026-03-01 00:00:00", "feed"), ("u2", "2026-03-01 00:00:00", "feed"),
               ("u3", "2026-03-01 00:00:00", "search"), ("u4", "2026-03-01 00:00:00", "organic"),
               ("u5", "2026-01-01 00:00:00", "feed"), ("u6", "2026-03-01 00:00:00", "search")])
    insert(wh, "products", ("product_id", "category", "price", "cost"), [("P1", "美妆", 100, 30), ("P2", "食品", 50, 10)])
    orders(wh, [
        ("o1", "u1", "2026-03-05 02:00:00", 100), ("o2", "u1", "2026-03-20 02:00:00", 50),
        ("o3", "u2", "2026-03-10 02:00:00", 200), ("o4", "u2", "2026-03-12 02:00:00", 80, "refunded"),
        ("o5", "u3", "2026-03-15 02:00:00", 120), ("o6", "u4", "2026-03-02 02:00:00", 40),
        ("o7", "u5", "2026-02-01 02:00:00", 70), ("o8", "u5", "2026-03-03 02:00:00", 60),
        # 2026-03-31 17:00 UTC is 04-01 01:00 in Shanghai: outside March.
        ("o9", "u6", "2026-03-31 17:00:00", 20),
    ])
    insert(wh, "order_items", ("order_id", "line_no", "product_id", "quantity"), [
        ("o1", 1, "P1", 1), ("o2", 1, "P2", 1), ("o3", 1, "P1", 2), ("o4", 1, "P1", 1),
        ("o5", 1, "P1", 1), ("o5", 2, "P2", 1), ("o8", 1, "P2", 1), ("o9", 1, "P1", 1),
    ])
    insert(wh, "marketing_spend", ("date", "channel", "campaign_id", "spend"), [
        ("2026-03-01", "feed", "f1", 300), ("2026-03-31", "feed", "f1", 100), ("2026-02-28", "feed", "f1", 999),
        ("2026-03-10", "search", "s1", 240), ("2026-03-05", "kol", "k1", 100),
    ])


def test_channel_report_by_hand(backend: DuckDBBackend, shop: None) -> None:
    r = run_channels(backend, ChannelParams.create("2026-03-01", "2026-03-31", ltv_days=10))
    got = {c.channel: c for c in r.channels}
    feed, search, kol, organic = got["feed"], got["search"], got["kol"], got["organic"]
    # feed: u1, u2 are new (u5 bought in February); revenue o1+o2+o3+o8, cost 30+10+60+10.
    assert (feed.spend, feed.new_customers, feed.cac) == (400, 2, 200)
    assert (feed.revenue, feed.gross_profit, feed.roi, feed.roas) == (410, 300, 0.75, 1.025)
    # LTV within 10 days: u1 100 (o2 is 15 days later), u2 200 (o4 refunded).
    assert (feed.ltv, feed.ltv_cac) == (150, 0.75)
    assert (search.spend, search.new_customers, search.cac, search.revenue, search.gross_profit) == (240, 1, 240, 120, 80)
    assert (search.roi, search.roas, search.ltv, search.ltv_cac) == (round(80 / 240, 6), 0.5, 120, 0.5)
    assert (kol.spend, kol.new_customers, kol.cac, kol.ltv, kol.roi) == (100, 0, None, None, 0)
    assert (organic.spend, organic.new_customers, organic.cac, organic.roi, organic.ltv) == (0, 1, 0, None, 40)
    # Medians over paid channels with customers: value (150+120)/2 = 135, cost (200+240)/2 = 220.
    assert (r.value_threshold, r.cost_threshold) == (135, 220)
    assert (feed.quadrant, feed.quadrant_zh, search.quadrant, kol.quadrant, organic.quadrant) == (
        "star", "明星渠道", "problem", "problem", None)
    assert r.quadrants == {"star": ["feed"], "potential": [], "watch": [], "problem": ["search", "kol"]}
    assert [c.channel for c in r.channels] == ["feed", "search", "kol", "organic"]
    assert [c.rank for c in r.channels] == [1, 2, 3, 4]
    assert r.totals["spend"] == 740 and r.totals["new_customers"] == 4 and r.totals["revenue"] == 570


def test_thresholds_move_quadrants(backend: DuckDBBackend, shop: None) -> None:
    r = run_channels(backend, ChannelParams.create("2026-03-01", "2026-03-31", ltv_days=10, value_threshold=100,
                                                   cost_threshold=199))
    q = {c.channel: c.quadrant for c in r.channels}
    assert q == {"feed": "potential", "search": "potential", "kol": "problem", "organic": None}


def test_channel_report_by_attribution(backend: DuckDBBackend, shop: None, wh: Warehouse) -> None:
    touches(wh, [("u1", "2026-03-04 00:00:00", "feed"), ("u2", "2026-03-09 00:00:00", "search")])
    r = run_channels(backend, ChannelParams.create("2026-03-01", "2026-03-31", acquisition="attribution",
                                                   model="last_touch", ltv_days=10))
    got = {c.channel: (c.new_customers, c.revenue, c.gross_profit, c.ltv) for c in r.channels}
    # First orders: u1 → feed, u2 → search; u3, u4 untouched. Orders: o1, o2 → feed; o3 → search.
    assert got["feed"] == (1, 150, 110, 100)
    assert got["search"] == (1, 200, 140, 200)
    assert got["(none)"] == (2, 220, 170, 80)  # o5, o6, o8: profit 80 + 40 + 50
    assert got["kol"] == (0, 0, 0, None)
    assert r.model == "last_touch" and r.totals["new_customers"] == 4


def test_queries_are_portable() -> None:
    p = ChannelParams.create("2026-03-01", "2026-03-31")
    for sql in (build_channels_sql(p), attribution_conversions(p, "first"), attribution_conversions(p, "profit")):
        check(sql)
        assert to_spark(sql)


def test_bad_params() -> None:
    with pytest.raises(JingyunError) as err:
        ChannelParams.create(acquisition="magic")
    assert err.value.field == "acquisition"
    with pytest.raises(JingyunError) as err:
        ChannelParams.create(ltv_days=0)
    assert err.value.field == "ltv_days"
