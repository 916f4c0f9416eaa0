"""Behaviour events: funnel sessions around orders, browsing, and the planted bottleneck.

The funnel is built bottom-up from orders so that every online order has its
``pay`` event: for each paying session we add abandoned checkout, cart and
view sessions in the numbers the target step conversions imply
(abandoned = completed × (1 − rate) / rate, Poisson). The bottleneck
(checkout → pay) is the lowest rate, and on one platform it is lower still
in the last ``worse_days`` days.
"""

from __future__ import annotations

import numpy as np

from jingyun.demo.params import PLATFORMS, Truths
from jingyun.demo.purchases import OrderDetail
from jingyun.demo.sessions import EV, EventRows, Sessions, expand
from jingyun.demo.timeline import DAY_S, Calendar, time_of_day
from jingyun.demo.users import Users

KEYWORDS = ("连衣裙", "口红", "蓝牙耳机", "纸尿裤", "坚果", "四件套", "运动鞋", "面膜", "充电宝", "咖啡", "618", "双11优惠")
SERVICE_TOPICS = ("物流查询", "退换货", "发票", "优惠券使用", "商品咨询")
APP, WEB, MINI, POS = (PLATFORMS.index(p) for p in ("app", "web", "miniprogram", "pos"))
DAY_MS = DAY_S * 1000


def online_platform(users: Users, user: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    main = users.main_platform[user]
    return np.where(main == POS, rng.choice([APP, WEB, MINI], size=len(user), p=[0.55, 0.15, 0.30]), main)


def _sessions(user: np.ndarray, platform: np.ndarray, anchor: np.ndarray, focus: np.ndarray,
              order: np.ndarray | None = None, logged: np.ndarray | None = None,
              aux: np.ndarray | None = None) -> Sessions:
    n = len(user)
    return Sessions(
        user=user, platform=platform, anchor_ms=anchor,
        logged_in=np.ones(n, bool) if logged is None else logged, focus_product=focus,
        order=np.full(n, -1) if order is None else order,
        aux=np.full(n, -1) if aux is None else aux,
    )


class EventBuilder:
    """Accumulates event rows and numbers sessions."""

    def __init__(self, rng: np.random.Generator, n_products: int):
        self.rng = rng
        self.n_products = n_products
        self.parts: list[EventRows] = []
        self.next_session = 0

    def add(self, s: Sessions, slots: list[tuple[int, np.ndarray]], anchor_end: bool = False) -> None:
        if len(s.user) == 0:
            return
        self.parts.append(expand(s, slots, self.next_session, self.rng, self.n_products, anchor_end))
        self.next_session += len(s.user)

    def funnel_prefix(self, s: Sessions, depth: int, anchor_end: bool = False) -> None:
        """Sessions that reach ``depth`` funnel steps (1 view … 4 pay)."""
        n = len(s.user)
        rng = self.rng
        app = (s.platform == APP).astype(np.int64)
        slots: list[tuple[int, np.ndarray]] = [
            (EV["app_start"], app),
            (EV["view_home"], (rng.random(n) < 0.3).astype(np.int64)),
            (EV["search"], (rng.random(n) < 0.25).astype(np.int64)),
            (EV["view_product"], 1 + rng.poisson(0.4, n)),
        ]
        for step, name in ((2, "add_to_cart"), (3, "checkout"), (4, "pay")):
            if depth >= step:
                slots.append((EV[name], np.ones(n, np.int64)))
        self.add(s, slots, anchor_end)

    def rows(self) -> EventRows:
        return EventRows.concat(self.parts)


def checkout_to_pay(truths: Truths, cal: Calendar, platform: np.ndarray, ts: np.ndarray) -> np.ndarray:
    f = truths.funnel
    worse_from = cal.end_ms - f.worse_days * DAY_MS
    worse = (platform == PLATFORMS.index(f.worse_platform)) & (ts >= worse_from)
    return np.where(worse, f.worse_checkout_to_pay, f.checkout_to_pay)


# Quality-sensitive shoppers look at the premium line when they browse and compare.
PREMIUM_FOCUS_QUALITY = 0.5
# Share of orders followed by an after-sales contact, service-sensitive buyers vs others.
AFTER_SALES_CONTACT = (0.5, 0.04)


def _premium_focus(prods: np.ndarray, user: np.ndarray, users: Users, pool: np.ndarray,
                   trng: np.random.Generator) -> np.ndarray:
    """Replace the focus product of a quality-sensitive user's browsing session by a premium
    one (share PREMIUM_FOCUS_QUALITY); everyone else keeps the catalogue-wide draw."""
    if len(pool) == 0 or len(prods) == 0:
        return prods
    swap = users.quality_sensitive[user] & (trng.random(len(prods)) < PREMIUM_FOCUS_QUALITY)
    return np.where(swap, pool[trng.integers(0, len(pool), len(prods))], prods)


def _after_sales_contacts(b: EventBuilder, users: Users, detail: OrderDetail, start: int,
                          trng: np.random.Generator, n_products: int) -> None:
    o = detail.orders
    sel = np.flatnonzero(detail.pay_ms >= start)
    p = np.where(users.service_sensitive[o.user[sel]], *AFTER_SALES_CONTACT)
    sel = sel[trng.random(len(sel)) < p]
    if len(sel) == 0:
        return
    user = o.user[sel]
    t = detail.pay_ms[sel] + trng.integers(2 * 3_600_000, 3 * DAY_MS, len(sel))
    plat = np.where(o.platform[sel] == POS, online_platform(users, user, trng), o.platform[sel])
    aux = trng.integers(0, 1000, len(sel))
    s = _sessions(user, plat, t, trng.integers(0, n_products, len(sel)), aux=aux)
    # Its own builder (and stream): the session numbers continue after everything else.
    extra = EventBuilder(trng, n_products)
    extra.next_session = b.next_session
    extra.add(s, [(EV["app_start"], (plat == APP).astype(np.int64)), (EV["contact_service"], np.ones(len(sel), np.int64))])
    b.parts.extend(extra.parts)
    b.next_session = extra.next_session


def generate_events(
    users: Users, detail: OrderDetail, alive_until: np.ndarray, exposures: tuple[np.ndarray, np.ndarray, np.ndarray],
    truths: Truths, cal: Calendar, rng: np.random.Generator, n_products: int,
    premium: np.ndarray | None = None,
) -> EventRows:
    f = truths.funnel
    # The need traits' browsing habits draw from a child stream (spawning does not advance the
    # parent), so planting them leaves every other draw of the events stage as it was.
    trng = rng.spawn(1)[0]
    premium_pool = np.flatnonzero(premium) if premium is not None and premium.any() else np.empty(0, np.int64)
    o = detail.orders
    b = EventBuilder(rng, n_products)
    start = cal.start_ms
    first_line = np.full(len(o.user), 0)
    seen = np.zeros(len(o.user), bool)
    # First product of each order: lines are grouped by order, in order.
    firsts = np.flatnonzero(detail.line_no == 1)
    first_line[detail.line_order[firsts]] = detail.line_product[firsts]
    seen[detail.line_order[firsts]] = True

    # 1. Paying sessions: every online order ends with its pay event.
    online = np.flatnonzero((o.platform != POS) & (detail.pay_ms >= start))
    ou, op, pay = o.user[online], o.platform[online], detail.pay_ms[online]
    b.funnel_prefix(_sessions(ou, op, pay, first_line[online], order=online), 4, anchor_end=True)

    # 2. Abandoned checkouts, carts and views before each paying session.
    p3 = checkout_to_pay(truths, cal, op, pay)
    n_ck = rng.poisson((1 - p3) / p3)
    n_cart = rng.poisson((1 + n_ck) * (1 - f.cart_to_checkout) / f.cart_to_checkout)
    n_view = rng.poisson((1 + n_ck + n_cart) * (1 - f.view_to_cart) / f.view_to_cart)
    for depth, counts in ((3, n_ck), (2, n_cart), (1, n_view)):
        idx = np.repeat(np.arange(len(online)), counts)
        # Within five days before the order, never before sign-up or the period.
        lo = np.maximum(pay[idx] - 5 * DAY_MS, np.maximum(users.reg_ms[ou[idx]], start))
        t = lo + (rng.random(len(idx)) * np.maximum(pay[idx] - 3_600_000 - lo, 0)).astype(np.int64)
        prods = _premium_focus(rng.integers(0, n_products, len(idx)), ou[idx], users, premium_pool, trng)
        b.funnel_prefix(_sessions(ou[idx], op[idx], t, prods), depth)

    # 3. Browsing and window-shopping by everyone while active (dropouts go quiet).
    lo = np.maximum(users.reg_ms, start)
    span_days = np.maximum(alive_until - lo, 0) / DAY_MS
    n_browse = rng.poisson(span_days * np.where(users.customer, 0.02, 0.012))
    idx = np.repeat(np.arange(users.n), n_browse)
    t = lo[idx] + (rng.random(len(idx)) * (alive_until[idx] - lo[idx])).astype(np.int64)
    day = cal.day_of_ts(t)
    t = cal.ts_ms(day, time_of_day(rng, len(idx)))
    keep = (t >= lo[idx]) & (t < alive_until[idx])
    idx, t = idx[keep], t[keep]
    plat = online_platform(users, idx, rng)
    m = len(idx)
    logged = rng.random(m) < 0.7
    price_s = users.price_sensitive[idx]
    service_s = users.service_sensitive[idx]
    aux = rng.integers(0, 1000, m)
    s = _sessions(idx, plat, t, rng.integers(0, n_products, m), logged=logged, aux=aux)
    b.add(s, [
        (EV["app_start"], (plat == APP).astype(np.int64)),
        (EV["view_home"], np.ones(m, np.int64)),
        (EV["search"], (rng.random(m) < 0.5).astype(np.int64)),
        (EV["coupon_claim"], (rng.random(m) < np.where(price_s, 0.25, 0.06)).astype(np.int64)),
        (EV["contact_service"], (rng.random(m) < np.where(service_s, 0.18, 0.03)).astype(np.int64)),
        (EV["share"], (rng.random(m) < 0.05).astype(np.int64)),
    ])
    # Window-shopping that never pays: top-down through the first three steps.
    n_intent = rng.poisson(span_days * 0.006)
    idx = np.repeat(np.arange(users.n), n_intent)
    t = lo[idx] + (rng.random(len(idx)) * np.maximum(alive_until[idx] - lo[idx], 0)).astype(np.int64)
    reach = 1 + (rng.random(len(idx)) < f.view_to_cart) * (1 + (rng.random(len(idx)) < f.cart_to_checkout))
    plat = online_platform(users, idx, rng)
    prods = _premium_focus(rng.integers(0, n_products, len(idx)), idx, users, premium_pool, trng)
    for d in (1, 2, 3):
        sel = reach == d
        b.funnel_prefix(_sessions(idx[sel], plat[sel], t[sel], prods[sel]), d)

    # 4. Store purchases: one POS pay event per store order.
    pos = np.flatnonzero((o.platform == POS) & (detail.pay_ms >= start))
    s = _sessions(o.user[pos], o.platform[pos], detail.pay_ms[pos], first_line[pos], order=pos)
    b.add(s, [(EV["pay"], np.ones(len(pos), np.int64))], anchor_end=True)

    # 5. Experiment exposures: the checkout page shows copy A or B.
    ex_user, ex_ms, ex_var = exposures
    plat = online_platform(users, ex_user, rng)
    s = _sessions(ex_user, plat, ex_ms, rng.integers(0, n_products, len(ex_user)), aux=ex_var, )
    b.add(s, [(EV["view_home"], np.ones(len(ex_user), np.int64)), (EV["exp_exposure"], np.ones(len(ex_user), np.int64))],
          anchor_end=True)

    # 6. After-sales contacts: service-sensitive buyers ask customer service about their
    # orders (delivery, invoices, returns) far more often — a session 2 hours to 3 days later.
    _after_sales_contacts(b, users, detail, start, trng, n_products)

    rows = b.rows()
    # Only the observed period has event logs.
    rows = rows.take(np.flatnonzero((rows.ts >= start) & (rows.ts < cal.end_ms)))
    order = np.lexsort((rows.event, rows.session, rows.ts))
    return rows.take(order)
