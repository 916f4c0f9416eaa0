"""The planted GMV fall of the driver month (业绩下滑), deep enough for the demo's yellow alert.

The planted driver (short_video new users stop converting, demo/users.py) alone moves company GMV by
only about 5 % against the month before, and at some sizes October's natural growth hides it, so the
``gmv-mom`` rule (yellow at a 10 % drop, red at 20 %) would show at best blue. On top of the driver,
the month has a broad lull: repeat orders of every channel are lost, at random, until company GMV
(test accounts excluded) stands ``month_drop`` below the month before.

Why spread over every channel: the driver stays the largest single cause (its channel loses the
most, and short_video/new stays the largest negative segment), which is what the diagnosis must name.
Why repeat orders only, never the last one before a dropout: a customer's first order (their BG/NBD
birth) and the order after which they churned (``churned_at``) stay as planted; the truth's repeat
counts are lowered by what was lost.

A month whose GMV already falls by ``month_drop`` or more is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jingyun.demo.params import DemoParams, Truths
from jingyun.demo.purchases import Churn, Orders
from jingyun.demo.timeline import Calendar
from jingyun.demo.users import Users, driver_months

REPEAT = 1  # Orders.kind of a repeat purchase


@dataclass(frozen=True)
class Dip:
    target: float  # the planted fall of company GMV, month against the month before
    lost_orders: int
    lost_value: float  # CNY, before order details (the written amounts differ by rounding only)


def _month_mask(cal: Calendar, orders: Orders, users: Users, lo: int, hi: int) -> np.ndarray:
    day = cal.day_of_ts(orders.ts_ms)
    return (day >= lo) & (day <= hi) & ~users.is_test[orders.user]


def plant_dip(orders: Orders, churn: Churn, users: Users, params: DemoParams, truths: Truths,
              cal: Calendar, rng: np.random.Generator) -> tuple[Orders, Dip]:
    """Orders without the lost ones; ``churn.repeat_count`` is lowered in place to match."""
    target = truths.driver.month_drop
    prev, start, end = driver_months(params)
    first = cal.first_date
    lo_prev, lo, hi = ((d - first).days for d in (prev, start, end))
    before = float(orders.value[_month_mask(cal, orders, users, max(lo_prev, 0), lo - 1)].sum())
    in_month = _month_mask(cal, orders, users, lo, hi)
    excess = float(orders.value[in_month].sum()) - (1 - target) * before
    if before <= 0 or excess <= 0:
        return orders, Dip(target, 0, 0.0)
    last_before_dropout = (churn.drop_ms[orders.user] == orders.ts_ms) & (orders.kind == REPEAT)
    eligible = np.flatnonzero(in_month & (orders.kind == REPEAT) & ~last_before_dropout)
    eligible = rng.permutation(eligible)
    # lose orders in random order until the month is down to the target (the last one may overshoot by
    # less than one order's value)
    upto = int(np.searchsorted(np.cumsum(orders.value[eligible]), excess)) + 1
    lost = eligible[:upto]
    keep = np.ones(len(orders.user), dtype=bool)
    keep[lost] = False
    np.subtract.at(churn.repeat_count, orders.user[lost], 1)
    kept = Orders(*(getattr(orders, f)[keep] for f in ("user", "ts_ms", "value", "platform", "kind")))
    return kept, Dip(target, len(lost), round(float(orders.value[lost].sum()), 2))
