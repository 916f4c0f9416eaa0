"""The workspace calendar: official days, then the company's own days from ``calendar.yaml``.

``$JINGYUN_HOME/calendar.yaml`` (optional) adds company holidays and working days; they
win over the official calendar::

    holidays:
      2026-12-31: 公司年会          # a date and its name
    workdays:
      - 2026-10-08                  # e.g. a stocktaking day inside a break
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import holidays
import yaml

from jingyun.calendar.festivals import Festival, festival_on
from jingyun.calendar.official import canonical, covers, official_year, warn_uncovered
from jingyun.errors import JingyunError, yaml_problem

DayKind = Literal["workday", "weekend", "holiday", "makeup_workday"]
FILE_NAME = "calendar.yaml"
_BREAK_SPAN = 10  # the longest official break is 9 days (春节 2024/2026)


@dataclass(frozen=True)
class WorkCalendar:
    country: str = "CN"
    company_holidays: dict[dt.date, str] = field(default_factory=dict)
    company_workdays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        if self.country not in holidays.list_supported_countries():
            raise JingyunError("bad_calendar", f"no holiday calendar {self.country!r}; use a country code such as CN "
                               "(JINGYUN_CALENDAR)", "calendar")

    # -- the official calendar -------------------------------------------------------------------
    def covers(self, year: int) -> bool:
        """Whether the official schedule (with its 调休) of ``year`` is known."""
        return covers(year, self.country)

    def _official_off(self, day: dt.date) -> bool:
        year = official_year(day.year, self.country)
        return day in year.off or (day.weekday() >= 5 and day not in year.makeup)

    def _break_name(self, day: dt.date) -> tuple[str, str] | None:
        """The official holiday whose break holds ``day`` (None for an ordinary day or weekend)."""
        if not self._official_off(day):
            return None
        lo = hi = day
        for _ in range(_BREAK_SPAN):
            if not self._official_off(lo - dt.timedelta(days=1)):
                break
            lo -= dt.timedelta(days=1)
        for _ in range(_BREAK_SPAN):
            if not self._official_off(hi + dt.timedelta(days=1)):
                break
            hi += dt.timedelta(days=1)
        names: list[tuple[str, str]] = []
        proper = False
        d = lo
        while d <= hi:
            got = official_year(d.year, self.country).off.get(d)
            if got is not None:
                proper = True
                name = canonical(*got)
                if name is not None and name not in names:
                    names.append(name)
            d += dt.timedelta(days=1)
        if not proper:
            return None
        if not names:  # only in-lieu days (a shifted day off next to a weekend): name it as the package does
            zh, en = official_year(day.year, self.country).off.get(day, ("调休", "Day off"))
            return zh, en
        return "、".join(n[0] for n in names), ", ".join(n[1] for n in names)

    # -- the questions -----------------------------------------------------------------------------
    def is_workday(self, day: dt.date) -> bool:
        if day in self.company_workdays:
            return True
        if day in self.company_holidays:
            return False
        warn_uncovered(day.year, self.country)
        return not self._official_off(day)

    def is_holiday(self, day: dt.date) -> bool:
        """A public holiday break (with its weekend days inside) or a company holiday; weekends are not."""
        if day in self.company_workdays:
            return False
        if day in self.company_holidays:
            return True
        warn_uncovered(day.year, self.country)
        return self._break_name(day) is not None

    def holiday_name(self, day: dt.date, locale: str = "zh-CN") -> str | None:
        if day in self.company_workdays:
            return None
        if day in self.company_holidays:
            return self.company_holidays[day]
        got = self._break_name(day)
        if got is None:
            return None
        return got[1] if locale.lower().startswith("en") else got[0]

    def day_kind(self, day: dt.date) -> DayKind:
        if self.is_holiday(day):
            return "holiday"
        if self.is_workday(day):
            return "makeup_workday" if day.weekday() >= 5 else "workday"
        return "weekend"

    def expected_effects(self, days: list[dt.date], locale: str = "zh-CN") -> dict[dt.date, str]:
        """Days whose level differs from an ordinary one for a known reason: shopping festival
        windows, holiday breaks and make-up working days (a 调休 Saturday trades like a weekday)."""
        out: dict[dt.date, str] = {}
        for d in days:
            fest: Festival | None = festival_on(d)
            if fest is not None:
                out[d] = fest.name(locale)
            elif (name := self.holiday_name(d, locale)) is not None:
                out[d] = name
            elif d.weekday() >= 5 and self.is_workday(d):
                out[d] = "调休上班" if not locale.lower().startswith("en") else "make-up working day"
        return out


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise JingyunError("bad_calendar", f"{value!r} is not a date like 2026-10-08", where) from None


def read_company_days(path: Path) -> tuple[dict[dt.date, str], frozenset[dt.date]]:
    """Company holidays (date → name) and working days from a calendar.yaml; nothing when it is absent."""
    if not path.exists():
        return {}, frozenset()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}  # dates stay text: we parse them
    except yaml.YAMLError as exc:
        raise JingyunError("bad_calendar", f"{path.name}: not valid YAML ({yaml_problem(exc)})", "calendar") from None
    if not isinstance(data, dict) or set(data) - {"holidays", "workdays"}:
        raise JingyunError("bad_calendar", f"{path.name} holds only 'holidays' and 'workdays'", "calendar")
    raw_h = data.get("holidays") or {}
    if isinstance(raw_h, list):
        raw_h = {d: "公司假日" for d in raw_h}
    if not isinstance(raw_h, dict):
        raise JingyunError("bad_calendar", "holidays is a mapping of date to name", "holidays")
    hol = {_date(k, f"holidays.{k}"): str(v or "公司假日") for k, v in raw_h.items()}
    raw_w = data.get("workdays") or []
    if not isinstance(raw_w, list):
        raise JingyunError("bad_calendar", "workdays is a list of dates", "workdays")
    work = frozenset(_date(v, f"workdays[{i}]") for i, v in enumerate(raw_w))
    both = sorted(set(hol) & work)
    if both:
        raise JingyunError("bad_calendar", f"{both[0]} is both a company holiday and a working day", "workdays")
    return hol, work
