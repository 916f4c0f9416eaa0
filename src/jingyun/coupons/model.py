"""Coupon templates as typed values: parsing with field errors, exact money, discounts, codes.

Choices, stated once:

* money is :class:`~decimal.Decimal` yuan at the edges and integer cents (fen) in the store; an amount
  with more than two decimals is refused, never rounded;
* the threshold (满X) applies to the order's value *before* the discount: ``amount + discount`` of the
  warehouse order (``amount`` is payable after discount, per the schema);
* a percentage discount is rounded half-up to the cent, then capped;
* validity is either an absolute window of local days ``[valid_from, valid_until]`` (both days included,
  read in the workspace time zone) or ``valid_days`` from issue: from the issue instant to the end of the
  local day ``valid_days`` days after the issue day (issued 10-01 14:00 with 7 days: valid to 10-08 24:00);
* every code reserves its largest possible discount against the budget (the amount off, the cap, or the
  shipping value), so the budget bounds the liability of all codes out, not only what was redeemed;
  a percentage template with a budget therefore needs a cap;
* codes are 12 characters from a 32-letter alphabet without 0/O/1/I (60 bits from ``secrets``), shown in
  groups of four; input is read case-insensitively with spaces and dashes ignored.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from jingyun.errors import JingyunError
from jingyun.localtime import aware
from jingyun.warehouse.sqltext import utc_start

Kind = Literal["threshold", "percent", "free_shipping"]
KINDS: tuple[str, ...] = ("threshold", "percent", "free_shipping")
STATUSES: tuple[str, ...] = ("active", "paused", "ended")
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 12
CENT = Decimal("0.01")
MAX_MONEY = Decimal("100000000")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def _fail(field: str, message: str) -> JingyunError:
    return JingyunError("bad_coupon", message, field, status=422)


def money(value: Any, field: str, *, allow_zero: bool = False) -> Decimal:
    """A CNY amount as an exact Decimal of at most two decimals."""
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise _fail(field, f"{field} must be an amount in yuan such as 30 or 19.90, got {value!r}") from None
    if not amount.is_finite() or amount.quantize(CENT) != amount:
        raise _fail(field, f"{field} must have at most two decimals (fen), got {value}")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise _fail(field, f"{field} must be more than 0, got {value}")
    if amount > MAX_MONEY:
        raise _fail(field, f"{field} must be at most {MAX_MONEY}, got {value}")
    return amount


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def yuan(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) / 100).quantize(CENT)


def _day(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _fail(field, f"{field} must be a date YYYY-MM-DD, got {value!r}") from None


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(field, f"{field} must be a whole number, got {value!r}")
    try:
        n = int(value)
    except ValueError:
        raise _fail(field, f"{field} must be a whole number, got {value!r}") from None
    if not low <= n <= high:
        raise _fail(field, f"{field} must be between {low} and {high}, got {n}")
    return n


@dataclass(frozen=True)
class TemplateSpec:
    """A validated coupon design (money in Decimal yuan, days as local dates)."""

    key: str
    name: str
    kind: Kind
    threshold: Decimal = Decimal(0)
    amount_off: Decimal | None = None
    percent_off: Decimal | None = None
    cap: Decimal | None = None
    shipping: Decimal | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    valid_days: int | None = None
    budget: Decimal | None = None
    stock: int | None = None
    per_user: int = 1

    @classmethod
    def parse(cls, data: dict[str, Any]) -> TemplateSpec:
        """From loose input (API body, CLI options, YAML); every problem names its field."""
        known = {f for f in cls.__dataclass_fields__}
        extra = sorted(set(data) - known)
        if extra:
            raise _fail(extra[0], f"unknown field {extra[0]!r}; fields are {', '.join(sorted(known))}")
        key = str(data.get("key") or "")
        if not KEY_PATTERN.match(key):
            raise _fail("key", "key must be 1-64 letters, digits, '_' or '-', e.g. new-200-30")
        name = str(data.get("name") or key).strip()
        if not 1 <= len(name) <= 200:
            raise _fail("name", "name must be 1-200 characters")
        kind = data.get("kind")
        if kind not in KINDS:
            raise _fail("kind", f"kind must be one of {', '.join(KINDS)}, got {kind!r}")

        def opt_money(f: str, *, zero: bool = False) -> Decimal | None:
            return None if data.get(f) in (None, "") else money(data[f], f, allow_zero=zero)

        threshold = opt_money("threshold", zero=True) or Decimal(0)
        amount_off, percent, cap, shipping = opt_money("amount_off"), None, opt_money("cap"), opt_money("shipping")
        if kind == "threshold":
            if amount_off is None:
                raise _fail("amount_off", "a 满X减Y coupon needs amount_off (Y), e.g. 30")
            if threshold == 0:
                raise _fail("threshold", "a 满X减Y coupon needs threshold (X), e.g. 200")
            if amount_off >= threshold:
                raise _fail("amount_off", f"amount_off ({amount_off}) must be less than threshold ({threshold})")
        elif amount_off is not None:
            raise _fail("amount_off", f"amount_off belongs to threshold coupons, not {kind}")
        if kind == "percent":
            raw = data.get("percent_off")
            if raw in (None, ""):
                raise _fail("percent_off", "a percentage coupon needs percent_off, e.g. 15 for 15 % off (8.5折)")
            try:
                percent = Decimal(str(raw))
            except InvalidOperation:
                raise _fail("percent_off", f"percent_off must be a number, got {raw!r}") from None
            if not percent.is_finite() or not Decimal(0) < percent < Decimal(100) or percent.quantize(CENT) != percent:
                raise _fail("percent_off", f"percent_off must be above 0 and below 100, with at most two decimals; got {raw}")
        else:
            if data.get("percent_off") not in (None, ""):
                raise _fail("percent_off", f"percent_off belongs to percent coupons, not {kind}")
            if cap is not None:
                raise _fail("cap", f"cap belongs to percent coupons, not {kind}")
        if kind == "free_shipping":
            if shipping is None:
                raise _fail("shipping", "a free-shipping coupon needs shipping: the shipping fee it waives, e.g. 10")
        elif shipping is not None:
            raise _fail("shipping", f"shipping belongs to free_shipping coupons, not {kind}")

        v_from = None if data.get("valid_from") in (None, "") else _day(data["valid_from"], "valid_from")
        v_until = None if data.get("valid_until") in (None, "") else _day(data["valid_until"], "valid_until")
        days = None if data.get("valid_days") in (None, "") else _int(data["valid_days"], "valid_days", 1, 3660)
        if days is not None and (v_from or v_until):
            raise _fail("valid_days", "give either valid_from/valid_until (absolute dates) or valid_days (from issue), not both")
        if days is None:
            if v_until is None:
                raise _fail("valid_until", "give valid_until (and optionally valid_from), or valid_days from issue")
            if v_from is not None and v_from > v_until:
                raise _fail("valid_until", f"valid_until ({v_until}) is before valid_from ({v_from})")
        budget = opt_money("budget")
        stock = None if data.get("stock") in (None, "") else _int(data["stock"], "stock", 1, 100_000_000)
        per_user = 1 if data.get("per_user") in (None, "") else _int(data["per_user"], "per_user", 1, 1000)
        spec = cls(key, name, kind, threshold, amount_off, percent, cap, shipping, v_from, v_until, days, budget,
                   stock, per_user)
        if budget is not None:
            worst = spec.max_discount
            if worst is None:
                raise _fail("cap", "a percentage coupon with a budget needs a cap (the most one code may take off)")
            if worst > budget:
                raise _fail("budget", f"budget ({budget}) is less than one code's largest discount ({worst})")
        return spec

    @property
    def max_discount(self) -> Decimal | None:
        """The most one code can cost (None: unbounded, a percentage without a cap)."""
        if self.kind == "threshold":
            return self.amount_off
        if self.kind == "free_shipping":
            return self.shipping
        return self.cap

    def discount(self, gross: Decimal) -> Decimal:
        """What the coupon takes off an order worth ``gross`` before discount (0 below the threshold)."""
        return discount_for(self.kind, self.threshold, self.amount_off, self.percent_off, self.cap, self.shipping, gross)


def discount_for(kind: str, threshold: Decimal, amount_off: Decimal | None, percent_off: Decimal | None,
                 cap: Decimal | None, shipping: Decimal | None, gross: Decimal) -> Decimal:
    if gross < threshold:
        return Decimal(0).quantize(CENT)
    if kind == "threshold":
        assert amount_off is not None
        return amount_off
    if kind == "free_shipping":
        assert shipping is not None
        return shipping
    assert percent_off is not None
    off = (gross * percent_off / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return min(off, cap) if cap is not None else off


def local_validity(spec_from: dt.date | None, spec_until: dt.date | None, created: dt.datetime,
                   timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """An absolute window of local days as naive-UTC ``[start, end)`` (no valid_from: from creation)."""
    assert spec_until is not None
    start = utc_start(spec_from, timezone) if spec_from else created
    return start, utc_start(spec_until + dt.timedelta(days=1), timezone)


def relative_until(issued_at: dt.datetime, days: int, timezone: str) -> dt.datetime:
    """End of the local day ``days`` days after the local day of ``issued_at`` (naive UTC in and out)."""
    local_day = aware(issued_at, timezone).date()
    return utc_start(local_day + dt.timedelta(days=days + 1), timezone)


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """A code as stored: upper case, spaces and dashes removed."""
    return re.sub(r"[\s\-]", "", text).upper()


def show_code(code: str) -> str:
    """``ABCD-EFGH-JKLM``: groups of four for reading aloud and typing."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))
