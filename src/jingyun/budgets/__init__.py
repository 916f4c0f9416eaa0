"""Budgets (预算): per department, channel and campaign, a reserve pool only an approval releases, actuals
from ``marketing_spend`` with burn-down and over-spend, and the allocation optimiser. See docs/budgets.md.

For the alert rules: :func:`overspend_findings` (lines over their money or ahead of plan on a day).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from jingyun.budgets.actuals import BurnDay, LineStatus, Overspend, Status, overspend, status
from jingyun.budgets.plan import (
    Budget,
    Line,
    LineSpec,
    Release,
    get,
    list_budgets,
    plan,
    request_release,
    sync_releases,
)
from jingyun.store import Store
from jingyun.warehouse.backends import Engine


def overspend_findings(store: Store, engine: Engine, *, as_of: dt.date,
                       pace_tolerance: Decimal = Decimal("0.10")) -> list[Overspend]:
    """Every budget's over-spent or over-paced lines as of local day ``as_of`` (for jingyun.ops.alerts)."""
    items, _ = list_budgets(store, limit=10_000)
    return overspend(engine, [b for b in items if b.period_start <= as_of], as_of=as_of,
                     pace_tolerance=pace_tolerance)


__all__ = [
    "Budget", "BurnDay", "Line", "LineSpec", "LineStatus", "Overspend", "Release", "Status", "get", "list_budgets",
    "overspend", "overspend_findings", "plan", "request_release", "status", "sync_releases",
]
