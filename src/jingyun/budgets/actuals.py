"""Actuals from the warehouse ``marketing_spend``: status per line, burn-down by local day, over-spend.

A spend row belongs to the line of its channel and campaign, else to the line of its whole channel
(campaign ""); spend no line claims is reported as unplanned. ``marketing_spend.date`` is the local day
of the spend, so days here are the workspace's local days. Money stays Decimal to the fen throughout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from jingyun.budgets.plan import Budget, Line
from jingyun.warehouse.backends import Engine
from jingyun.warehouse.sqltext import date_literal

ZERO = Decimal("0.00")
FEN = Decimal("0.01")


@dataclass(frozen=True)
class LineStatus:
    line: Line
    actual: Decimal
    planned_to_date: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.line.available - self.actual


@dataclass(frozen=True)
class BurnDay:
    day: dt.date
    planned_cumulative: Decimal
    actual: Decimal
    actual_cumulative: Decimal
    remaining: Decimal


@dataclass(frozen=True)
class Status:
    budget: Budget
    as_of: dt.date
    lines: tuple[LineStatus, ...]
    unplanned: dict[str, Decimal]
    burn: tuple[BurnDay, ...]

    @property
    def actual(self) -> Decimal:
        return sum((ls.actual for ls in self.lines), ZERO)


@dataclass(frozen=True)
class Overspend:
    """A line past its money (``over``) or burning faster than plan (``pace``) as of a day."""

    budget: str
    department: str
    channel: str
    campaign: str
    kind: str  # over | pace
    available: Decimal
    planned_to_date: Decimal
    actual: Decimal
    as_of: dt.date

    @property
    def over_by(self) -> Decimal:
        return self.actual - (self.available if self.kind == "over" else self.planned_to_date)


def daily_spend(engine: Engine, start: dt.date, end: dt.date) -> list[tuple[dt.date, str, str, Decimal]]:
    """(local day, channel, campaign, spend) summed, for days in [start, end]."""
    sql = ("SELECT date, channel, COALESCE(campaign_id, '') AS campaign, SUM(spend) AS spend FROM marketing_spend "
           f"WHERE date >= {date_literal(start)} AND date <= {date_literal(end)} "
           "GROUP BY date, channel, COALESCE(campaign_id, '') ORDER BY date, channel, campaign")
    return [(d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)), str(c), str(k),
             Decimal(str(s)).quantize(FEN)) for d, c, k, s in engine.rows(sql)]


def _owner(budget: Budget) -> dict[tuple[str, str], int]:
    return {(ln.channel, ln.campaign): i for i, ln in enumerate(budget.lines)}


def planned_to(line: Line, budget: Budget, day: dt.date) -> Decimal:
    """Straight-line plan: what the line should have spent by the end of ``day`` (exact to the fen)."""
    if day < budget.period_start:
        return ZERO
    elapsed = min((day - budget.period_start).days + 1, budget.days)
    return (line.available * elapsed / budget.days).quantize(FEN)


def status(engine: Engine, budget: Budget, *, as_of: dt.date | None = None) -> Status:
    as_of = min(as_of or budget.period_end, budget.period_end)
    owner = _owner(budget)
    actual = [ZERO] * len(budget.lines)
    unplanned: dict[str, Decimal] = {}
    by_day: dict[dt.date, Decimal] = {}
    for day, chan, camp, spend in daily_spend(engine, budget.period_start, as_of):
        i = owner.get((chan, camp), owner.get((chan, "")))
        if i is None:
            unplanned[chan] = unplanned.get(chan, ZERO) + spend
            continue
        actual[i] += spend
        by_day[day] = by_day.get(day, ZERO) + spend
    lines = tuple(LineStatus(ln, actual[i], planned_to(ln, budget, as_of)) for i, ln in enumerate(budget.lines))
    available = sum((ln.available for ln in budget.lines), ZERO)
    burn: list[BurnDay] = []
    cum = ZERO
    day = budget.period_start
    while day <= as_of:
        spent = by_day.get(day, ZERO)
        cum += spent
        elapsed = (day - budget.period_start).days + 1
        burn.append(BurnDay(day, (available * elapsed / budget.days).quantize(FEN), spent, cum, available - cum))
        day += dt.timedelta(days=1)
    return Status(budget, as_of, lines, dict(sorted(unplanned.items())), tuple(burn))


def overspend(engine: Engine, budgets: list[Budget], *, as_of: dt.date,
              pace_tolerance: Decimal = Decimal("0.10")) -> list[Overspend]:
    """Lines over their money, or ahead of the straight-line plan by more than ``pace_tolerance``
    (10 % by default), as of the end of local day ``as_of``. For the alert rules (jingyun.ops.alerts)."""
    found: list[Overspend] = []
    for b in budgets:
        if as_of < b.period_start:
            continue
        st = status(engine, b, as_of=as_of)
        for ls in st.lines:
            ln = ls.line
            kind = None
            if ls.actual > ln.available:
                kind = "over"
            elif ls.actual > ls.planned_to_date * (1 + pace_tolerance):
                kind = "pace"
            if kind:
                found.append(Overspend(b.key, ln.department, ln.channel, ln.campaign, kind, ln.available,
                                       ls.planned_to_date, ls.actual, st.as_of))
    return found
