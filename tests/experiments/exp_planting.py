"""A planted experiment in the warehouse, with its per-user truth computed in Python."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from jingyun.experiments.assignment import assign
from jingyun.experiments.definition import Experiment
from jingyun.warehouse import Warehouse

BASE = dt.datetime(2026, 3, 1, 2, 0, 0)  # naive UTC


@dataclass
class Planted:
    """Per-user truth, computed in Python independently of the SQL."""

    variation: np.ndarray
    conv: np.ndarray  # pay within 7 days of first exposure
    rev: np.ndarray  # non-cancelled order amount in the window
    orders: np.ndarray
    pre_conv: np.ndarray
    day: np.ndarray  # local (Asia/Shanghai) exposure date


def plant(wh: Warehouse, exp: Experiment, n: int, base_rate: float, rel_lift: float, seed: int = 7) -> Planted:
    """Users exposed over 5 days; pay and orders with a planted relative lift.

    Pre-period behaviour shares each user's latent propensity, so CUPED has a
    correlated covariate. Noise rows the SQL must ignore: a second exposure to
    another variation, test users, cancelled orders, pay events after the
    window, another experiment's exposures.
    """
    rng = np.random.default_rng(seed)
    users = [f"u{i}" for i in range(n)]
    variation = np.array([assign(u, exp).variation for u in users])
    t0 = [BASE + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 5 * 24 * 60, n)]
    heavy = rng.random(n) < 0.3
    p = np.where(heavy, base_rate * 2.5, base_rate * 0.357)
    p_post = np.where(variation == "treatment", p * (1 + rel_lift), p)
    pre = rng.random(n) < p
    post = rng.random(n) < p_post
    amount = np.round(rng.gamma(4.0, 25.0, n), 2)
    ev_ids, ev_users, ev_names, ev_ts, ev_props, ev_test = [], [], [], [], [], []
    o_ids, o_users, o_ts, o_amount, o_status = [], [], [], [], []

    def event(uid: str, name: str, ts: dt.datetime, props: dict[str, str] | None = None, test: bool = False) -> None:
        ev_ids.append(f"e{len(ev_ids)}")
        ev_users.append(uid)
        ev_names.append(name)
        ev_ts.append(ts)
        ev_props.append(json.dumps(props or {}))
        ev_test.append(test)

    for i, u in enumerate(users):
        event(u, "exp_exposure", t0[i], {"experiment": exp.key, "variation": str(variation[i])})
        other = "control" if variation[i] == "treatment" else "treatment"
        event(u, "exp_exposure", t0[i] + dt.timedelta(hours=1), {"experiment": exp.key, "variation": other})
        if i % 10 == 0:
            event(u, "exp_exposure", t0[i], {"experiment": "other_exp", "variation": "treatment"})
        if pre[i]:
            event(u, "pay", t0[i] - dt.timedelta(days=3))
        if post[i]:
            event(u, "pay", t0[i] + dt.timedelta(days=2))
            o_ids.append(f"o{len(o_ids)}"), o_users.append(u), o_ts.append(t0[i] + dt.timedelta(days=2))
            o_amount.append(float(amount[i])), o_status.append("paid")
            o_ids.append(f"o{len(o_ids)}"), o_users.append(u), o_ts.append(t0[i] + dt.timedelta(days=1))
            o_amount.append(999.0), o_status.append("cancelled")
        if i % 7 == 0:
            event(u, "pay", t0[i] + dt.timedelta(days=8))  # outside the 7-day window
    for j in range(20):  # test accounts: exposed and converting, must be excluded
        event(f"test_{j}", "exp_exposure", BASE, {"experiment": exp.key, "variation": "treatment"}, test=True)
        event(f"test_{j}", "pay", BASE + dt.timedelta(hours=1), test=True)
    events = pa.table({
        "event_id": ev_ids, "user_id": ev_users, "event": ev_names,
        "ts": pa.array(ev_ts, pa.timestamp("us")), "properties": ev_props, "is_test": ev_test,
    })
    orders = pa.table({
        "order_id": o_ids, "user_id": o_users, "ts": pa.array(o_ts, pa.timestamp("us")),
        "amount": o_amount, "status": o_status,
    })
    wh.con.register("_ev", events)
    wh.con.register("_od", orders)
    wh.con.execute(
        "INSERT INTO events (event_id, user_id, event, ts, properties, person_id, is_test) "
        "SELECT event_id, user_id, event, ts, CAST(properties AS JSON), user_id, is_test FROM _ev"
    )
    wh.con.execute(
        "INSERT INTO orders (order_id, user_id, ts, amount, status, person_id, is_test) "
        "SELECT order_id, user_id, ts, CAST(amount AS DECIMAL(18,2)), status, user_id, false FROM _od"
    )
    wh.con.unregister("_ev")
    wh.con.unregister("_od")
    local = [(t + dt.timedelta(hours=8)).date() for t in t0]
    return Planted(
        variation, post.astype(float), np.where(post, amount, 0.0), post.astype(float), pre.astype(float),
        np.array(local),
    )
