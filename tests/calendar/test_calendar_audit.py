"""The off-hours access alert works on the calendar's working days, 08:00-20:00 local."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jingyun.calendar import WorkCalendar
from jingyun.config import load_settings
from jingyun.security.audit import Auditor
from jingyun.security.config import ServiceSettings
from jingyun.store import open_store


def _alerts(auditor: Auditor) -> list[tuple[str, str]]:
    return [(a["actor"], a["kind"]) for a in auditor.alerts()[1]]


def test_make_up_saturday_is_working_time_and_national_day_is_not(home: Path) -> None:
    settings = load_settings()
    auditor = Auditor(open_store(settings), ServiceSettings(secret=b"s" * 32), settings.timezone,
                      work_calendar=WorkCalendar())
    at10 = dt.time(2, 0)  # 02:00 UTC is 10:00 in Shanghai
    reads = {
        "makeup-sat": dt.date(2026, 10, 10),  # 调休 Saturday: a working day
        "national-day-tue": dt.date(2026, 10, 6),  # a Tuesday inside the 国庆 break: off
        "ordinary-sat": dt.date(2026, 10, 17),  # an ordinary Saturday: off
        "ordinary-wed": dt.date(2026, 10, 14),  # working day
        "spring-mon": dt.date(2026, 2, 16),  # 除夕, Monday: off
    }
    for actor, day in reads.items():
        auditor.log(actor=actor, action="read_personal", target="user:1", now=dt.datetime.combine(day, at10))
    # 20:30 local on the make-up Saturday is outside the working hours even on a working day
    auditor.log(actor="makeup-sat-night", action="read_personal", target="user:1", now=dt.datetime(2026, 10, 10, 12, 30))
    assert _alerts(auditor) == [("national-day-tue", "off_hours"), ("ordinary-sat", "off_hours"),
                                ("spring-mon", "off_hours"), ("makeup-sat-night", "off_hours")]


def test_company_days_from_the_workspace_reach_the_auditor(home: Path) -> None:
    (home / "calendar.yaml").write_text("holidays:\n  2026-10-14: 公司团建\n", encoding="utf-8")
    settings = load_settings()
    auditor = Auditor(open_store(settings), ServiceSettings(secret=b"s" * 32), settings.timezone)  # no calendar given
    auditor.log(actor="a", action="export", detail={"rows": 1}, now=dt.datetime(2026, 10, 14, 2, 0))
    auditor.log(actor="b", action="export", detail={"rows": 1}, now=dt.datetime(2026, 10, 10, 2, 0))
    assert _alerts(auditor) == [("a", "off_hours")]
