"""Chinese calendar regressors for the sales forecast: holidays and shopping festivals.

Every date fact comes from the calendar service (:mod:`jingyun.calendar`), the same one the
anomaly detector, the off-hours rule and SLA clocks use: public holiday breaks and 调休
make-up working days (``holidays.China`` plus the workspace's ``calendar.yaml``), the
festival windows (年货节, 618 run-up and peak, 双11 run-up and peak, 双12) and 春节 from the
lunisolar tables. The 春节 window spans the three statutory 春节 days ±7 days (17 days).
Day-of-week dummies (Monday is the base) carry the weekly rhythm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from jingyun.calendar import WorkCalendar, current, festivals, spring_festival

FESTIVALS: tuple[str, ...] = (
    "holiday", "makeup_workday", "nianhuo", "pre_618", "peak_618", "pre_1111", "peak_1111", "d1212",
    "spring_festival",
)
DOW: tuple[str, ...] = tuple(f"dow_{k}" for k in range(1, 7))
SPRING_WINDOW_DAYS = 7


def _windows(years: Sequence[int]) -> dict[str, set[dt.date]]:
    out: dict[str, set[dt.date]] = {name: set() for name in FESTIVALS}
    for year in years:
        for f in festivals(year):
            if f.key == "nianhuo":
                out["nianhuo"].update(f.days())
            elif f.key in ("618", "1111"):
                out[f"pre_{f.key}"].update(d for d in f.days() if d != f.peak)
                if f.peak is not None:
                    out[f"peak_{f.key}"].add(f.peak)
            elif f.key == "1212":
                out["d1212"].update(f.days())
        cny = spring_festival(year)
        span = range(-SPRING_WINDOW_DAYS, 2 + SPRING_WINDOW_DAYS + 1)  # 春节 days 1-3, each ±7
        out["spring_festival"].update(cny + dt.timedelta(days=k) for k in span)
    return out


def calendar_regressors(days: Sequence[dt.date], *, weekly: bool = True,
                        calendar: WorkCalendar | None = None) -> dict[str, NDArray[np.float64]]:
    """0/1 columns per day: :data:`FESTIVALS`, plus :data:`DOW` when ``weekly``."""
    if not days:
        return {name: np.zeros(0) for name in (*FESTIVALS, *(DOW if weekly else ()))}
    cal = calendar or current()
    years = sorted({d.year for d in days} | {min(days).year - 1, max(days).year + 1})
    windows = _windows([y for y in years if 1901 <= y <= 2099])
    cols: dict[str, list[float]] = {name: [] for name in FESTIVALS}
    for d in days:
        kind = cal.day_kind(d)
        cols["holiday"].append(float(kind == "holiday"))
        cols["makeup_workday"].append(float(kind == "makeup_workday"))
        for name in FESTIVALS[2:]:
            cols[name].append(float(d in windows[name]))
    out = {k: np.asarray(v) for k, v in cols.items()}
    if weekly:
        wd = np.asarray([d.weekday() for d in days])
        for k, name in enumerate(DOW, start=1):
            out[name] = (wd == k).astype(np.float64)
    return out


def weekly_regressors(week_starts: Sequence[dt.date], *,
                      calendar: WorkCalendar | None = None) -> dict[str, NDArray[np.float64]]:
    """For weekly series: how many days of each festival fall in the week (Monday start)."""
    days = [w + dt.timedelta(days=k) for w in week_starts for k in range(7)]
    daily = calendar_regressors(days, weekly=False, calendar=calendar)
    return {k: v.reshape(len(week_starts), 7).sum(axis=1) for k, v in daily.items()}
