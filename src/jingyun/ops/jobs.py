"""Job definitions: ``$JINGYUN_HOME/schedule.yaml``, authored by hand (input, not state).

::

    jobs:
      - name: nightly-tags
        run: tags compute           # arguments to `jingyun`
        cron: "0 5 * * *"           # 05:00 in the workspace time zone (JINGYUN_TIMEZONE)
        timeout: 30m                # killed after this; default 1h
        retries: 1                  # extra attempts after a failure; default 0
        catch_up: once              # after downtime: once (default) or skip
      - name: data-checks
        run: check --fail
        every: 1h                   # s, m, h, d: a fixed interval, anchored at the last fire

      - name: month-end-report
        run: kpi report
        every: 1M                   # calendar months (3M: quarterly), not 30 days
        day: 31                     # day of the month, default 1; a shorter month uses its last day
        at: "09:00"                 # local wall time, default 00:00

A job has exactly one of ``cron`` (calendar semantics: ``0 5 1 * *`` is 05:00 on
the 1st of each month, not every 30 days) or ``every``. Fire times come from
APScheduler's ``CronTrigger``/``IntervalTrigger`` in the workspace time zone, so
daylight-saving zones keep wall-clock times; the store keeps naive UTC.

``every: NM`` is N calendar months on a fixed day of the month: ``day: 31`` fires on
Jan 31, Feb 28 (29 in a leap year), Mar 31, Apr 30 — the day is clamped to the month's
last day and never drifts, because it is part of the job, not taken from the last fire.
(A cron ``0 9 31 * *`` instead skips the months without a 31st.) With N > 1 the months
count from the job's first fire.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from jingyun.config import Settings
from jingyun.errors import JingyunError, yaml_problem

CatchUp = Literal["once", "skip"]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_KEYS = {"name", "run", "every", "cron", "timeout", "retries", "catch_up", "day", "at"}
_MONTHS = re.compile(r"^\s*(\d+)\s*(?:M|mo|months?)\s*$")
_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

DEFAULT_SCHEDULE = """# Recurring work, run by `jingyun serve` (or `jingyun schedule serve` / `schedule run --due`).
# cron: minute hour day-of-month month day-of-week, in the workspace time zone.
jobs:
  - name: data-checks
    run: check --fail
    every: 1h
    timeout: 10m
    catch_up: skip
  - name: approval-escalate
    run: approval escalate
    every: 15m
    timeout: 5m
    catch_up: skip
  - name: messages-retry
    run: messages retry
    every: 1m
    timeout: 5m
    catch_up: skip
  - name: privacy-retention
    run: privacy retention
    cron: "0 4 * * *"
    timeout: 1h
  - name: optimize
    run: optimize
    cron: "30 4 * * *"
    timeout: 1h
  - name: tags
    run: tags compute
    cron: "0 5 * * *"
    timeout: 1h
    retries: 1
  - name: lifecycle-snapshot
    run: segment snapshot lifecycle
    cron: "0 6 1 * *"
    timeout: 30m
    retries: 1
  - name: clv-score
    run: clv score
    cron: "0 6 * * 1"
    timeout: 1h
  - name: churn-retrain
    run: model train churn
    cron: "0 7 * * 1"
    timeout: 1h
    retries: 1
  - name: alerts
    run: alerts evaluate
    cron: "0 8 * * *"
    timeout: 30m
    retries: 1
"""


def parse_duration(text: Any, field: str) -> float:
    m = _DURATION.match(str(text))
    if not m:
        months = " (or calendar months for every: 1M)" if field.endswith(".every") else ""
        raise JingyunError("bad_schedule", f"{text!r} is not a duration like 30s, 10m, 1h or 7d{months}", field)
    return float(m.group(1)) * _UNITS[m.group(2)]


def _month_fields(raw: dict[str, Any], where: str, months_m: re.Match[str] | None) -> tuple[int | None, int, dt.time]:
    """``every: NM`` with its ``day`` (1-31, default 1) and ``at`` (HH:MM, default 00:00)."""
    if months_m is None:
        for key in ("day", "at"):
            if key in raw:
                raise JingyunError("bad_schedule", f"{key} goes with calendar months (every: 1M)", f"{where}.{key}")
        return None, 1, dt.time(0, 0)
    months = int(months_m.group(1))
    if not 1 <= months <= 12:
        raise JingyunError("bad_schedule", "every: 1M to 12M calendar months", f"{where}.every")
    day = raw.get("day", 1)
    if not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 31:
        raise JingyunError("bad_schedule", "day must be a day of the month from 1 to 31", f"{where}.day")
    at = raw.get("at", "00:00")
    if isinstance(at, int) and not isinstance(at, bool) and 0 <= at < 24 * 60:
        at = f"{at // 60:02d}:{at % 60:02d}"  # YAML 1.1 reads an unquoted 09:00 as 540 (base 60)
    at_m = _AT.match(str(at).strip())
    if at_m is None:
        raise JingyunError("bad_schedule", "at must be a local time HH:MM, e.g. \"09:00\"", f"{where}.at")
    return months, day, dt.time(int(at_m.group(1)), int(at_m.group(2)))


@dataclass(frozen=True)
class Job:
    name: str
    args: tuple[str, ...]
    every_s: float | None
    timeout_s: float = 3600.0
    retries: int = 0
    cron: str | None = None
    catch_up: CatchUp = "once"
    every_months: int | None = None  # calendar months (every: 1M), on ``day`` at ``at``
    day: int = 1
    at: dt.time = dt.time(0, 0)

    @property
    def max_seconds(self) -> float:
        """How long a run may hold the job before its marker reads as stale (every attempt, plus a minute)."""
        return self.timeout_s * (self.retries + 1) + 60

    @property
    def schedule(self) -> str:
        if self.cron:
            return f"cron {self.cron}"
        if self.every_months is not None:
            return f"every {self.every_months}M day {self.day} at {self.at:%H:%M}"
        assert self.every_s is not None
        unit = next(u for u in "dhms" if self.every_s % _UNITS[u] == 0 or u == "s")
        return f"every {self.every_s / _UNITS[unit]:g}{unit}"

    def spec(self, tz: str) -> str:
        return f"{self.schedule} {tz}"[:200]


def _aware(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC)


def _naive(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(tzinfo=None)


class MonthlyTrigger(BaseTrigger):
    """Every ``months`` calendar months on ``day`` (clamped to the month's last day) at ``at`` local time.

    With ``months`` > 1 the phase comes from ``anchor`` (the last fire): the next fire is
    ``months`` after the anchor's month."""

    def __init__(self, months: int, day: int, at: dt.time, tz: str, anchor: dt.datetime | None = None):
        self.months, self.day, self.at, self.zone = months, day, at, ZoneInfo(tz)
        self.anchor = anchor.astimezone(self.zone) if anchor is not None else None

    def _fire(self, index: int) -> dt.datetime:
        year, month = divmod(index, 12)
        day = min(self.day, calendar.monthrange(year, month + 1)[1])
        return dt.datetime.combine(dt.date(year, month + 1, day), self.at, tzinfo=self.zone)

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        local = now.astimezone(self.zone)
        index = local.year * 12 + local.month - 1 - 1  # from last month: its clamped day can't be after now
        if self.anchor is not None and self.months > 1:
            phase = self.anchor.year * 12 + self.anchor.month - 1
            index += (phase - index) % self.months
        step = self.months if self.anchor is not None else 1  # no anchor: the first fire is the next one
        while self._fire(index) < now:
            index += step
        return self._fire(index)

    def __str__(self) -> str:
        return f"monthly[{self.months}M day={self.day} at={self.at:%H:%M}]"


def trigger(job: Job, tz: str, anchor: dt.datetime | None = None) -> BaseTrigger:
    """The APScheduler trigger of a job; an interval is anchored at ``anchor`` (naive UTC, its last fire)."""
    if job.cron:
        return CronTrigger.from_crontab(job.cron, timezone=ZoneInfo(tz))
    if job.every_months is not None:
        return MonthlyTrigger(job.every_months, job.day, job.at, tz, _aware(anchor) if anchor is not None else None)
    assert job.every_s is not None
    start = _aware(anchor) if anchor is not None else None
    return IntervalTrigger(seconds=job.every_s, start_date=start, timezone=ZoneInfo(tz))


def next_fire(job: Job, tz: str, *, after: dt.datetime, anchor: dt.datetime | None = None,
              inclusive: bool = False) -> dt.datetime:
    """The first fire time after ``after`` (or at it, when ``inclusive``), naive UTC."""
    start = _aware(after) + (dt.timedelta(0) if inclusive else dt.timedelta(seconds=1))
    if not job.cron and job.every_months is None and anchor is None:
        anchor = start
    fire = trigger(job, tz, anchor).get_next_fire_time(None, start)
    if fire is None:  # a cron that can never fire (Feb 30) is refused at load; keep mypy honest
        raise JingyunError("bad_schedule", f"job {job.name} never fires", "cron")
    return _naive(fire)


def schedule_path(settings: Settings) -> Path:
    return settings.home / "schedule.yaml"


def load_jobs(settings: Settings) -> list[Job]:
    path = schedule_path(settings)
    if not path.exists():
        raise JingyunError("no_schedule", f"no schedule at {path}; run `jingyun schedule init`", "schedule")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise JingyunError("bad_schedule", f"{path.name}: not valid YAML ({yaml_problem(exc)})", "schedule") from None
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list):
        raise JingyunError("bad_schedule", "the schedule needs a list under 'jobs'", "jobs")
    out = [_parse_job(raw, f"jobs[{i}]", settings.timezone) for i, raw in enumerate(jobs)]
    names = [j.name for j in out]
    if len(set(names)) != len(names):
        raise JingyunError("bad_schedule", "job names must be unique", "jobs")
    return out


def _parse_job(raw: Any, where: str, tz: str) -> Job:
    if not isinstance(raw, dict):
        raise JingyunError("bad_schedule", "each job is an object with name, run and cron or every", where)
    unknown = set(raw) - _KEYS
    if unknown:
        raise JingyunError("bad_schedule", f"unknown keys {sorted(unknown)}", where)
    name, run = raw.get("name"), raw.get("run")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,60}", name):
        raise JingyunError("bad_schedule", "name must be 1-60 letters, digits, '.', '_' or '-'", f"{where}.name")
    if not isinstance(run, str) or not run.strip():
        raise JingyunError("bad_schedule", "run must be the arguments of a jingyun command", f"{where}.run")
    retries = raw.get("retries", 0)
    if not isinstance(retries, int) or not 0 <= retries <= 5:
        raise JingyunError("bad_schedule", "retries must be an integer from 0 to 5", f"{where}.retries")
    catch_up = raw.get("catch_up", "once")
    if catch_up not in ("once", "skip"):
        raise JingyunError("bad_schedule", "catch_up must be 'once' or 'skip'", f"{where}.catch_up")
    if ("cron" in raw) == ("every" in raw):
        raise JingyunError("bad_schedule", "give exactly one of cron (\"0 5 * * *\") or every (1d)", where)
    months_m = _MONTHS.match(str(raw["every"])) if "every" in raw else None
    months, day, at = _month_fields(raw, where, months_m)
    every = parse_duration(raw["every"], f"{where}.every") if "every" in raw and months is None else None
    if every is not None and every <= 0:
        raise JingyunError("bad_schedule", "every must be longer than 0", f"{where}.every")
    cron = raw.get("cron")
    job = Job(name, tuple(shlex.split(run)), every, parse_duration(raw.get("timeout", "1h"), f"{where}.timeout"),
              retries, cron if isinstance(cron, str) else None, catch_up, months, day, at)
    if "cron" in raw:
        if not isinstance(cron, str):
            raise JingyunError("bad_schedule", "cron must be a string like \"0 5 * * *\"", f"{where}.cron")
        try:
            fires = trigger(job, tz).get_next_fire_time(None, dt.datetime.now(dt.UTC))
        except ValueError as exc:
            raise JingyunError("bad_schedule", f"{cron!r} is not a cron expression ({exc})", f"{where}.cron") from None
        if fires is None:
            raise JingyunError("bad_schedule", f"{cron!r} never fires", f"{where}.cron")
    return job
