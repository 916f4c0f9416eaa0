"""Calendar arithmetic for metrics and scorecards: buckets and named periods.

All dates are local calendar days in the workspace time zone. Weeks start on
Monday (ISO, as ``date_trunc('week', ...)`` on both engines). A bucket at the
edge of a range is clipped to it: ``--from 2026-10-03 --grain week`` makes the
first bucket 2026-09-28 hold only 3 to 4 October.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from jingyun.errors import JingyunError

PeriodKind = Literal["day", "week", "month", "quarter", "year"]
_ORDER = {"day": 0, "week": 1, "month": 2, "total": 3}


def bucket_of(day: dt.date, grain: str, start: dt.date) -> dt.date:
    """First day of the bucket holding ``day``; the ``total`` bucket is the range's first day."""
    if grain == "day":
        return day
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return start


def days(date_from: dt.date, date_to: dt.date) -> list[dt.date]:
    return [date_from + dt.timedelta(days=i) for i in range((date_to - date_from).days + 1)]


def buckets(date_from: dt.date, date_to: dt.date, grain: str) -> list[dt.date]:
    seen: dict[dt.date, None] = {}
    for day in days(date_from, date_to):
        seen.setdefault(bucket_of(day, grain, date_from), None)
    return list(seen)


def periods_per_bucket(date_from: dt.date, date_to: dt.date, grain: str, per: str) -> dict[dt.date, int]:
    """How many ``per`` periods (days, weeks, months) touch each ``grain`` bucket inside the range.

    A per-day metric (DAU) at month grain is averaged over the days of the month
    inside the range, so a month with no activity on some days is not inflated.
    """
    seen: dict[dt.date, set[dt.date]] = {}
    for day in days(date_from, date_to):
        seen.setdefault(bucket_of(day, grain, date_from), set()).add(bucket_of(day, per, date_from))
    return {b: len(v) for b, v in seen.items()}


def check_per(per: str, grain: str, metric: str) -> None:
    """A per-period count nests in the grain: equal, per day, or the whole range."""
    if per == grain or per == "day" or grain == "total":
        return
    if _ORDER[per] > _ORDER[grain]:
        why = f"metric {metric} is measured per {per}; use --grain {per} or total"
    else:  # weeks do not nest in months
        why = f"metric {metric} is measured per {per}, which does not nest in a {grain}; use --grain {per} or total"
    raise JingyunError("bad_grain", why, "grain")


def bucket_label(bucket: dt.date, grain: str) -> str:
    if grain == "month":
        return bucket.strftime("%Y-%m")
    if grain == "week":
        year, week, _ = bucket.isocalendar()
        return f"{year}-W{week:02d}"
    return bucket.isoformat()


@dataclass(frozen=True)
class Period:
    """A named calendar period: ``2026-10-05``, ``2026-W41``, ``2026-10``, ``2026-Q4`` or ``2026``."""

    kind: PeriodKind
    start: dt.date
    end: dt.date  # inclusive

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return self.start.strftime("%Y-%m")
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return str(self.start.year)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return period_of(self.kind, self.start - dt.timedelta(days=1))

    def year_ago(self) -> Period:
        """The same period one year earlier (ISO week number for weeks; 29 Feb maps to 28 Feb)."""
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            try:
                start = dt.date.fromisocalendar(year - 1, week, 1)
            except ValueError:  # week 53 in a year of 52
                start = dt.date.fromisocalendar(year - 1, 52, 1)
            return period_of("week", start)
        day = self.start
        try:
            back = day.replace(year=day.year - 1)
        except ValueError:
            back = day.replace(year=day.year - 1, day=28)
        return period_of(self.kind, back)


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def period_of(kind: PeriodKind, day: dt.date) -> Period:
    if kind == "day":
        return Period("day", day, day)
    if kind == "week":
        start = day - dt.timedelta(days=day.weekday())
        return Period("week", start, start + dt.timedelta(days=6))
    if kind == "month":
        return Period("month", day.replace(day=1), _month_end(day.year, day.month))
    if kind == "quarter":
        first = 3 * ((day.month - 1) // 3) + 1
        return Period("quarter", dt.date(day.year, first, 1), _month_end(day.year, first + 2))
    return Period("year", dt.date(day.year, 1, 1), dt.date(day.year, 12, 31))


_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"), "day"),
    (re.compile(r"^(\d{4})-W(\d{1,2})$", re.I), "week"),
    (re.compile(r"^(\d{4})-(\d{1,2})$"), "month"),
    (re.compile(r"^(\d{4})-Q([1-4])$", re.I), "quarter"),
    (re.compile(r"^(\d{4})$"), "year"),
)


def parse_period(text: str, field: str = "period") -> Period:
    text = str(text).strip()
    for pattern, kind in _PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        try:
            year = int(match.group(1))
            if kind == "day":
                return period_of("day", dt.date.fromisoformat(text))
            if kind == "week":
                return period_of("week", dt.date.fromisocalendar(year, int(match.group(2)), 1))
            if kind == "month":
                return period_of("month", dt.date(year, int(match.group(2)), 1))
            if kind == "quarter":
                return period_of("quarter", dt.date(year, 3 * (int(match.group(2)) - 1) + 1, 1))
            return period_of("year", dt.date(year, 1, 1))
        except ValueError:
            break
    raise JingyunError(
        "bad_period", f"cannot read period {text!r}; write 2026-10-05, 2026-W41, 2026-10, 2026-Q4 or 2026", field
    )
