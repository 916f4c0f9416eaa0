"""Chinese calendar regressors for the sales forecast: holidays and shopping festivals.

Public holidays (and the official make-up days off) come from the maintained
``holidays`` package (``holidays.China``); the retail festivals are fixed
dates: 618 (June 1–17 run-up, June 18 peak), 双11 (Nov 1–10 run-up, Nov 11
peak), 双12 (Dec 12), and a 春节 window of ±7 days around Chinese New Year
(taken from ``holidays.China`` so the lunar date is never hard-coded).
Day-of-week dummies (Monday is the base) carry the weekly rhythm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import holidays
import numpy as np
from numpy.typing import NDArray

FESTIVALS: tuple[str, ...] = (
    "holiday", "pre_618", "peak_618", "pre_1111", "peak_1111", "d1212", "spring_festival",
)
DOW: tuple[str, ...] = tuple(f"dow_{k}" for k in range(1, 7))
SPRING_WINDOW_DAYS = 7


def _spring_festival_days(years: Sequence[int]) -> set[dt.date]:
    cal = holidays.China(years=list(years))
    out: set[dt.date] = set()
    for day, name in cal.items():
        if name == "Chinese New Year (Spring Festival)":
            for k in range(-SPRING_WINDOW_DAYS, SPRING_WINDOW_DAYS + 1):
                out.add(day + dt.timedelta(days=k))
    return out


def calendar_regressors(days: Sequence[dt.date], *, weekly: bool = True) -> dict[str, NDArray[np.float64]]:
    """0/1 columns per day: :data:`FESTIVALS`, plus :data:`DOW` when ``weekly``."""
    if not days:
        return {name: np.zeros(0) for name in (*FESTIVALS, *(DOW if weekly else ()))}
    years = sorted({d.year for d in days} | {min(days).year - 1, max(days).year + 1})
    public = holidays.China(years=years)
    spring = _spring_festival_days(years)
    cols: dict[str, list[float]] = {name: [] for name in FESTIVALS}
    for d in days:
        cols["holiday"].append(float(d in public))
        cols["pre_618"].append(float(d.month == 6 and d.day < 18))
        cols["peak_618"].append(float(d.month == 6 and d.day == 18))
        cols["pre_1111"].append(float(d.month == 11 and d.day < 11))
        cols["peak_1111"].append(float(d.month == 11 and d.day == 11))
        cols["d1212"].append(float(d.month == 12 and d.day == 12))
        cols["spring_festival"].append(float(d in spring))
    out = {k: np.asarray(v) for k, v in cols.items()}
    if weekly:
        wd = np.asarray([d.weekday() for d in days])
        for k, name in enumerate(DOW, start=1):
            out[name] = (wd == k).astype(np.float64)
    return out


def weekly_regressors(week_starts: Sequence[dt.date]) -> dict[str, NDArray[np.float64]]:
    """For weekly series: how many days of each festival fall in the week (Monday start)."""
    days = [w + dt.timedelta(days=k) for w in week_starts for k in range(7)]
    daily = calendar_regressors(days, weekly=False)
    return {k: v.reshape(len(week_starts), 7).sum(axis=1) for k, v in daily.items()}
