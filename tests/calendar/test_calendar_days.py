"""Working days, holidays and lunar dates against the State Council's published schedules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import jingyun.calendar as cal
from jingyun.calendar import CalendarCoverageWarning, WorkCalendar, workspace_calendar
from jingyun.calendar.official import last_covered
from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError

D = dt.date
CN = WorkCalendar()

# 国务院办公厅关于2026年部分节假日安排的通知 (2025-11): the make-up working days and the breaks.
MAKEUP_2026 = [D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)]
BREAKS_2026 = {
    "元旦": (D(2026, 1, 1), D(2026, 1, 3)),
    "春节": (D(2026, 2, 15), D(2026, 2, 23)),
    "清明节": (D(2026, 4, 4), D(2026, 4, 6)),
    "劳动节": (D(2026, 5, 1), D(2026, 5, 5)),
    "端午节": (D(2026, 6, 19), D(2026, 6, 21)),
    "中秋节": (D(2026, 9, 25), D(2026, 9, 27)),
    "国庆节": (D(2026, 10, 1), D(2026, 10, 7)),
}


def _days(a: dt.date, b: dt.date) -> list[dt.date]:
    return [a + dt.timedelta(days=k) for k in range((b - a).days + 1)]


def test_2026_make_up_saturdays_and_sundays_are_working_days() -> None:
    for day in MAKEUP_2026:
        assert day.weekday() >= 5
        assert CN.is_workday(day) and not CN.is_holiday(day) and CN.day_kind(day) == "makeup_workday"


def test_2026_breaks_are_holidays_with_their_names() -> None:
    holidays = set()
    for name, (a, b) in BREAKS_2026.items():
        for day in _days(a, b):
            assert CN.is_holiday(day) and not CN.is_workday(day), day
            assert CN.holiday_name(day) == name
            holidays.add(day)
        # the days either side of a break are not in it
        assert not CN.is_holiday(a - dt.timedelta(days=1)) and not CN.is_holiday(b + dt.timedelta(days=1))
    assert CN.holiday_name(D(2026, 10, 6), "en") == "National Day"
    # 33 days off in breaks, 19 of them weekdays (Jan 1-2, Feb 16-20 and 23, Apr 6, May 1, 4, 5, Jun 19,
    # Sep 25, Oct 1, 2, 5, 6, 7): 261 weekdays − 19 + 6 make-up days = 248 working days in 2026
    assert len(holidays) == 33
    year = _days(D(2026, 1, 1), D(2026, 12, 31))
    assert sum(d.weekday() < 5 for d in year) == 261
    assert sum(CN.is_workday(d) for d in year) == 248
    # the National Day weekdays are off; an ordinary Saturday is a weekend, not a holiday
    assert [CN.is_workday(d) for d in _days(D(2026, 10, 1), D(2026, 10, 9))] == [False] * 7 + [True, True]
    assert CN.day_kind(D(2026, 6, 27)) == "weekend" and CN.holiday_name(D(2026, 6, 27)) is None


def test_2025_national_day_and_mid_autumn_share_one_break() -> None:
    assert [CN.is_workday(d) for d in _days(D(2025, 10, 1), D(2025, 10, 8))] == [False] * 8
    assert CN.holiday_name(D(2025, 10, 6)) == "国庆节、中秋节"
    assert CN.is_workday(D(2025, 9, 28)) and CN.is_workday(D(2025, 10, 11))  # Sunday and Saturday make-up


def test_2024_make_up_days() -> None:
    assert [d for d in _days(D(2024, 1, 1), D(2024, 12, 31)) if d.weekday() >= 5 and CN.is_workday(d)] == [
        D(2024, 2, 4), D(2024, 2, 18), D(2024, 4, 7), D(2024, 4, 28), D(2024, 5, 11), D(2024, 9, 14),
        D(2024, 9, 29), D(2024, 10, 12)]


@pytest.mark.parametrize(("year", "spring", "autumn"), [
    (2025, D(2025, 1, 29), D(2025, 10, 6)),
    (2026, D(2026, 2, 17), D(2026, 9, 25)),
    (2027, D(2027, 2, 6), D(2027, 9, 15)),
])
def test_lunar_dates(year: int, spring: dt.date, autumn: dt.date) -> None:
    assert cal.spring_festival(year) == spring
    assert cal.mid_autumn(year) == autumn


def test_lunar_dates_outside_the_tables_are_refused() -> None:
    with pytest.raises(JingyunError) as err:
        cal.spring_festival(2100)
    assert err.value.field == "year"


def test_festival_windows() -> None:
    got = {f.key: (f.start, f.end, f.peak) for f in cal.festivals(2026)}
    assert got == {
        "nianhuo": (D(2026, 1, 23), D(2026, 2, 10), None),  # 春节 Feb 17 − 25 … − 7 days
        "618": (D(2026, 6, 1), D(2026, 6, 18), D(2026, 6, 18)),
        "1111": (D(2026, 11, 1), D(2026, 11, 11), D(2026, 11, 11)),
        "1212": (D(2026, 12, 12), D(2026, 12, 12), D(2026, 12, 12)),
    }
    assert cal.festival_on(D(2026, 11, 11)).name("en") == "Singles' Day (Double 11)"  # type: ignore[union-attr]
    assert cal.festival_on(D(2026, 11, 12)) is None
    # 春节 2028 is Jan 26: its 年货节 starts on Jan 1, inside the year; 2031's (Jan 23) starts Dec 29, 2030
    assert cal.festival_on(D(2030, 12, 29)).key == "nianhuo"  # type: ignore[union-attr]


def test_a_year_without_data_warns_and_falls_back_to_weekdays() -> None:
    year = last_covered() + 1
    fresh = WorkCalendar()
    from jingyun.calendar import official

    official._warned.discard(("CN", year))
    with pytest.warns(CalendarCoverageWarning, match=f"{year}"):
        fresh.is_workday(D(year, 3, 2))
    assert not fresh.covers(year) and fresh.covers(2026)
    days = _days(D(year, 1, 1), D(year, 12, 31))
    statutory = {D(year, 1, 1), D(year, 5, 1), D(year, 10, 1), D(year, 10, 2), D(year, 10, 3)}
    for d in days:  # Monday–Friday minus the dates fixed by law; no make-up Saturdays
        if d.weekday() >= 5:
            assert not fresh.is_workday(d)
        elif d in statutory:
            assert not fresh.is_workday(d) and fresh.is_holiday(d)


def test_company_days_from_the_home(home: Path) -> None:
    (home / "calendar.yaml").write_text(
        "holidays:\n  2026-12-31: 公司年会\nworkdays:\n  - 2026-10-07\n", encoding="utf-8")
    c = workspace_calendar(load_settings())
    assert not c.is_workday(D(2026, 12, 31)) and c.holiday_name(D(2026, 12, 31)) == "公司年会"
    assert c.is_workday(D(2026, 10, 7)) and not c.is_holiday(D(2026, 10, 7))
    assert c.is_holiday(D(2026, 10, 6))
    # the module-level service reads the same workspace (approvals call cal.is_workday)
    assert cal.is_workday(D(2026, 10, 7)) and not cal.is_workday(D(2026, 12, 31))
    (home / "calendar.yaml").write_text("workdays:\n  - 2026-13-01\n", encoding="utf-8")
    with pytest.raises(JingyunError) as err:
        workspace_calendar(load_settings())
    assert (err.value.code, err.value.field) == ("bad_calendar", "workdays[0]")


def test_the_calendar_setting() -> None:
    assert Settings().calendar == "CN"
    us = WorkCalendar("US")
    assert us.is_holiday(D(2026, 7, 3)) and not us.is_workday(D(2026, 7, 3))  # Independence Day observed
    with pytest.raises(JingyunError) as err:
        WorkCalendar("XX")
    assert err.value.field == "calendar"


def test_business_hours_skip_the_break_and_count_the_make_up_day() -> None:
    tz = "Asia/Shanghai"
    z = dt.timezone(dt.timedelta(hours=8))
    start = dt.datetime(2026, 9, 30, 17, 0, tzinfo=z)
    # 1 h left on Sep 30, then 1 Oct–7 Oct off; 8 Oct 09:00 + 9 h → 18:00
    assert cal.add_business_hours(start, 10, tz, calendar=CN) == dt.datetime(2026, 10, 8, 18, 0, tzinfo=z)
    # naive UTC in, naive UTC out
    assert cal.add_business_hours(dt.datetime(2026, 9, 30, 9), 10, tz, calendar=CN) == dt.datetime(2026, 10, 8, 10)
    # the 调休 Saturday Oct 10 counts: Fri 9 Oct 09:00 → Mon 12 Oct 09:00 is 9 + 9 hours
    a, b = dt.datetime(2026, 10, 9, 9, tzinfo=z), dt.datetime(2026, 10, 12, 9, tzinfo=z)
    assert cal.business_hours_between(a, b, tz, calendar=CN) == 18.0
    assert cal.business_hours_between(b, a, tz, calendar=CN) == -18.0
    # and round trip: adding what lies between gets back to the end
    assert cal.add_business_hours(a, 18.0, tz, calendar=CN) == dt.datetime(2026, 10, 10, 18, tzinfo=z)
    with pytest.raises(JingyunError):
        cal.add_business_hours(a, -1, tz, calendar=CN)
