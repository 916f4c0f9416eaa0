"""The small business the shared engine suite runs on (tests/test_engines.py): seeded, hand-sized."""

from __future__ import annotations

import datetime as dt

import numpy as np

from jingyun.warehouse import Warehouse

START = dt.datetime(2026, 10, 1, 2)


def load_business(wh: Warehouse) -> None:
    """About 1,500 events, 80 people and 200 orders over ten days, every order status, a few test accounts."""
    rng = np.random.default_rng(17)
    events = []
    for i in range(1500):
        user = f"u{rng.integers(0, 80)}"
        ts = START + dt.timedelta(minutes=int(rng.integers(0, 10 * 144)) * 10)
        name = str(rng.choice(["view", "cart", "pay", "home"], p=[0.45, 0.25, 0.15, 0.15]))
        events.append((f"e{i:05d}", user, name, ts, str(rng.choice(["app", "web"])),
                       f'{{"price": {int(rng.integers(0, 200))}}}', user, i % 151 == 0))
    wh.con.executemany("INSERT INTO events (event_id, user_id, event, ts, platform, properties, person_id, is_test) "
                       "VALUES (?, ?, ?, ?, ?, CAST(? AS JSON), ?, ?)", events)
    wh.con.executemany("INSERT INTO users (user_id, registered_at, channel, person_id, is_test) VALUES (?, ?, ?, ?, ?)",
                       [(f"u{i}", START + dt.timedelta(hours=3 * i), ["ads", "seo", None][i % 3], f"u{i}", i == 79)
                        for i in range(80)])
    statuses = ["paid", "paid", "paid", "shipped", "completed", "created", "cancelled", "refunded"]
    wh.con.executemany("INSERT INTO orders (order_id, user_id, ts, amount, status, person_id, is_test) "
                       "VALUES (?, ?, ?, CAST(? AS DECIMAL(18,2)), ?, ?, FALSE)",
                       [(f"o{i:04d}", f"u{(u := int(rng.integers(0, 80)))}",
                         START + dt.timedelta(hours=int(rng.integers(0, 240))), f"{rng.integers(100, 99999) / 100:.2f}",
                         statuses[i % len(statuses)], f"u{u}") for i in range(200)])
