"""Business-hour escalation deadlines follow the workspace calendar (jingyun.calendar), holidays included."""

from __future__ import annotations

import datetime as dt

from jingyun.approvals.hours import deadline


def test_business_deadline_skips_the_national_day_break() -> None:
    # 2026-09-30 17:00 Shanghai (09:00 UTC), 2 business hours: 1 h that evening, the 国庆 break
    # (Oct 1-7) is off, the other hour is Thursday Oct 8 09:00-10:00 Shanghai = 02:00 UTC
    got = deadline(dt.datetime(2026, 9, 30, 9), 2, clock="business", tz="Asia/Shanghai")
    assert got == dt.datetime(2026, 10, 8, 2)


def test_business_deadline_counts_a_make_up_saturday() -> None:
    # 2026-02-13 (Fri) 17:00 Shanghai, 2 business hours: Saturday Feb 14 is a 调休 working day before 春节
    got = deadline(dt.datetime(2026, 2, 13, 9), 2, clock="business", tz="Asia/Shanghai")
    assert got == dt.datetime(2026, 2, 14, 2)
    # a plain weekday rota would have waited for Monday
    assert deadline(dt.datetime(2026, 2, 13, 9), 2, clock="business", tz="Asia/Shanghai",
                    is_workday=lambda d: d.weekday() < 5) == dt.datetime(2026, 2, 16, 2)
