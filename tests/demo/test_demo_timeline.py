"""The demo calendar against values worked out by hand: Shanghai midnights in UTC,
the promotion days, the period's mean multiplier, and the op-time inverse."""

from __future__ import annotations

import datetime as dt

import numpy as np

from jingyun.demo.params import DemoParams
from jingyun.demo.timeline import DAY_S, HISTORY_DAYS, Calendar, seasonality, time_of_day


def test_days_start_at_shanghai_midnight() -> None:
    cal = Calendar.build(DemoParams(days=60, end_date=dt.date(2026, 10, 31)))
    assert cal.n_days == HISTORY_DAYS + 60 and cal.period_start == HISTORY_DAYS
    assert cal.date(cal.period_start) == dt.date(2026, 9, 2)  # 60 days ending Oct 31 (Sep 2-30 and Oct)
    # local midnight of 2026-09-02 in Asia/Shanghai is 2026-09-01 16:00 UTC
    start = dt.datetime.fromtimestamp(cal.start_ms / 1000, dt.UTC)
    assert start == dt.datetime(2026, 9, 1, 16, 0, tzinfo=dt.UTC)
    assert cal.end_ms - cal.start_ms == 60 * DAY_S * 1000
    day = np.array([cal.period_start, cal.n_days - 1])
    ts = cal.ts_ms(day, np.array([0, DAY_S - 1]))
    assert cal.day_of_ts(ts).tolist() == day.tolist()  # the last second of a day stays in it


def test_promotions_and_weekends() -> None:
    dates = [dt.date(2026, 11, 11), dt.date(2026, 6, 18), dt.date(2026, 6, 2), dt.date(2026, 10, 3),
             dt.date(2026, 11, 14), dt.date(2026, 12, 12), dt.date(2026, 3, 4)]
    # Wed 双11, Thu 618, Tue June 2, Sat Oct 3 (golden week and weekend), Sat Nov 14, Sat 双12, an ordinary Wed
    assert seasonality(dates).tolist() == [5.0, 3.5, 1.5, 0.85 * 1.2, 1.2, 1.2 * 1.8, 1.0]


def test_period_mean_is_one_and_op_time_inverts() -> None:
    cal = Calendar.build(DemoParams(days=365))
    assert abs(cal.mult[cal.period_start:].mean() - 1.0) < 1e-12
    assert np.allclose(np.diff(cal.cum), cal.mult)
    days = np.arange(cal.n_days)
    assert (cal.day_of_op(cal.cum[:-1]) == days).all()  # the start of a day belongs to it
    assert (cal.day_of_op(cal.cum[:-1] + cal.mult / 2) == days).all()
    assert cal.day_of_op(np.array([-1.0, cal.cum[-1] + 5])).tolist() == [0, cal.n_days - 1]  # clipped


def test_time_of_day_follows_the_hourly_profile() -> None:
    secs = time_of_day(np.random.default_rng(3), 200_000)
    assert secs.min() >= 0 and secs.max() < DAY_S
    hours = np.bincount(secs // 3600, minlength=24) / len(secs)
    assert hours[21] > 5 * hours[3]  # evening peak over the small hours
    assert hours.argmax() == 21
