"""Shopping festivals (电商大促) and the lunar dates retail plans around.

The festival windows are conventions, stated once here and used by the forecast's
regressors and the anomaly detector alike:

* 年货节 (New Year goods festival): from 25 days before 春节 to 7 days before it, when
  couriers stop taking parcels for the holiday. It belongs to the year of its 春节, so the
  2027 年货节 starts in January 2027 (or late December 2026 when 春节 is early).
* 618: the run-up June 1–17 and the peak on June 18.
* 双11: the run-up November 1–10 and the peak on November 11.
* 双12: December 12.

春节 (lunar 1/1) and 中秋 (lunar 8/15) come from the Chinese lunisolar tables that the
``holidays`` package ships (1901–2099), so no lunar date is written here by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from holidays.calendars.chinese import _ChineseLunisolar

from jingyun.errors import JingyunError

NIANHUO_START = 25  # days before 春节
NIANHUO_END = 7
_LUNAR = _ChineseLunisolar()


@dataclass(frozen=True)
class Festival:
    key: str  # nianhuo | 618 | 1111 | 1212
    name_zh: str
    name_en: str
    start: dt.date
    end: dt.date  # inclusive
    peak: dt.date | None

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=k) for k in range((self.end - self.start).days + 1)]

    def name(self, locale: str = "zh-CN") -> str:
        return self.name_en if locale.lower().startswith("en") else self.name_zh

    def to_dict(self) -> dict[str, str | None]:
        return {"key": self.key, "name_zh": self.name_zh, "name_en": self.name_en, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "peak": self.peak.isoformat() if self.peak else None}


def _lunar(kind: str, year: int) -> dt.date:
    if not 1901 <= year <= 2099:
        raise JingyunError("bad_year", f"lunar dates are known for 1901-2099; got {year}", "year")
    day, _estimated = _LUNAR.lunar_new_year_date(year) if kind == "new_year" else _LUNAR.mid_autumn_date(year)
    if day is None:
        raise JingyunError("bad_year", f"no lunar date for {year}", "year")
    return day


def spring_festival(year: int) -> dt.date:
    """春节: the first day of the first lunar month of ``year``."""
    return _lunar("new_year", year)


def mid_autumn(year: int) -> dt.date:
    """中秋节: the 15th day of the eighth lunar month of ``year``."""
    return _lunar("mid_autumn", year)


def festivals(year: int) -> list[Festival]:
    """The year's shopping festivals in date order."""
    cny = spring_festival(year)
    out = [
        Festival("nianhuo", "年货节", "New Year Goods Festival", cny - dt.timedelta(days=NIANHUO_START),
                 cny - dt.timedelta(days=NIANHUO_END), None),
        Festival("618", "618", "618 Shopping Festival", dt.date(year, 6, 1), dt.date(year, 6, 18),
                 dt.date(year, 6, 18)),
        Festival("1111", "双11", "Singles' Day (Double 11)", dt.date(year, 11, 1), dt.date(year, 11, 11),
                 dt.date(year, 11, 11)),
        Festival("1212", "双12", "Double 12", dt.date(year, 12, 12), dt.date(year, 12, 12), dt.date(year, 12, 12)),
    ]
    return sorted(out, key=lambda f: f.start)


def festival_on(day: dt.date) -> Festival | None:
    """The shopping festival whose window holds ``day`` (the 年货节 of next year's 春节 may start in December)."""
    years = (day.year, day.year + 1) if day.month == 12 else (day.year,)  # 春节 - 25 days is Dec 27 at the earliest
    for year in years:
        for f in festivals(year):
            if day in f:
                return f
    return None
