"""The A/B test ``checkout_copy_v2`` with a planted lift.

Exposed users are split 50/50 by a hash of their id. A user converts when a
``pay`` event follows within ``conversion_days`` of the exposure. Some convert
anyway (their BG/NBD purchases fall in the window); the rest convert with the
probability that brings each arm to its planted rate, through an extra order
("induced" by the experience). Both arms share the natural conversions, so the
difference between arms is the planted lift plus sampling noise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from jingyun.demo.params import PLATFORMS, Truths
from jingyun.demo.purchases import Churn, Orders
from jingyun.demo.timeline import DAY_S, Calendar
from jingyun.demo.users import Users

DAY_MS = DAY_S * 1000
VARIATIONS = ("control", "treatment")


def variation_of(key: str, user_id: str) -> int:
    """0 control / 1 treatment: md5(key + ':' + user_id), first 8 hex digits, mod 100 < 50 → control."""
    h = int(hashlib.md5(f"{key}:{user_id}".encode()).hexdigest()[:8], 16)
    return 0 if h % 100 < 50 else 1


@dataclass
class Exposure:
    user: np.ndarray
    ts_ms: np.ndarray
    variation: np.ndarray
    window_start_ms: int
    window_end_ms: int


def window(truths: Truths, cal: Calendar, before_day: int) -> tuple[int, int]:
    """Exposure window: ``window_days`` ending a week before ``before_day``.

    The induced orders must not move the GMV of the months the diagnosis
    driver compares, so the window closes (with its 7-day conversion tail)
    before the previous month starts — when the period is long enough.
    """
    ab = truths.ab
    end_day = min(before_day - ab.conversion_days, cal.n_days - ab.conversion_days - 1)
    start_day = max(cal.period_start, end_day - ab.window_days)
    end_day = max(end_day, start_day + 7)
    return int(cal.midnight_ms[start_day]), int(cal.midnight_ms[end_day])


def plant_experiment(
    users: Users, orders: Orders, churn: Churn, truths: Truths, cal: Calendar, before_day: int,
    rng: np.random.Generator,
) -> tuple[Exposure, np.ndarray, np.ndarray]:
    """Exposures, and the (user, ts) of induced orders to add."""
    ab = truths.ab
    w0, w1 = window(truths, cal, before_day)
    n = users.n
    ex_ms = w0 + (rng.random(n) * (w1 - w0)).astype(np.int64)
    alive = (churn.drop_ms < 0) | (churn.drop_ms > ex_ms)
    eligible = (users.reg_ms < w0) & alive & ~users.is_test & (users.main_platform != PLATFORMS.index("pos"))
    exposed = np.flatnonzero(eligible & (rng.random(n) < ab.exposure_share))
    ex_ms = ex_ms[exposed]
    var = np.array([variation_of(ab.key, str(users.user_id[u])) for u in exposed], dtype=np.int64)

    natural = converted_by(orders.user, orders.ts_ms, exposed, ex_ms, ab.conversion_days)
    induced_user, induced_ms = [], []
    for v, rate in ((0, ab.control_rate), (1, ab.treatment_rate)):
        arm = var == v
        nat = natural[arm].mean() if arm.any() else 0.0
        q = max(0.0, (rate - nat) / (1 - nat)) if nat < 1 else 0.0
        add = arm & ~natural & (rng.random(len(exposed)) < q)
        induced_user.append(exposed[add])
        # Converts after the exposure, inside the window (payment lands within minutes of the order).
        delay = rng.uniform(600_000, ab.conversion_days * DAY_MS - 3_600_000, int(add.sum())).astype(np.int64)
        induced_ms.append(ex_ms[add] + delay)
    return (
        Exposure(exposed, ex_ms, var, w0, w1),
        np.concatenate(induced_user),
        np.concatenate(induced_ms),
    )


def converted_by(order_user: np.ndarray, order_ms: np.ndarray, user: np.ndarray, since_ms: np.ndarray, days: int) -> np.ndarray:
    """For each (user, since): is there an order in (since, since + days]?"""
    base = int(min(order_ms.min(initial=0), since_ms.min(initial=0))) - 1
    span = 10**12  # ms keys stay below this for a few decades
    key = order_user.astype(np.int64) * span + (order_ms - base)
    key.sort()
    lo = user.astype(np.int64) * span + (since_ms - base)
    hi = lo + days * DAY_MS
    return np.searchsorted(key, hi, side="right") > np.searchsorted(key, lo, side="right")
