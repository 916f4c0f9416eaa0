"""'Monthly' means calendar months: every: 1M on a fixed day, under a controllable clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError
from jingyun.ops.jobs import Job, load_jobs, next_fire
from jingyun.ops.runner import Outcome
from jingyun.ops.scheduler import Scheduler
from jingyun.store import open_store


class Clock:
    def __init__(self, at: dt.datetime):
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, settings: Settings, job: Job) -> Outcome:
        self.calls.append(job.name)
        return Outcome("ok", 0, 1, None)


def _jobs(home: Path, text: str) -> list[Job]:
    (home / "schedule.yaml").write_text(text, encoding="utf-8")
    return load_jobs(load_settings(home))


def _local(t: dt.datetime) -> str:
    return t.replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")


def test_month_end_job_fires_on_each_months_last_day(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, "jobs:\n  - {name: close, run: version, every: 1M, day: 31, at: '09:00'}\n")
    assert jobs[0].every_months == 1 and jobs[0].day == 31 and jobs[0].at == dt.time(9, 0)
    assert jobs[0].schedule == "every 1M day 31 at 09:00"
    settings = load_settings(tmp_path)
    clock = Clock(dt.datetime(2027, 12, 1))  # naive UTC = 08:00 local on Dec 1
    runner = Recorder()
    sched = Scheduler(settings, open_store(settings), clock=clock, runner=runner)
    fired: list[str] = []
    # walk 14 months a day at a time (09:00 local is 01:00 UTC): fires on the day of each month, once
    day = dt.datetime(2027, 12, 1, 1, 0)
    while day < dt.datetime(2029, 2, 1):
        clock.at = day
        if sched.fire(jobs[0]) is not None:
            fired.append(_local(day))
        day += dt.timedelta(days=1)
    assert fired == ["2027-12-31 09:00", "2028-01-31 09:00", "2028-02-29 09:00", "2028-03-31 09:00",
                     "2028-04-30 09:00", "2028-05-31 09:00", "2028-06-30 09:00", "2028-07-31 09:00",
                     "2028-08-31 09:00", "2028-09-30 09:00", "2028-10-31 09:00", "2028-11-30 09:00",
                     "2028-12-31 09:00", "2029-01-31 09:00"]
    assert runner.calls == ["close"] * 14
    # a common year: Jan 31 → Feb 28 → Mar 31 (the day never drifts to the 28th)
    job = jobs[0]
    t = dt.datetime(2027, 1, 1)
    got = []
    for _ in range(3):
        t = next_fire(job, "Asia/Shanghai", after=t, anchor=t)
        got.append(_local(t))
    assert got == ["2027-01-31 09:00", "2027-02-28 09:00", "2027-03-31 09:00"]


def test_first_of_month_and_quarterly(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, "jobs:\n  - {name: m, run: version, every: 1M}\n"
                           "  - {name: q, run: version, every: 3M, day: 15, at: 06:30}\n")
    m, q = jobs
    assert (m.day, m.at) == (1, dt.time(0, 0)) and q.at == dt.time(6, 30)  # unquoted 06:30 is YAML's 390
    # 00:00 local on the 1st is 16:00 UTC the day before
    assert next_fire(m, "Asia/Shanghai", after=dt.datetime(2026, 1, 20)) == dt.datetime(2026, 1, 31, 16, 0)
    fires: list[str] = []
    t = dt.datetime(2026, 1, 20)
    for _ in range(4):
        t = next_fire(q, "Asia/Shanghai", after=t, anchor=t if fires else None)
        fires.append(_local(t)[:10])
    assert fires == ["2026-02-15", "2026-05-15", "2026-08-15", "2026-11-15"]


def test_monthly_is_not_thirty_days(tmp_path: Path) -> None:
    """The old way (every: 30d) drifts through the month; every: 1M does not."""
    thirty, month = _jobs(tmp_path, "jobs:\n  - {name: a, run: version, every: 30d}\n"
                                    "  - {name: b, run: version, every: 1M, day: 5}\n")
    t1 = t2 = dt.datetime(2026, 1, 4, 16, 0)  # Jan 5 00:00 local
    days1, days2 = [], []
    for _ in range(6):
        t1 = next_fire(thirty, "Asia/Shanghai", after=t1, anchor=t1)
        t2 = next_fire(month, "Asia/Shanghai", after=t2, anchor=t2)
        days1.append(_local(t1)[8:10])
        days2.append(_local(t2)[8:10])
    assert days2 == ["05"] * 6 and days1 != days2


@pytest.mark.parametrize(("text", "field"), [
    ("{name: a, run: version, every: 1M, day: 32}", "jobs[0].day"),
    ("{name: a, run: version, every: 13M}", "jobs[0].every"),
    ("{name: a, run: version, every: 1M, at: '25:00'}", "jobs[0].at"),
    ("{name: a, run: version, every: 1h, day: 3}", "jobs[0].day"),
    ("{name: a, run: version, cron: '0 5 * * *', at: '09:00'}", "jobs[0].at"),
])
def test_bad_monthly_jobs_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(JingyunError) as err:
        _jobs(tmp_path, f"jobs:\n  - {text}\n")
    assert err.value.field == field


def test_status_shows_the_next_calendar_fire(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, "jobs:\n  - {name: close, run: version, every: 1M, day: 31, at: '09:00'}\n")
    settings = load_settings(tmp_path)
    sched = Scheduler(settings, open_store(settings), clock=Clock(dt.datetime(2027, 2, 3)), runner=Recorder())
    [row] = sched.status(jobs)
    assert row["schedule"] == "every 1M day 31 at 09:00" and row["status"] == "never" and not row["due"]
    assert row["next_run"] == "2027-02-28T09:00:00+08:00"
