"""The small business the shared engine suite runs on (tests/test_engines.py): seeded, hand-sized."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from jingyun.warehouse import Warehouse

START = dt.datetime(2026, 10, 1, 2)


def engine_gap(engine: str, capability: str | None = None, *, reason: str | None = None,
               raises: type[BaseException] | tuple[type[BaseException], ...] | None = None) -> pytest.MarkDecorator:
    """Declare that a case does not work on ``engine``. Strict, so the run fails the day it starts
    passing and the gap can be removed. Read by the ``backend`` fixture.

    Name the library's declared gap (``capability``: a key of ``jingyun.warehouse.backends.GAPS``,
    whose reason the fixture shows and which raises ``engine_gap``), or, for a gap the library does
    not declare yet, give the ``reason`` and what it ``raises``.
    """
    if capability is None and (reason is None or raises is None):
        raise TypeError("engine_gap needs a declared capability, or a reason and what it raises")
    return pytest.mark.engine_gap(engine=engine, capability=capability, reason=reason, raises=raises)


def gap_mark(engine: str, mark: pytest.Mark) -> pytest.MarkDecorator:
    from jingyun.errors import JingyunError
    from jingyun.warehouse.backends import gap

    capability = mark.kwargs.get("capability")
    if capability is None:
        return pytest.mark.xfail(reason=mark.kwargs["reason"], raises=mark.kwargs["raises"], strict=True)
    reason = gap(capability, engine)
    if reason is None:
        raise pytest.UsageError(f"{capability} on {engine} is not a declared gap (jingyun.warehouse.backends.GAPS)")
    return pytest.mark.xfail(reason=f"{capability}: {reason}", raises=JingyunError, strict=True)


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
    # an A/B test's exposures (the experiments suite): the first 60 real people, alternating variations
    wh.con.executemany("INSERT INTO events (event_id, user_id, event, ts, platform, properties, person_id, is_test) "
                       "VALUES (?, ?, 'exp_exposure', ?, 'app', CAST(? AS JSON), ?, FALSE)",
                       [(f"x{i:03d}", f"u{i}", START + dt.timedelta(hours=i),
                         f'{{"experiment": "engine_ab", "variation": "{("control", "treatment")[i % 2]}"}}', f"u{i}")
                        for i in range(60)])
    # one line per order over five products in two categories (the forecast's series)
    wh.con.execute("INSERT INTO products (product_id, name, category) VALUES ('p0', 'tea', 'food'), "
                   "('p1', 'rice', 'food'), ('p2', 'cup', 'home'), ('p3', 'bowl', 'home'), ('p4', 'pot', 'home')")
    wh.con.execute("INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price, amount) "
                   "SELECT order_id, 1, 'p' || CAST(CAST(substr(order_id, 2) AS INTEGER) % 5 AS VARCHAR), 1, amount, "
                   "amount FROM orders")
