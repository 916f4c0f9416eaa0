"""Coupons (优惠券): templates, codes issued one per person, redemption matched from orders, reports.

``issue(store, settings, template, user_id, *, key=None, now=None)`` is what journeys call; it is
atomic and idempotent on ``key``. Reports read the warehouse (``orders.coupon_id``) and the store.
"""

from jingyun.coupons.model import TemplateSpec, normalize_code, show_code
from jingyun.coupons.registry import (
    IssuedCoupon,
    Template,
    codes,
    create_template,
    get_template,
    issue,
    list_templates,
    set_status,
)

__all__ = [
    "IssuedCoupon", "Template", "TemplateSpec", "codes", "create_template", "get_template", "issue",
    "list_templates", "normalize_code", "set_status", "show_code",
]
