"""Exact money for approvals: yuan as :class:`~decimal.Decimal` with two places, stored as integer fen."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from jingyun.errors import JingyunError

CENT = Decimal("0.01")


def parse_amount(value: Any, field: str = "amount") -> Decimal:
    """A non-negative amount in yuan with at most two decimals; floats are refused (0.1 is not exact)."""
    if isinstance(value, (bool, float)):
        raise JingyunError("bad_amount", "give the amount as a string or a Decimal (e.g. \"100000.00\"), not a float",
                           field, status=422)
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise JingyunError("bad_amount", f"{value!r} is not an amount in yuan (e.g. 100000 or 99999.99)", field,
                           status=422) from None
    if not amount.is_finite() or amount < 0:
        raise JingyunError("bad_amount", "the amount must be a finite number of yuan, 0 or more", field, status=422)
    if amount != amount.quantize(CENT):
        raise JingyunError("bad_amount", f"{value} has more than two decimals (fen is the smallest unit)", field,
                           status=422)
    if amount >= Decimal(10) ** 16:
        raise JingyunError("bad_amount", "the amount is too large", field, status=422)
    return amount.quantize(CENT)


def to_cents(amount: Decimal) -> int:
    return int(amount * 100)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)
