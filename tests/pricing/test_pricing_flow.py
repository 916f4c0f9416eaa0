"""Competitor CSV → moves → rule → proposals through approvals (or applied in auto mode) → change log,
on a hand-built warehouse (products, stock, paid orders) with known answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from jingyun import approvals, pricing
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.pricing import Rule
from jingyun.store import Store
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import open_backend

CSV = """competitor,competitor_item,product_id,price,observed_at
rival_a,A-1,P1,100.00,2026-10-01
rival_a,A-1,,94.99,2026-10-08
rival_a,A-2,P2,200,2026-10-01
rival_a,A-2,P2,190.00,2026-10-08
rival_b,B-1,P1,110,2026-10-01T09:00:00+08:00
rival_b,B-1,P1,80,2026-10-08T09:00:00+08:00
rival_b,B-3,P3,50,2026-10-01
rival_b,B-3,P3,40,2026-10-08
rival_b,B-3,P3,40,2026-10-08
rival_b,B-9,,40,2026-10-08
rival_b,B-1,P2,40,2026-10-09
rival_c,C-1,P1,-3,2026-10-08
rival_c,C-1,P1,30,yesterday
"""


def _warehouse(wh: Warehouse) -> None:
    wh.con.executemany("INSERT INTO products (product_id, category, price, cost) VALUES (?, ?, CAST(? AS DECIMAL(18,2)),"
                       " CAST(? AS DECIMAL(18,2)))",
                       [("P1", "美妆", "100.00", "50.00"), ("P2", "美妆", "200.00", "100.00"),
                        ("P3", "数码", "60.00", "54.00")])
    # P1: 30 in stock at W01 + 10 at W02 on the latest snapshot; P3 only 5 units
    wh.con.executemany("INSERT INTO inventory (snapshot_date, product_id, store_id, quantity) "
                       "VALUES (CAST(? AS DATE), ?, ?, ?)",
                       [("2026-09-01", "P1", "W01", 1), ("2026-10-05", "P1", "W01", 30), ("2026-10-05", "P1", "W02", 10),
                        ("2026-10-05", "P2", "W01", 500), ("2026-10-05", "P3", "W01", 5)])
    # P1 sold 56 units in the 28 days to 10-08 (2 a day → 20 days of cover); P3 sold 28 (1 a day → 5 days)
    orders = [("o1", "u1", dt.datetime(2026, 9, 20, 2), "paid", False), ("o2", "u2", dt.datetime(2026, 10, 1, 2), "paid",
                                                                          False),
              ("o3", "t1", dt.datetime(2026, 10, 1, 2), "paid", True), ("o4", "u3", dt.datetime(2026, 10, 2), "cancelled",
                                                                         False)]
    wh.con.executemany("INSERT INTO orders (order_id, user_id, ts, amount, status, person_id, is_test) "
                       "VALUES (?, ?, ?, 1, ?, ?, ?)", [(o, u, t, s, u, x) for o, u, t, s, x in orders])
    wh.con.executemany("INSERT INTO order_items (order_id, line_no, product_id, quantity) VALUES (?, ?, ?, ?)",
                       [("o1", 1, "P1", 50), ("o2", 1, "P1", 6), ("o2", 2, "P3", 28), ("o3", 1, "P1", 999),
                        ("o4", 1, "P1", 999)])


def test_import_accounts_for_every_row(store: Store, settings: Settings) -> None:
    rep = pricing.import_csv(store, CSV, tz=settings.timezone, source_name="rivals.csv")
    assert rep.received == 13 and rep.stored == 8 and rep.duplicates == 1 and rep.matched == 4
    assert [(e.row, e.field) for e in rep.errors] == [(11, "product_id"), (12, "product_id"), (13, "price"),
                                                      (14, "observed_at")]
    assert rep.received == rep.stored + rep.duplicates + len(rep.errors)
    assert ("rival_a", "A-1", "P1") in pricing.matches(store)
    # 10-01T09:00+08:00 is stored as 01:00 UTC; a bare date is local midnight (16:00 UTC the day before)
    obs = {(c, i, at) for c, i, _p, _x, at in pricing.observations(store)}
    assert ("rival_b", "B-1", dt.datetime(2026, 10, 1, 1)) in obs
    assert ("rival_a", "A-1", dt.datetime(2026, 9, 30, 16)) in obs
    # the 5.00 % move is not beyond the threshold; 5.01 % (A-1) is; moves both ways count
    moves = {(m.competitor_item, m.change.quantize(Decimal("0.0001"))) for m in pricing.competitor_moves(store)}
    assert moves == {("A-1", Decimal("-0.0501")), ("B-1", Decimal("-0.2727")), ("B-3", Decimal("-0.2000"))}
    assert {m.competitor_item for m in pricing.competitor_moves(store, threshold=Decimal("0.25"))} == {"B-1"}


def test_dry_run_goes_through_approval_then_apply_logs_the_change(store: Store, settings: Settings,
                                                                 wh: Warehouse) -> None:
    _warehouse(wh)
    pricing.import_csv(store, CSV, tz=settings.timezone)
    pricing.save_rule(store, Rule("cut", min_cover_days=14))
    engine = open_backend(settings, warehouse=wh)
    st = pricing.product_states(store, settings, engine, ["P1", "P3"], dt.date(2026, 10, 8))
    assert st["P1"].stock == 40 and st["P1"].daily_units == 2.0 and st["P3"].daily_units == 1.0
    made = pricing.propose(store, settings, engine, requester="alice", now=dt.datetime(2026, 10, 8, 12))
    # P1 once, for the deeper of its two cuts (B-1 27 % over A-1 5.01 %): 20 days of cover ≥ 14 → 97.00;
    # P3 covers 5 days → nothing
    assert [(p.product_id, p.competitor_item, p.proposed, p.status) for p in made] == [
        ("P1", "B-1", Decimal("97.00"), "pending")]
    assert made[0].approval_id and "-27.27%" in made[0].reason
    # the next day rival_a cuts A-1 again (5.01 % → another proposal for the new move)
    pricing.import_csv(store, "competitor,competitor_item,product_id,price,observed_at\n"
                       "rival_a,A-1,,90.00,2026-10-09\n", tz=settings.timezone)
    made += pricing.propose(store, settings, engine, requester="alice", now=dt.datetime(2026, 10, 9, 12))
    assert [(p.competitor_item, p.proposed) for p in made] == [("B-1", Decimal("97.00")), ("A-1", Decimal("97.00"))]
    # idempotent: the same moves propose nothing again
    assert pricing.propose(store, settings, engine, requester="alice") == []
    first, second = sorted(made, key=lambda p: p.id)
    with pytest.raises(JingyunError) as err:
        pricing.apply(store, proposal_id=first.id, actor="mdir")
    assert err.value.code == "not_approved"
    approvals.decide(store, settings, first.approval_id or 0, actor="mdir", decision="approve")
    approvals.decide(store, settings, second.approval_id or 0, actor="mdir", decision="reject")
    applied = pricing.apply(store, actor="mdir", now=dt.datetime(2026, 10, 9, 1))
    assert [(p.id, p.status) for p in applied] == [(first.id, "applied")]
    assert pricing.get(store, second.id).status == "rejected"
    log = pricing.changes(store, "P1")
    assert [(c.old, c.new, c.source) for c in log] == [(Decimal("100.00"), Decimal("97.00"), "approval")]
    assert "competitor moved" in log[0].reason
    # our price is now the logged one
    assert pricing.product_states(store, settings, engine, ["P1"], dt.date(2026, 10, 9))["P1"].price == Decimal("97.00")
    hist = pricing.history(store, "P1")
    assert hist["ours"] == [(dt.datetime(2026, 10, 9, 1), Decimal("97.00"))] and len(hist["rival_a/A-1"]) == 3


def test_auto_mode_applies_at_once(store: Store, settings: Settings, wh: Warehouse) -> None:
    _warehouse(wh)
    pricing.import_csv(store, CSV, tz=settings.timezone)
    pricing.save_rule(store, Rule("auto", category="美妆", mode="auto", min_cover_days=14))
    engine = open_backend(settings, warehouse=wh)
    made = pricing.propose(store, settings, engine, requester="alice")
    assert {(p.product_id, p.status, p.approval_id) for p in made} == {("P1", "applied", None)}
    assert [(c.old, c.new, c.source) for c in pricing.changes(store, "P1")] == [(Decimal("100.00"), Decimal("97.00"),
                                                                                  "auto")]
    with pytest.raises(JingyunError) as err:
        pricing.save_rule(store, Rule("bad", mode="sometimes"))
    assert err.value.field == "mode"
