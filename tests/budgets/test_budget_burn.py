"""Burn-down and over-spend on a hand-built marketing_spend, exact to the fen, by local day."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from jingyun import budgets
from jingyun.budgets import LineSpec
from jingyun.config import Settings
from jingyun.store import Store
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import open_backend

ROWS = [
    ("2026-09-30", "feed_ads", "fa_always_on", "999.00"),  # before the period
    ("2026-10-01", "feed_ads", "fa_always_on", "100.10"),
    ("2026-10-01", "feed_ads", "fa_gold", "50.05"),
    ("2026-10-01", "search", "se_always_on", "200.00"),
    ("2026-10-02", "search", "se_brand", "300.33"),  # the campaign line
    ("2026-10-02", "kol", "kol_a", "77.00"),  # no line plans kol
    ("2026-10-04", "feed_ads", "fa_always_on", "0.01"),
    ("2026-10-11", "feed_ads", "fa_always_on", "5000.00"),  # after the period
]


def _load(wh: Warehouse) -> None:
    wh.con.executemany("INSERT INTO marketing_spend (date, channel, campaign_id, spend) "
                       "VALUES (CAST(? AS DATE), ?, ?, CAST(? AS DECIMAL(18,2)))", ROWS)


def test_burn_down_and_overspend_exact(settings: Settings, store: Store, wh: Warehouse) -> None:
    _load(wh)
    b = budgets.plan(store, key="oct", total="3000", period_start="2026-10-01", period_end="2026-10-10",
                     reserve_pct="0", lines=[LineSpec.parse("marketing/feed_ads=1000"),
                                             LineSpec.parse("marketing/search=1700"),
                                             LineSpec.parse("growth/search/se_brand=300")])
    engine = open_backend(settings, warehouse=wh)
    st = budgets.status(engine, b, as_of=dt.date(2026, 10, 4))
    by = {(ls.line.department, ls.line.channel, ls.line.campaign): ls for ls in st.lines}
    assert by[("marketing", "feed_ads", "")].actual == Decimal("150.16")
    assert by[("marketing", "search", "")].actual == Decimal("200.00")
    assert by[("growth", "search", "se_brand")].actual == Decimal("300.33")
    assert st.unplanned == {"kol": Decimal("77.00")}
    assert [(d.day.day, d.planned_cumulative, d.actual, d.actual_cumulative, d.remaining) for d in st.burn] == [
        (1, Decimal("300.00"), Decimal("350.15"), Decimal("350.15"), Decimal("2649.85")),
        (2, Decimal("600.00"), Decimal("300.33"), Decimal("650.48"), Decimal("2349.52")),
        (3, Decimal("900.00"), Decimal("0.00"), Decimal("650.48"), Decimal("2349.52")),
        (4, Decimal("1200.00"), Decimal("0.01"), Decimal("650.49"), Decimal("2349.51")),
    ]
    # se_brand (300 for 10 days) spent 300.33 by day 2: over its money; on day 1 nothing was over
    found = budgets.overspend(engine, [b], as_of=dt.date(2026, 10, 2))
    assert [(f.channel, f.campaign, f.kind, f.over_by) for f in found] == [("search", "se_brand", "over",
                                                                             Decimal("0.33"))]
    # pace on day 1: feed_ads 150.15 against 100.00 planned and search 200.00 against 170.00 are more than 10 %
    # ahead; se_brand has spent nothing yet
    pace = budgets.overspend(engine, [b], as_of=dt.date(2026, 10, 1))
    assert [(f.channel, f.kind, f.actual, f.planned_to_date) for f in pace] == [
        ("feed_ads", "pace", Decimal("150.15"), Decimal("100.00")), ("search", "pace", Decimal("200.00"),
                                                                    Decimal("170.00"))]
    # 17.6 % ahead is not ahead by more than 20 %
    assert [f.channel for f in budgets.overspend(engine, [b], as_of=dt.date(2026, 10, 1),
                                                 pace_tolerance=Decimal("0.20"))] == ["feed_ads"]
    assert [f.channel for f in budgets.overspend_findings(store, engine, as_of=dt.date(2026, 10, 2))] == ["search"]
