"""When an unanswered step escalates: after N calendar hours, or N business hours (Mon-Fri 09:00-18:00 in the
workspace time zone; working days from ``jingyun.calendar.is_workday`` when that module exists, so the Chinese
holiday calendar and its make-up working days apply, else Monday to Friday)."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from zoneinfo import ZoneInfo

from jingyun.errors import JingyunError
from jingyun.localtime import aware

DAY_START = dt.time(9, 0)
DAY_END = dt.time(18, 0)
IsWorkday = Callable[[dt.date], bool]


def weekdays(day: dt.date) -> bool:
    return day.weekday() < 5


def default_is_workday() -> IsWorkday:
    try:
        module = importlib.import_module("jingyun.calendar")
    except ImportError:
        return weekdays
    found = getattr(module, "is_workday", None)
    return found if callable(found) else weekdays


def deadline(start: dt.datetime, hours: float, *, clock: str, tz: str,
             is_workday: IsWorkday | None = None) -> dt.datetime:
    """The moment (naive UTC) ``hours`` after ``start`` (naive UTC) on the given clock."""
    span = dt.timedelta(hours=hours)
    if clock == "calendar":
        return start + span
    if clock != "business":
        raise JingyunError("bad_workflows", "clock must be 'calendar' or 'business'", "escalation.clock")
    workday = is_workday or default_is_workday()
    zone = ZoneInfo(tz)
    t = aware(start, tz).replace(tzinfo=None)  # local wall time
    left = span
    for _ in range(3660):  # ten years of days: a calendar with no working day at all must not hang
        day_end = dt.datetime.combine(t.date(), DAY_END)
        if not workday(t.date()) or t >= day_end:
            t = dt.datetime.combine(t.date() + dt.timedelta(days=1), DAY_START)
            continue
        t = max(t, dt.datetime.combine(t.date(), DAY_START))
        available = day_end - t
        if left <= available:
            return (t + left).replace(tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)
        left -= available
        t = dt.datetime.combine(t.date() + dt.timedelta(days=1), DAY_START)
    raise JingyunError("no_workdays", "the working-day calendar has no working day in ten years", "calendar")
