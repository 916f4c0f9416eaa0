"""Business-hours arithmetic on the working-day calendar (SLA clocks, response targets).

Working time is ``day_start``–``day_end`` (09:00–18:00 by default) in the given zone on
working days (the calendar: public holidays are off, 调休 Saturdays are on). A naive
datetime is read as UTC and the answer is naive UTC, like the metadata store; an aware one
gets an aware answer in ``tz``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from jingyun.errors import JingyunError

IsWorkday = Callable[[dt.date], bool]
DAY_START = dt.time(9, 0)
DAY_END = dt.time(18, 0)
_MAX_DAYS = 3660  # ten years: a calendar without working days must not hang


def _local(t: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    aware = t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)
    return aware.astimezone(zone).replace(tzinfo=None)


def _out(local: dt.datetime, zone: ZoneInfo, like: dt.datetime) -> dt.datetime:
    aware = local.replace(tzinfo=zone)
    return aware if like.tzinfo is not None else aware.astimezone(dt.UTC).replace(tzinfo=None)


def _check(day_start: dt.time, day_end: dt.time) -> None:
    if not day_start < day_end:
        raise JingyunError("bad_hours", "the working day must start before it ends", "day_start")


def add_business_hours(start: dt.datetime, hours: float, tz: str, *, is_workday: IsWorkday,
                       day_start: dt.time = DAY_START, day_end: dt.time = DAY_END) -> dt.datetime:
    """The moment ``hours`` of working time after ``start`` (work resumes at the next working morning)."""
    if hours < 0:
        raise JingyunError("bad_hours", "hours must not be negative", "hours")
    _check(day_start, day_end)
    zone = ZoneInfo(tz)
    t = _local(start, zone)
    left = dt.timedelta(hours=hours)
    for _ in range(_MAX_DAYS):
        end = dt.datetime.combine(t.date(), day_end)
        if not is_workday(t.date()) or t >= end:
            t = dt.datetime.combine(t.date() + dt.timedelta(days=1), day_start)
            continue
        t = max(t, dt.datetime.combine(t.date(), day_start))
        if left <= end - t:
            return _out(t + left, zone, start)
        left -= end - t
        t = dt.datetime.combine(t.date() + dt.timedelta(days=1), day_start)
    raise JingyunError("no_workdays", "the working-day calendar has no working day in ten years", "calendar")


def business_hours_between(a: dt.datetime, b: dt.datetime, tz: str, *, is_workday: IsWorkday,
                           day_start: dt.time = DAY_START, day_end: dt.time = DAY_END) -> float:
    """Working hours from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
    _check(day_start, day_end)
    if (a.tzinfo is None) != (b.tzinfo is None):
        raise JingyunError("bad_time", "give both times naive (UTC) or both with a zone", "b")
    if b < a:
        return -business_hours_between(b, a, tz, is_workday=is_workday, day_start=day_start, day_end=day_end)
    zone = ZoneInfo(tz)
    la, lb = _local(a, zone), _local(b, zone)
    total = dt.timedelta(0)
    day = la.date()
    while day <= lb.date():
        if is_workday(day):
            lo = max(la, dt.datetime.combine(day, day_start))
            hi = min(lb, dt.datetime.combine(day, day_end))
            if hi > lo:
                total += hi - lo
        day += dt.timedelta(days=1)
    return total.total_seconds() / 3600
