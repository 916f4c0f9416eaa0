"""Purchases: the BG/NBD story, Gamma-Gamma spend, then order lines and payments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jingyun.demo.catalog import Products
from jingyun.demo.params import PLATFORMS, Truths
from jingyun.demo.timeline import DAY_S, Calendar, time_of_day
from jingyun.demo.users import Users

PAYMENT_METHODS = ("alipay", "wechat", "card", "unionpay", "balance", "cash")
ONLINE_METHOD_P = np.array([0.44, 0.44, 0.06, 0.03, 0.03, 0.0])
POS_METHOD_P = np.array([0.35, 0.40, 0.10, 0.05, 0.02, 0.08])
STATUSES = ("paid", "shipped", "completed", "refunded", "returned")


@dataclass
class RepeatDraw:
    """Repeat purchases of one BG/NBD draw (times relative to each customer's birth)."""

    customer: np.ndarray  # customer index per purchase, sorted by (customer, t)
    t: np.ndarray  # operational time since birth
    dropped: np.ndarray  # per customer: dropped out within the horizon
    drop_t: np.ndarray  # per customer: time of the purchase after which it dropped (nan if alive)
    count: np.ndarray  # per customer: repeat purchases within the horizon


def simulate_repeat_purchases(
    rng: np.random.Generator, lam: np.ndarray, p: np.ndarray, horizon: np.ndarray
) -> RepeatDraw:
    """Vectorised BG/NBD: Poisson(lam) purchases on [0, horizon], dropout after each w.p. p.

    A Poisson process conditioned on its count N is N sorted uniforms, and the
    number of purchases before dropout is Geometric(p) on {1, 2, ...}; keeping
    the first min(N, K) uniforms gives exactly the BG/NBD path, without a loop.
    """
    n = len(lam)
    horizon = np.maximum(horizon, 0.0)
    n_poisson = rng.poisson(lam * horizon)
    k_alive = rng.geometric(np.clip(p, 1e-12, 1.0))
    owner = np.repeat(np.arange(n), n_poisson)
    u = rng.random(len(owner)) * horizon[owner]
    order = np.lexsort((u, owner))
    owner, u = owner[order], u[order]
    starts = np.concatenate([[0], np.cumsum(n_poisson)[:-1]])
    rank = np.arange(len(owner)) - starts[owner]
    keep = rank < k_alive[owner]
    owner, u = owner[keep], u[keep]
    count = np.minimum(n_poisson, k_alive)
    dropped = k_alive <= n_poisson
    drop_t = np.full(n, np.nan)
    last = np.concatenate([[0], np.cumsum(count)])[1:] - 1
    has = dropped & (count > 0)
    drop_t[has] = u[last[has]]
    return RepeatDraw(owner, u, dropped, drop_t, count)


def bgnbd_expected(r: float, alpha: float, a: float, b: float, t: float | np.ndarray) -> np.ndarray:
    """E[X(t)] of BG/NBD (Fader, Hardie & Lee 2005, eq. 7)."""
    from scipy.special import hyp2f1

    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


@dataclass
class Orders:
    user: np.ndarray  # user index
    ts_ms: np.ndarray  # order placed (UTC ms)
    value: np.ndarray  # Gamma-Gamma draw: the amount payable
    platform: np.ndarray  # index into PLATFORMS
    kind: np.ndarray  # 0 first purchase, 1 repeat, 2 induced by the A/B treatment


@dataclass
class Churn:
    dropped: np.ndarray  # per user
    drop_ms: np.ndarray  # per user, UTC ms of the last purchase before dropout (-1 when alive)
    repeat_count: np.ndarray


def op_time(cal: Calendar, ts_ms: np.ndarray) -> np.ndarray:
    day = cal.day_of_ts(ts_ms)
    frac = (ts_ms - cal.midnight_ms[day]) / (DAY_S * 1000)
    return cal.cum[day] + frac * cal.mult[day]


def ts_of_op(cal: Calendar, rng: np.random.Generator, op: np.ndarray) -> np.ndarray:
    """Calendar timestamp for operational times; the hour follows the daily profile."""
    day = cal.day_of_op(op)
    return cal.ts_ms(day, time_of_day(rng, len(op)))


def generate_purchases(users: Users, truths: Truths, cal: Calendar, rng: np.random.Generator) -> tuple[Orders, Churn]:
    n = users.n
    delay = rng.exponential(truths.first_purchase_delay_days, size=n) * DAY_S * 1000
    first_ms = users.reg_ms + delay.astype(np.int64)
    buys = users.customer & (first_ms < cal.end_ms)
    cust = np.flatnonzero(buys)
    birth = op_time(cal, first_ms[cust])
    horizon = cal.cum[-1] - birth
    draw = simulate_repeat_purchases(rng, users.lam[cust], users.p_drop[cust], horizon)
    rep_user = cust[draw.customer]
    rep_ts = ts_of_op(cal, rng, birth[draw.customer] + draw.t)
    # The hour is redrawn within the day, so keep a repeat after its birth order.
    rep_ts = np.maximum(rep_ts, first_ms[rep_user] + 60_000)
    user = np.concatenate([cust, rep_user])
    ts = np.concatenate([first_ms[cust], rep_ts])
    kind = np.concatenate([np.zeros(len(cust), np.int8), np.ones(len(rep_user), np.int8)])
    dropped = np.zeros(n, dtype=bool)
    dropped[cust] = draw.dropped & (draw.count > 0)
    drop_ms = np.full(n, -1, dtype=np.int64)
    has = ~np.isnan(draw.drop_t)
    # The dropout happens right after the last purchase: its timestamp marks churn.
    last_idx = np.concatenate([[0], np.cumsum(draw.count)])[1:] - 1
    drop_ms[cust[has]] = rep_ts[last_idx[has]]
    repeat_count = np.zeros(n, dtype=np.int64)
    repeat_count[cust] = draw.count
    orders = new_orders(users, user, ts, kind, truths.bgnbd.p, rng)
    return orders, Churn(dropped, drop_ms, repeat_count)


def new_orders(
    users: Users, user: np.ndarray, ts: np.ndarray, kind: np.ndarray, gg_shape: float, rng: np.random.Generator
) -> Orders:
    value = rng.gamma(gg_shape, 1.0 / users.nu[user])
    stay = rng.random(len(user)) < 0.7
    other = rng.choice(4, size=len(user), p=[0.5, 0.14, 0.26, 0.10])
    platform = np.where(stay, users.main_platform[user], other)
    return Orders(user, ts, value, platform, kind)


def concat_orders(a: Orders, b: Orders) -> Orders:
    return Orders(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in ("user", "ts_ms", "value", "platform", "kind")))


@dataclass
class OrderDetail:
    """Everything written for orders, aligned with Orders sorted by time."""

    orders: Orders
    gross: np.ndarray
    discount: np.ndarray
    amount: np.ndarray
    coupon_pct: np.ndarray  # 0 when no coupon
    status: np.ndarray  # index into STATUSES
    method: np.ndarray  # index into PAYMENT_METHODS
    store: np.ndarray  # store number for POS orders, -1 online
    pay_ms: np.ndarray
    # order lines
    line_order: np.ndarray
    line_no: np.ndarray
    line_product: np.ndarray
    line_qty: np.ndarray
    line_unit: np.ndarray
    line_amount: np.ndarray


# Cross-sell structure the recommendation models can learn: each person favours one
# category (60% of their lines are picked there, nearest in price), and every product
# has a fixed complement in its category that the second line of an order is, half the
# time ("bought a camera → lens"). A separate generator keeps the other draws unchanged.
FAVOURITE_SHARE = 0.6
COMPLEMENT_SHARE = 0.5


def favourite_category(user: np.ndarray, n_categories: int) -> np.ndarray:
    """Each person's favourite category index, a fixed hash of the person index."""
    return ((user.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(4294967291) % np.uint64(n_categories)).astype(np.int64)


def complements(products: Products) -> np.ndarray:
    """The complement of each product: the next product of the same category and line
    (standard or premium, so quality-sensitive buying stays visible), cyclic."""
    cats = np.asarray(products.category)
    out = np.arange(products.n)
    for cat in np.unique(cats):
        for flag in (True, False):
            members = np.flatnonzero((cats == cat) & (products.premium == flag))
            out[members] = np.roll(members, -1)
    return out


def _plant_affinity(pick: np.ndarray, user: np.ndarray, line_no: np.ndarray, wanted: np.ndarray,
                    products: Products, seed: int) -> np.ndarray:
    arng = np.random.default_rng([seed, 20261124])
    names, cat_code = np.unique(np.asarray(products.category), return_inverse=True)
    fav = favourite_category(user, len(names))
    premium_line = products.premium[pick]  # keep each line's standard/premium choice
    pick = pick.copy()
    in_fav = arng.random(len(pick)) < FAVOURITE_SHARE
    for c in range(len(names)):
        for flag in (True, False):
            pool = np.flatnonzero((cat_code == c) & (products.premium == flag))
            if len(pool) == 0:
                continue
            pool = pool[np.argsort(products.price[pool], kind="stable")]
            rows = np.flatnonzero(in_fav & (fav == c) & (premium_line == flag))
            at = np.searchsorted(products.price[pool], wanted[rows])
            at = np.clip(at + arng.integers(-2, 2, len(rows)), 0, len(pool) - 1)
            pick[rows] = pool[at]
    comp = complements(products)
    second = np.flatnonzero((line_no == 2) & (arng.random(len(pick)) < COMPLEMENT_SHARE))
    pick[second] = comp[pick[second - 1]]  # line 2 follows line 1 of the same order
    return pick


def detail_orders(
    orders: Orders, users: Users, products: Products, cal: Calendar, truths: Truths, rng: np.random.Generator
) -> OrderDetail:
    order = np.lexsort((orders.user, orders.ts_ms))
    o = Orders(*(getattr(orders, f)[order] for f in ("user", "ts_ms", "value", "platform", "kind")))
    m = len(o.user)
    day = cal.day_of_ts(o.ts_ms)
    promo = cal.mult[day] > 1.5
    price_s = users.price_sensitive[o.user]
    p_coupon = np.where(price_s, 0.55, 0.12) + np.where(promo, 0.2, 0.0)
    has_coupon = rng.random(m) < p_coupon
    pct = np.where(has_coupon, rng.choice([5, 10, 15, 20, 30], size=m, p=[0.2, 0.35, 0.2, 0.15, 0.1]), 0)

    # Lines: premium products for quality-sensitive buyers; price shares split the gross.
    n_lines = np.minimum(1 + rng.poisson(0.6, size=m), 5)
    line_order = np.repeat(np.arange(m), n_lines)
    starts = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    line_no = np.arange(len(line_order)) - starts[line_order] + 1
    quality = users.quality_sensitive[o.user[line_order]]
    premium = rng.random(len(line_order)) < np.where(quality, 0.5, 0.12)
    qty = np.where(rng.random(len(line_order)) < 0.8, 1, rng.integers(2, 4, len(line_order)))
    # Each line picks a product whose list price fits its share of the order (one of the
    # few nearest in price, at random), so line prices sit near list prices and above cost.
    target_gross = o.value / (1 - pct / 100.0)
    wanted = target_gross[line_order] / n_lines[line_order] / qty
    pick = np.empty(len(line_order), dtype=np.int64)
    for flag in (True, False):
        pool = np.flatnonzero(products.premium == flag)
        pool = pool[np.argsort(products.price[pool], kind="stable")]
        rows = np.flatnonzero(premium == flag)
        at = np.searchsorted(products.price[pool], wanted[rows])
        at = np.clip(at + rng.integers(-3, 3, len(rows)), 0, len(pool) - 1)
        pick[rows] = pool[at]
    pick = _plant_affinity(pick, o.user[line_order], line_no, wanted, products, seed=m)
    weight = products.price[pick] * qty
    wsum = np.bincount(line_order, weights=weight, minlength=m)
    share = target_gross[line_order] * weight / wsum[line_order]
    unit = np.maximum(np.round(share / qty, 2), 0.01)
    line_amount = np.round(unit * qty, 2)
    gross = np.round(np.bincount(line_order, weights=line_amount, minlength=m), 2)
    discount = np.round(gross * pct / 100.0, 2)
    amount = np.round(gross - discount, 2)

    age_days = (cal.end_ms - o.ts_ms) / (DAY_S * 1000)
    ret_p = truths.return_rate * np.where(users.quality_sensitive[o.user], 1.6, 1.0)
    returned = (rng.random(m) < ret_p) & (age_days > 3)
    pos = o.platform == PLATFORMS.index("pos")
    status = np.where(age_days < 2, 0, np.where(age_days < 7, 1, 2))
    status = np.where(pos, 2, status)
    status = np.where(returned, np.where(rng.random(m) < 0.5, 3, 4), status)
    method = np.where(
        pos, rng.choice(6, size=m, p=POS_METHOD_P), rng.choice(6, size=m, p=ONLINE_METHOD_P)
    )
    store = np.where(pos, (o.user * 7919) % 30 + 1, -1)
    # Payment follows the order within minutes, and always inside the period.
    pay_ms = np.minimum(o.ts_ms + rng.integers(5_000, 180_000, m), cal.end_ms - 1)
    return OrderDetail(
        o, gross, discount, amount, pct, status, method, store, pay_ms,
        line_order, line_no, pick, qty, unit, line_amount,
    )
