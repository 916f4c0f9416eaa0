"""Official public holidays and 调休 make-up working days, from the ``holidays`` package.

``holidays.China`` carries the State Council's yearly notice (国务院办公厅关于节假日安排的通知) as
static data: the days off moved by 调休 and the weekend days that become working days. A year
is *covered* when that notice is in the package (2001 up to the newest year shipped). For a
year it does not cover we know only the statutory days of 《全国年节及纪念日放假办法》 (fixed
by law, lunar ones computed), not how the State Council will move them, so working days fall
back to Monday–Friday minus those statutory dates, and a :class:`CalendarCoverageWarning` says so.

Holidays are reported as *breaks* (放假): the official notice says "10月1日至7日放假调休，共7天",
so the Sunday inside the National Day break is part of the 国庆 holiday, while an ordinary
weekend is not a holiday at all. A break is the run of days off around an official holiday day.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import warnings
from dataclasses import dataclass

import holidays
from holidays.countries.china import ChinaStaticHolidays

log = logging.getLogger(__name__)

#: zh name in holidays.China → (canonical zh, en); 农历除夕 belongs to the 春节 break.
STATUTORY: dict[str, tuple[str, str]] = {
    "元旦": ("元旦", "New Year's Day"),
    "农历除夕": ("春节", "Spring Festival"),
    "春节": ("春节", "Spring Festival"),
    "清明节": ("清明节", "Qingming Festival"),
    "劳动节": ("劳动节", "Labour Day"),
    "端午节": ("端午节", "Dragon Boat Festival"),
    "中秋节": ("中秋节", "Mid-Autumn Festival"),
    "国庆节": ("国庆节", "National Day"),
}
FIRST_COVERED = 2001  # the first State Council notice holidays.China checks against


class CalendarCoverageWarning(UserWarning):
    """The calendar's data does not hold the official schedule of a year."""


def last_covered() -> int:
    """The newest year whose State Council schedule is shipped in the installed ``holidays``."""
    return max(ChinaStaticHolidays.special_public_holidays)


def covers(year: int, country: str = "CN") -> bool:
    if country != "CN":
        return True  # other countries have no 调休 notice to miss; holidays' own rules apply
    return FIRST_COVERED <= year <= last_covered()


_warned: set[tuple[str, int]] = set()


def warn_uncovered(year: int, country: str = "CN") -> None:
    """Warn once per process and year that the schedule is not known (working days fall back to weekdays)."""
    if covers(year, country) or (country, year) in _warned:
        return
    _warned.add((country, year))
    msg = (f"the {country} holiday schedule for {year} is not in the installed holidays package "
           f"(it covers {FIRST_COVERED}-{last_covered()}): working days fall back to Monday-Friday minus "
           f"the statutory holidays, with no 调休; upgrade holidays or add the days to calendar.yaml")
    log.warning(msg)
    warnings.warn(msg, CalendarCoverageWarning, stacklevel=3)


@dataclass(frozen=True)
class Year:
    """One year's official days: days off (with their zh/en names) and make-up working days."""

    year: int
    covered: bool
    off: dict[dt.date, tuple[str, str]]  # day off → (zh, en) as the package names it
    makeup: frozenset[dt.date]  # weekend days that are working days (调休上班)


@functools.lru_cache(maxsize=256)
def official_year(year: int, country: str = "CN") -> Year:
    covered = covers(year, country)
    zh: holidays.HolidayBase
    en: holidays.HolidayBase
    if country == "CN":
        # an uncovered year: only the statutory days, without the package's guessed in-lieu days
        zh = holidays.China(years=year, language="zh_CN", observed=covered)
        en = holidays.China(years=year, language="en_US", observed=covered)
        makeup = frozenset(d for d in zh.weekend_workdays if d.year == year) if covered else frozenset()
    else:
        zh = holidays.country_holidays(country, years=year)
        en = holidays.country_holidays(country, years=year, language="en_US") if "en_US" in getattr(
            zh, "supported_languages", ()) else zh
        makeup = frozenset(d for d in getattr(zh, "weekend_workdays", ()) if d.year == year)
    off: dict[dt.date, tuple[str, str]] = {}
    for day, name in zh.items():
        if day.year == year:
            off[day] = (name, en.get(day, name))
    return Year(year, covered, off, makeup)


def canonical(zh: str, en: str) -> tuple[str, str] | None:
    """The holiday a named day belongs to; None for in-lieu days (补假, 调休) that only extend a break."""
    if zh in STATUTORY:
        return STATUTORY[zh]
    if "补假" in zh or "调休" in zh or "推定" in zh or "observed" in en.lower() or "substituted" in en.lower():
        return None
    return (zh, en)
