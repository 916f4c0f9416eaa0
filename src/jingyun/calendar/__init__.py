"""The Chinese calendar as one service (中国日历): working days, holidays, festivals, business hours.

Everything that asks "is this a working day?" asks here: the sales forecast's holiday
regressors, the anomaly detector's expected effects, the audit log's off-hours rule, SLA
clocks (approvals call :func:`is_workday`) and the scheduler's calendar months.

* Public holidays and 调休 make-up working days: the ``holidays`` package (``holidays.China``
  ships the State Council's yearly notice; see docs/calendar.md for why this one). A year the
  package does not cover gives a :class:`CalendarCoverageWarning` and falls back to Monday–Friday
  minus the statutory holiday dates.
* The workspace's calendar is the setting ``calendar`` (default ``CN``, any country code the
  ``holidays`` package knows), plus company holidays and working days from
  ``$JINGYUN_HOME/calendar.yaml``.
* Shopping festivals (年货节, 618, 双11, 双12) and lunar dates (春节, 中秋): :mod:`.festivals`.

The module-level functions use the workspace of the current environment (``JINGYUN_HOME``);
pass a :class:`WorkCalendar` (:func:`workspace_calendar`) where a specific workspace is meant.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from jingyun.calendar import hours as _hours
from jingyun.calendar.festivals import Festival, festival_on, festivals, mid_autumn, spring_festival
from jingyun.calendar.official import CalendarCoverageWarning, covers, last_covered
from jingyun.calendar.service import FILE_NAME, DayKind, WorkCalendar, read_company_days

if TYPE_CHECKING:
    from jingyun.config import Settings

__all__ = [
    "CalendarCoverageWarning", "DayKind", "Festival", "WorkCalendar", "add_business_hours",
    "business_hours_between", "covers", "current", "expected_effects", "festival_on", "festivals",
    "holiday_name", "is_holiday", "is_workday", "last_covered", "mid_autumn", "spring_festival",
    "workspace_calendar",
]


def workspace_calendar(settings: Settings) -> WorkCalendar:
    """The calendar of a workspace: its ``calendar`` setting plus ``calendar.yaml`` in its home."""
    hol, work = read_company_days(Path(settings.home) / FILE_NAME)
    return WorkCalendar(settings.calendar, hol, work)


_lock = threading.Lock()
_cached: tuple[tuple[object, ...], WorkCalendar] | None = None


def current() -> WorkCalendar:
    """The calendar of the environment's workspace, re-read when calendar.yaml or the settings change."""
    global _cached
    from jingyun.config import load_settings

    home = os.environ.get("JINGYUN_HOME", "")
    stamp: list[object] = [home, os.environ.get("JINGYUN_CALENDAR")]
    if home:
        for name in (FILE_NAME, "jingyun.toml"):
            p = Path(home).expanduser() / name
            stamp.append(p.stat().st_mtime_ns if p.exists() else None)
    key = tuple(stamp)
    with _lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
    cal = workspace_calendar(load_settings()) if home else WorkCalendar()
    with _lock:
        _cached = (key, cal)
    return cal


def is_workday(day: dt.date) -> bool:
    """A working day: Monday–Friday outside public holidays, plus 调休 make-up days, plus company overrides."""
    return current().is_workday(day)


def is_holiday(day: dt.date) -> bool:
    """Inside a public holiday break (its weekend days included) or a company holiday."""
    return current().is_holiday(day)


def holiday_name(day: dt.date, locale: str = "zh-CN") -> str | None:
    """The holiday's name in the locale (zh-CN or en), or None on an ordinary day."""
    return current().holiday_name(day, locale)


def expected_effects(days: list[dt.date], locale: str = "zh-CN") -> dict[dt.date, str]:
    return current().expected_effects(days, locale)


def add_business_hours(start: dt.datetime, hours: float, tz: str, *, calendar: WorkCalendar | None = None,
                       day_start: dt.time = _hours.DAY_START, day_end: dt.time = _hours.DAY_END) -> dt.datetime:
    """``hours`` of working time after ``start`` on the calendar's working days (09:00–18:00 local by default)."""
    cal = calendar or current()
    return _hours.add_business_hours(start, hours, tz, is_workday=cal.is_workday, day_start=day_start,
                                     day_end=day_end)


def business_hours_between(a: dt.datetime, b: dt.datetime, tz: str, *, calendar: WorkCalendar | None = None,
                           day_start: dt.time = _hours.DAY_START, day_end: dt.time = _hours.DAY_END) -> float:
    """Working hours between two moments on the calendar's working days."""
    cal = calendar or current()
    return _hours.business_hours_between(a, b, tz, is_workday=cal.is_workday, day_start=day_start,
                                         day_end=day_end)
