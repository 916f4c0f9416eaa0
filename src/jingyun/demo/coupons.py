"""The demo shop's coupons in the coupon registry: templates and issued codes behind its discounted orders.

The demo's orders carry campaign ids ``CPN-<YYYYMM>-<pct>`` (a ``pct`` % off coupon used in that local
month; see :mod:`jingyun.demo.write`). A coupon report matches orders to *issued codes*, one per use, so
after ingestion each campaign becomes a percentage template (``CPN-202603-10``: 10 % off, valid that
month), each discounted order gets its own code of it, issued to the order's user at the start of the
month, and the order's ``coupon_id`` in the warehouse becomes that code (what a shop's coupon system
writes on the order). `jingyun coupon report` on the demo then shows real redemptions, with cancelled and
refunded orders as rejected uses (``order_not_valid``). Codes are derived from the order id, so a rebuild
gives the same codes. No demo truth changes: the orders, amounts and discounts stay as generated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import delete, insert, select, update

from jingyun.config import Settings
from jingyun.coupons.model import ALPHABET, CODE_LENGTH
from jingyun.coupons.registry import create_template
from jingyun.store.coupons import CouponCode, CouponTemplate
from jingyun.store.db import Store
from jingyun.warehouse import Warehouse
from jingyun.warehouse.sqltext import utc_start

CAMPAIGN = re.compile(r"^CPN-(\d{4})(\d{2})-(\d{1,2})$")
CREATED_BY = "demo"


@dataclass(frozen=True)
class DemoCoupons:
    templates: int
    codes: int


def demo_code(order_id: str) -> str:
    """A registry-shaped code (12 characters of the coupon alphabet) derived from the order id."""
    digest = hashlib.sha256(f"demo-coupon:{order_id}".encode()).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:CODE_LENGTH])


def _month(year: int, month: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, month, 1)
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def install_coupons(settings: Settings, store: Store | None = None) -> DemoCoupons:
    """Create the demo's coupon templates and codes and point its discounted orders at their codes."""
    from jingyun.store.shared import metadata_store

    store = store or metadata_store(settings)
    tz = settings.timezone
    with Warehouse.open(settings) as wh:
        rows = wh.rows("SELECT order_id, user_id, coupon_id FROM orders WHERE coupon_id LIKE 'CPN-%' "
                       "AND user_id IS NOT NULL ORDER BY coupon_id, ts, order_id")
        uses: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for order_id, user_id, campaign in rows:
            if CAMPAIGN.match(str(campaign)):
                uses[str(campaign)].append((str(order_id), str(user_id)))
        if not uses:  # nothing to convert (installed already): leave the registry as it is
            return DemoCoupons(0, 0)
        with store.session() as ses:  # a rebuild replaces the demo's own templates (and their codes)
            old = list(ses.scalars(select(CouponTemplate.id).where(CouponTemplate.created_by == CREATED_BY)))
            if old:
                ses.execute(delete(CouponCode).where(CouponCode.template_id.in_(old)))
                ses.execute(delete(CouponTemplate).where(CouponTemplate.id.in_(old)))
        pairs: list[tuple[str, str]] = []
        codes = 0
        for campaign, used in sorted(uses.items()):
            m = CAMPAIGN.match(campaign)
            assert m is not None
            year, month, pct = int(m.group(1)), int(m.group(2)), int(m.group(3))
            first, last = _month(year, month)
            start = utc_start(first, tz)
            t = create_template(store, settings, {
                "key": campaign, "name": f"{year}年{month}月 {pct}% off 优惠券", "kind": "percent",
                "percent_off": pct, "valid_from": first, "valid_until": last, "stock": len(used),
                "per_user": max(Counter(u for _, u in used).values()),
            }, created_by=CREATED_BY, now=start)
            until = utc_start(last + dt.timedelta(days=1), tz)
            batch = [{"code": demo_code(o), "template_id": t.id, "user_id": u, "issue_key": f"demo:{o}",
                      "issued_at": start, "valid_from": start, "valid_until": until, "reserved_cents": 0,
                      "issued_by": CREATED_BY} for o, u in used]
            with store.session() as ses:
                ses.execute(insert(CouponCode), batch)
                ses.execute(update(CouponTemplate).where(CouponTemplate.id == t.id).values(issued=len(used)))
            pairs.extend((o, str(b["code"])) for (o, _), b in zip(used, batch, strict=True))
            codes += len(used)
        if pairs:
            wh.con.register("_demo_codes", pa.table({"order_id": [o for o, _ in pairs],
                                                     "code": [c for _, c in pairs]}))
            try:
                with wh.transaction():
                    wh.con.execute("UPDATE orders SET coupon_id = c.code FROM _demo_codes c "
                                   "WHERE orders.order_id = c.order_id")
            finally:
                wh.con.unregister("_demo_codes")
    return DemoCoupons(len(uses), codes)
