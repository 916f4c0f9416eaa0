"""Recommendations on a planted co-purchase structure (known answer) in a warehouse."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from jingyun.config import Settings
from jingyun.models.recommend import RecommendParams, evaluate
from jingyun.warehouse import Warehouse


def plant(wh: Warehouse, seed: int = 5) -> None:
    """600 people in 6 taste groups of 15 items; 20 best-sellers everyone buys a bit of.

    Before the split each person buys 3 items; after it, 2 more. A person's items come from
    their group with probability 0.7, else from the best-sellers (weighted): popularity alone
    finds the best-sellers, only co-purchase finds the group.
    """
    rng = np.random.default_rng(seed)
    groups, per_group, best = 6, 15, 20
    best_w = np.linspace(2.0, 1.0, best)
    best_w /= best_w.sum()
    orders, items = [], []
    start = dt.datetime(2026, 1, 1)
    for person in range(600):
        g = person % groups
        for n in range(5):
            day = rng.integers(0, 120) if n < 3 else 130 + rng.integers(0, 50)
            if rng.random() < 0.7:
                item = best + g * per_group + int(rng.integers(0, per_group))
            else:
                item = int(rng.choice(best, p=best_w))
            oid = f"o{person}_{n}"
            orders.append((oid, f"p{person}", start + dt.timedelta(days=int(day), hours=3)))
            items.append((oid, 1, f"I{item:03d}"))
    o = pa.table({"order_id": [r[0] for r in orders], "person_id": [r[1] for r in orders],
                  "ts": pa.array([r[2] for r in orders], pa.timestamp("us"))})
    i = pa.table({"order_id": [r[0] for r in items], "line_no": [r[1] for r in items],
                  "product_id": [r[2] for r in items]})
    wh.con.register("_o", o)
    wh.con.register("_i", i)
    wh.con.execute("INSERT INTO orders (order_id, user_id, person_id, ts, amount, status, is_test) "
                   "SELECT order_id, person_id, person_id, ts, 10, 'completed', FALSE FROM _o")
    wh.con.execute("INSERT INTO order_items (order_id, line_no, product_id, quantity, amount) "
                   "SELECT order_id, line_no, product_id, 1, 10 FROM _i")


def test_item_similarity_beats_popularity_on_planted_groups(settings: Settings) -> None:
    with Warehouse.open(settings, memory=True) as wh:
        plant(wh)
        split = dt.date(2026, 5, 10)  # local day; day 130 after Jan 1 is May 11
        model, ev = evaluate(wh, RecommendParams(split=split, test_days=60, k=10), split + dt.timedelta(days=60))
        assert ev.users > 400
        assert ev.model.recall > ev.popularity.recall + 0.15
        assert ev.model.precision > ev.popularity.precision
        # Cross-sell from a group item: its neighbours are mostly the same group.
        also = [i for i, _ in model.also_bought("I020", 10)]
        same_group = [i for i in also if 20 <= int(i[1:]) < 35]
        assert len(same_group) >= 7
