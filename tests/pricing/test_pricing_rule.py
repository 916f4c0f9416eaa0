"""The pricing rule never goes below the floor, never cuts more than 3 %, and fires only above a 5 % move."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jingyun.pricing.rules import Rule, decide, floor_price

RULE = Rule("r")
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)


@settings(max_examples=400, deadline=None)
@given(current=money, cost=money, before=money, after=money, stock=st.integers(0, 10_000),
       daily=st.floats(0, 500), floor_pct=st.decimals(min_value=0, max_value=2, places=4))
def test_never_below_floor_never_more_than_max_cut(current: Decimal, cost: Decimal, before: Decimal, after: Decimal,
                                                   stock: int, daily: float, floor_pct: Decimal) -> None:
    rule = Rule("r", margin_floor=floor_pct)
    d = decide(rule, current=current, cost=cost, stock=stock, daily_units=daily, competitor_before=before,
               competitor_after=after)
    if d is None:
        return
    assert d.proposed >= cost * (1 + floor_pct)  # never below cost × (1 + margin floor)
    assert d.proposed >= current * Decimal("0.97")  # never cuts more than 3 %
    assert d.proposed < current
    assert (before - after) / before > Decimal("0.05")  # fired on a cut beyond 5 %
    assert daily == 0 or stock / daily >= rule.min_cover_days


def test_move_threshold_boundary_is_exact() -> None:
    args: dict[str, Any] = {"current": Decimal("100.00"), "cost": Decimal("50.00"), "stock": 100, "daily_units": 1.0}
    assert decide(RULE, competitor_before=Decimal("100.00"), competitor_after=Decimal("95.00"), **args) is None
    d = decide(RULE, competitor_before=Decimal("100.00"), competitor_after=Decimal("94.99"), **args)
    assert d is not None and d.proposed == Decimal("97.00")  # the full 3 %, above the competitor's 94.99
    # a rise is never a cut
    assert decide(RULE, competitor_before=Decimal("100.00"), competitor_after=Decimal("120.00"), **args) is None


def test_stock_cover_floor_and_competitor_bound() -> None:
    cut: dict[str, Any] = {"competitor_before": Decimal("100.00"), "competitor_after": Decimal("80.00")}
    # covers 13.9 days < 14: no proposal; exactly 14 days: proposal
    assert decide(RULE, current=Decimal("100.00"), cost=Decimal("10"), stock=139, daily_units=10.0, **cut) is None
    assert decide(RULE, current=Decimal("100.00"), cost=Decimal("10"), stock=140, daily_units=10.0, **cut) is not None
    # floor 89.10 × 1.10 = 98.01 binds above 97.00
    d = decide(RULE, current=Decimal("100.00"), cost=Decimal("89.10"), stock=500, daily_units=1.0, **cut)
    assert d is not None and d.proposed == Decimal("98.01") == floor_price(Decimal("89.10"), Decimal("0.10"))
    # floor at or above our price: nothing to propose
    assert decide(RULE, current=Decimal("100.00"), cost=Decimal("91.00"), stock=500, daily_units=1.0, **cut) is None
    # the competitor's new price above ours less 3 %: meet it, do not undercut
    d = decide(RULE, current=Decimal("100.00"), cost=Decimal("10"), stock=500, daily_units=1.0,
               competitor_before=Decimal("110.00"), competitor_after=Decimal("98.50"))
    assert d is not None and d.proposed == Decimal("98.50")
    # 99.99 × 0.97 = 96.9903 rounds UP to 97.00: 96.99 would cut 3.0003 %
    d = decide(RULE, current=Decimal("99.99"), cost=None, stock=5, daily_units=0.0, **cut)
    assert d is not None and d.proposed == Decimal("97.00")
