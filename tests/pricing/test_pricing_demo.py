"""On a demo business: the planted competitor cuts produce exactly the expected proposals (computed here
with pandas from the warehouse tables). The optimiser's demo check is tests/budgets/test_budget_demo.py."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from jingyun import pricing
from jingyun.config import Settings, load_settings
from jingyun.demo.build import build
from jingyun.demo.params import DemoParams
from jingyun.store import Store, open_store
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import open_backend

PAID = ("paid", "shipped", "completed", "refunded", "returned")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("pricing_demo")
    settings = load_settings(home)
    result = build(settings, DemoParams(users=6000, days=365, seed=7))
    truth = json.loads(Path(result.truth_path).read_text(encoding="utf-8"))
    yield settings, truth


def _expected(wh: Warehouse, cut: dt.date, tz: str) -> set[tuple[str, str]]:
    products = wh.con.execute("SELECT product_id, category, price, cost FROM products").df()
    inv = wh.con.execute("SELECT snapshot_date, product_id, quantity FROM inventory").df()
    inv["snapshot_date"] = pd.to_datetime(inv["snapshot_date"]).dt.date
    inv = inv[inv["snapshot_date"] <= cut]
    latest = inv[inv["snapshot_date"] == inv.groupby("product_id")["snapshot_date"].transform("max")]
    stock = latest.groupby("product_id")["quantity"].sum()
    orders = wh.con.execute("SELECT order_id, ts, status, is_test FROM orders").df()
    items = wh.con.execute("SELECT order_id, product_id, quantity FROM order_items").df()
    local = pd.to_datetime(orders["ts"]).dt.tz_localize("UTC").dt.tz_convert(tz).dt.date
    keep = orders[orders["status"].isin(PAID) & ~orders["is_test"].fillna(False).astype(bool)
                  & (local > cut - dt.timedelta(days=28)) & (local <= cut)]
    units = items[items["order_id"].isin(keep["order_id"])].groupby("product_id")["quantity"].sum()
    out = set()
    for row in products.itertuples():
        if row.category != "美妆":
            continue
        price, cost = Decimal(str(row.price)), Decimal(str(row.cost))
        daily = float(units.get(row.product_id, 0)) / 28
        s = int(stock.get(row.product_id, 0))
        if s <= 0 or (daily > 0 and s / daily < 14):
            continue
        floor = (cost * Decimal("1.10")).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
        capped = (price * Decimal("0.97")).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
        if max(floor, capped) < price:  # the rival's new price is 18 % lower: below the 3 % cap
            out.add((row.product_id, f"{max(floor, capped):.2f}"))
    return out


def test_planted_cuts_give_exactly_the_expected_proposals(demo: tuple[Settings, dict[str, Any]]) -> None:
    settings, truth = demo
    cut = dt.date.fromisoformat(truth["pricing"]["cut_date"])
    store: Store = open_store(settings)
    moves = pricing.competitor_moves(store)
    changes = {(m.competitor, m.change.quantize(Decimal("0.01"))) for m in moves}
    assert changes <= {("rival_a", Decimal("-0.18")), ("rival_b", Decimal("0.08"))}  # 5 % and 4 % do not fire
    assert {m.observed_at.date() for m in moves} == {cut - dt.timedelta(days=1)}  # local midnight is 16:00 UTC
    with Warehouse.open(settings, read_only=True) as wh:
        engine = open_backend(settings, warehouse=wh)
        expected = _expected(wh, cut, settings.timezone)
        # the approvals need the demo's organisation: a marketing manager submits them
        made = pricing.propose(store, settings, engine, requester="chen.mkt.mgr")
    assert len(expected) >= 5
    assert {(p.product_id, f"{p.proposed:.2f}") for p in made} == expected
    assert all(p.competitor == "rival_a" and p.status == "pending" for p in made)
