"""Redemption matched from the warehouse: orders whose ``coupon_id`` is an issued code.

Each such order is either the code's redemption or a rejected use with one reason, checked in this
order (the first that applies):

* ``order_not_valid``: not a valid order of a real person (``valid_orders`` of the workspace's
  definitions: cancelled, refunded and returned orders, and test accounts, are not redemptions);
* ``wrong_person``: the order's ``user_id`` is not the person the code was issued to;
* ``outside_validity``: the order time is outside the code's ``[valid_from, valid_until)``;
* ``below_threshold``: the order's value before discount (``amount + discount``) is below 满X;
* ``already_redeemed``: the code's earlier order (by time, then order id) redeemed it.

The discount cost of a redemption is what the template grants on the order's value before discount
(the amount off; the percentage, capped; the shipping value waived), in exact Decimal yuan.
Order ids in ``coupon_id`` that are no issued code (a campaign-level id) are not ours and are skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from jingyun.coupons.model import CENT, normalize_code
from jingyun.coupons.registry import IssuedCoupon, Template
from jingyun.metrics.definitions import Definitions
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import quote

Reason = Literal["order_not_valid", "wrong_person", "outside_validity", "below_threshold", "already_redeemed"]
REASONS: tuple[str, ...] = ("order_not_valid", "wrong_person", "outside_validity", "below_threshold", "already_redeemed")
CHUNK = 2000
# the code as written on the order, normalised like normalize_code (portable: upper and replace exist in Spark)
CODE_SQL = "upper(replace(replace(o.coupon_id, '-', ''), ' ', ''))"


@dataclass(frozen=True)
class CouponOrder:
    """One order that named an issued code, and what became of it (``reason`` None: a redemption)."""

    order_id: str
    code: str
    template: str
    user_id: str
    ts: dt.datetime
    status: str | None
    gross: Decimal  # value before discount
    amount: Decimal  # payable, after discount
    discount_cost: Decimal  # 0 unless redeemed
    reason: str | None


def orders_sql(codes: Iterable[str], defs: Definitions) -> str:
    """The orders naming any of ``codes`` (normalised), with a 0/1 ``valid`` flag from the definitions."""
    listed = ", ".join(quote(c) for c in codes)
    return (
        "SELECT o.order_id, o.user_id, o.ts, o.amount, o.discount, o.status, "
        f"{CODE_SQL} AS code, CASE WHEN {defs.order_rows('valid_orders', 'o')} THEN 1 ELSE 0 END AS valid "
        f"FROM orders o WHERE o.coupon_id IS NOT NULL AND {CODE_SQL} IN ({listed})"
    )


def fetch_orders(backend: Backend, codes: list[str], defs: Definitions) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(0, len(codes), CHUNK):
        rows.extend(backend.run(orders_sql(codes[i:i + CHUNK], defs)).to_pylist())
    return rows


def match(templates: dict[str, Template], issued: dict[str, list[IssuedCoupon]],
          rows: list[dict[str, Any]]) -> list[CouponOrder]:
    """Classify warehouse order rows (from :func:`fetch_orders`) against the issued codes: pure, no I/O."""
    by_code = {normalize_code(c.code): c for cs in issued.values() for c in cs}
    out: list[CouponOrder] = []
    redeemed: set[str] = set()
    for r in sorted(rows, key=lambda r: (r["ts"], str(r["order_id"]))):
        c = by_code.get(r["code"])
        if c is None:
            continue
        spec = templates[c.template].spec
        amount = Decimal(r["amount"] if r["amount"] is not None else 0).quantize(CENT)
        gross = amount + Decimal(r["discount"] if r["discount"] is not None else 0).quantize(CENT)
        reason: str | None = None
        if not r["valid"]:
            reason = "order_not_valid"
        elif str(r["user_id"]) != c.user_id:
            reason = "wrong_person"
        elif not c.valid_from <= r["ts"] < c.valid_until:
            reason = "outside_validity"
        elif gross < spec.threshold:
            reason = "below_threshold"
        elif c.code in redeemed:
            reason = "already_redeemed"
        cost = Decimal(0).quantize(CENT)
        if reason is None:
            redeemed.add(c.code)
            cost = spec.discount(gross)
        out.append(CouponOrder(str(r["order_id"]), c.code, c.template, str(r["user_id"]), r["ts"], r["status"],
                               gross, amount, cost, reason))
    return out
