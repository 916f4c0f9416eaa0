"""Values as people read them: ratios as %, money with ¥, counts with separators (数值格式)."""

from __future__ import annotations

import datetime as dt

from jingyun import localtime

RATIO_UNITS = ("ratio",)
MONEY_UNITS = ("CNY",)


def value(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    if unit in RATIO_UNITS:
        return f"{x * 100:.1f}%"
    if unit in MONEY_UNITS:
        return f"¥{x:,.2f}"
    if unit in ("users", "orders", "count"):
        return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"
    if unit == "days":
        return f"{x:,.1f}"
    return f"{x:,.2f}"


def change(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:+.1f}%"


def local(ts: dt.datetime | None, timezone: str) -> str | None:
    """A naive-UTC store time shown with the workspace offset (2026-10-01T09:00:00+08:00)."""
    if ts is None:
        return None
    return localtime.aware(ts, timezone).isoformat(timespec="seconds")


def aware(ts: dt.datetime | None, timezone: str) -> dt.datetime | None:
    return localtime.aware(ts, timezone)
