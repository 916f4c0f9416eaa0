"""The reserve pool (15 % by default) cannot be planned or spent until an approval releases it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jingyun import approvals, budgets
from jingyun.budgets import LineSpec
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store import Store

LINES = [LineSpec.parse("marketing/feed_ads=500000"), LineSpec.parse("marketing/search=350000")]


def _plan(store: Store, lines: list[LineSpec]) -> budgets.Budget:
    return budgets.plan(store, key="Q4", total="1000000", period_start="2026-10-01", period_end="2026-12-31",
                        lines=lines, created_by="alice")


def test_lines_may_plan_up_to_the_total_less_the_reserve_exactly(store: Store) -> None:
    b = _plan(store, LINES)  # 850,000 = 1,000,000 − 15 %
    assert b.reserve == Decimal("150000.00") and b.allocatable == Decimal("850000.00")
    assert b.planned == Decimal("850000.00") and b.reserve_left == Decimal("150000.00")
    with pytest.raises(JingyunError) as err:
        _plan(store, [LineSpec.parse("marketing/feed_ads=500000.01"), LineSpec.parse("marketing/search=350000")])
    assert err.value.code == "reserve_locked" and err.value.field == "lines"
    assert budgets.get(store, "Q4").planned == Decimal("850000.00")  # the refused plan changed nothing


def test_release_moves_money_only_after_approval(store: Store, settings: Settings) -> None:
    _plan(store, LINES)
    rel = budgets.request_release(store, settings, key="Q4", line="marketing/search", amount="100000",
                                  reason="search ROI above plan", requested_by="alice")
    assert rel.status == "pending"
    b = budgets.get(store, "Q4")
    assert b.released == 0 and next(ln for ln in b.lines if ln.channel == "search").available == Decimal("350000.00")
    # asking for more than is left (150,000 − 100,000 pending) is refused
    with pytest.raises(JingyunError) as err:
        budgets.request_release(store, settings, key="Q4", line="marketing/feed_ads", amount="50000.01",
                                reason="x", requested_by="alice")
    assert err.value.code == "reserve_exceeded"
    # the requester cannot approve it; the finance director can
    with pytest.raises(JingyunError):
        approvals.decide(store, settings, rel.approval_id or 0, actor="alice", decision="approve")
    approvals.decide(store, settings, rel.approval_id or 0, actor="fdir", decision="approve")
    b = budgets.get(store, "Q4")
    search = next(ln for ln in b.lines if ln.channel == "search")
    assert search.available == Decimal("450000.00") and search.released == Decimal("100000.00")
    assert b.reserve_left == Decimal("50000.00")
    assert b.releases[0].status == "approved"
    # applying twice (callback and sync) moves the money once
    budgets.sync_releases(store)
    assert budgets.get(store, "Q4").reserve_left == Decimal("50000.00")


def test_rejected_release_leaves_the_reserve_whole(store: Store, settings: Settings) -> None:
    _plan(store, LINES)
    rel = budgets.request_release(store, settings, key="Q4", line="marketing/feed_ads", amount="150000",
                                  reason="618", requested_by="alice")
    approvals.decide(store, settings, rel.approval_id or 0, actor="fdir", decision="reject")
    b = budgets.get(store, "Q4")
    assert b.reserve_left == Decimal("150000.00") and b.releases[0].status == "rejected"
    assert next(ln for ln in b.lines if ln.channel == "feed_ads").available == Decimal("500000.00")


def test_bad_plans_name_the_field(store: Store) -> None:
    with pytest.raises(JingyunError) as err:
        LineSpec.parse("feed_ads=100")
    assert err.value.field == "line"
    with pytest.raises(JingyunError) as err:
        budgets.plan(store, key="x", total="100", period_start="2026-10-02", period_end="2026-10-01", lines=[])
    assert err.value.field == "to"
    with pytest.raises(JingyunError) as err:
        budgets.plan(store, key="x", total="100", period_start="2026-10-01", period_end="2026-10-02", lines=[],
                     reserve_pct="101")
    assert err.value.field == "reserve"
    with pytest.raises(JingyunError) as err:
        _plan(store, [LineSpec.parse("marketing/kol=1"), LineSpec.parse("brand/kol=1")])
    assert err.value.code == "ambiguous_channel"
