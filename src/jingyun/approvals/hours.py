"""When an unanswered step escalates: after N calendar hours, or N business hours (09:00-18:00 in the
workspace time zone on working days). The arithmetic is the calendar's (:func:`jingyun.calendar.add_business_hours`):
the Chinese holiday calendar and its make-up working days apply, plus the workspace's company days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from jingyun import calendar
from jingyun.calendar import hours as _hours
from jingyun.errors import JingyunError

DAY_START = _hours.DAY_START
DAY_END = _hours.DAY_END
IsWorkday = Callable[[dt.date], bool]


def weekdays(day: dt.date) -> bool:
    return day.weekday() < 5


def default_is_workday() -> IsWorkday:
    """The working days of the environment's workspace calendar."""
    return calendar.is_workday


def deadline(start: dt.datetime, hours: float, *, clock: str, tz: str,
             is_workday: IsWorkday | None = None) -> dt.datetime:
    """The moment (naive UTC) ``hours`` after ``start`` (naive UTC) on the given clock; ``is_workday``
    replaces the workspace calendar's working days (tests, a team's own rota)."""
    if clock == "calendar":
        return start + dt.timedelta(hours=hours)
    if clock != "business":
        raise JingyunError("bad_workflows", "clock must be 'calendar' or 'business'", "escalation.clock")
    if is_workday is None:
        return calendar.add_business_hours(start, hours, tz, day_start=DAY_START, day_end=DAY_END)
    return _hours.add_business_hours(start, hours, tz, is_workday=is_workday, day_start=DAY_START, day_end=DAY_END)
