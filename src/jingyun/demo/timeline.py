"""The demo calendar: seasonality, operational time and timestamps.

Day 0 is the first day of the history (``HISTORY_DAYS`` before the period, for
the CRM order history of legacy users); the observed period is the last
``params.days`` days. Timestamps are epoch milliseconds in UTC; the business
lives in Asia/Shanghai (UTC+8, no daylight saving), so local midnight is
16:00 UTC of the previous day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from jingyun.demo.params import DemoParams

HISTORY_DAYS = 365
LOCAL_OFFSET_S = 8 * 3600
DAY_S = 86_400

# Share of activity per local hour: quiet nights, lunch and evening peaks.
_HOURS = np.array(
    [0.8, 0.4, 0.2, 0.15, 0.15, 0.3, 0.8, 1.6, 2.6, 3.2, 3.6, 4.0,
     4.8, 4.4, 3.6, 3.4, 3.6, 3.8, 4.4, 5.4, 6.4, 6.8, 5.6, 2.8]
)
HOUR_WEIGHTS = _HOURS / _HOURS.sum()


def seasonality(dates: list[dt.date]) -> np.ndarray:
    """Daily demand multiplier before normalisation.

    Weekends lift demand; 618 (June 1–18, peak on the 18th) and 双11
    (Nov 1–11, peak on the 11th) are the two big promotions; 双12 is smaller;
    people travel in the National Day golden week (Oct 1–7) and shop less.
    """
    mult = np.ones(len(dates))
    for i, d in enumerate(dates):
        m = 1.0
        if d.weekday() >= 5:
            m *= 1.2
        if d.month == 6 and 1 <= d.day <= 17:
            m *= 1.5
        elif d.month == 6 and d.day == 18:
            m *= 3.5
        elif d.month == 11 and 1 <= d.day <= 10:
            m *= 1.6
        elif d.month == 11 and d.day == 11:
            m *= 5.0
        elif d.month == 12 and d.day == 12:
            m *= 1.8
        elif d.month == 10 and d.day <= 7:
            m *= 0.85
        mult[i] = m
    return mult


@dataclass(frozen=True)
class Calendar:
    first_date: dt.date  # day 0 (start of history)
    period_start: int  # index of the first day of the observed period
    n_days: int  # total days including history
    mult: np.ndarray  # seasonality multiplier per day, mean 1 over the period
    cum: np.ndarray  # operational time at the start of each day (len n_days + 1)
    midnight_ms: np.ndarray  # UTC epoch ms of local midnight per day

    @classmethod
    def build(cls, params: DemoParams) -> Calendar:
        first = params.start_date - dt.timedelta(days=HISTORY_DAYS)
        n = HISTORY_DAYS + params.days
        dates = [first + dt.timedelta(days=i) for i in range(n)]
        raw = seasonality(dates)
        mult = raw / raw[HISTORY_DAYS:].mean()
        cum = np.concatenate([[0.0], np.cumsum(mult)])
        epoch0 = dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC).timestamp()
        midnight = (epoch0 - LOCAL_OFFSET_S + np.arange(n) * DAY_S) * 1000
        return cls(first, HISTORY_DAYS, n, mult, cum, midnight.astype(np.int64))

    def date(self, day: int) -> dt.date:
        return self.first_date + dt.timedelta(days=int(day))

    def day_of_op(self, op: np.ndarray) -> np.ndarray:
        """Calendar day index for operational times (inverse of ``cum``)."""
        idx = np.searchsorted(self.cum, op, side="right") - 1
        return np.clip(idx, 0, self.n_days - 1)

    def ts_ms(self, day: np.ndarray, sec: np.ndarray) -> np.ndarray:
        return self.midnight_ms[day] + (np.asarray(sec) * 1000).astype(np.int64)

    def day_of_ts(self, ts_ms: np.ndarray) -> np.ndarray:
        return ((np.asarray(ts_ms) - self.midnight_ms[0]) // (DAY_S * 1000)).astype(np.int64)

    @property
    def end_ms(self) -> int:
        return int(self.midnight_ms[-1] + DAY_S * 1000)

    @property
    def start_ms(self) -> int:
        return int(self.midnight_ms[self.period_start])


def time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after local midnight, following the hourly profile."""
    hours = rng.choice(24, size=n, p=HOUR_WEIGHTS)
    return hours * 3600 + rng.integers(0, 3600, size=n)
