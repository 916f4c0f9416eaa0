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

A job has exactly one of ``cron`` (calendar semantics: ``0 5 1 * *`` is 05:00 on
the 1st of each month, not every 30 days) or ``every``. Fire times come from
APScheduler's ``CronTrigger``/``IntervalTrigger`` in the workspace time zone, so
daylight-saving zones keep wall-clock times; the store keeps naive UTC.
"""

from __future__ import annotations

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
_KEYS = {"name", "run", "every", "cron", "timeout", "retries", "catch_up"}

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
        raise JingyunError("bad_schedule", f"{text!r} is not a duration like 30s, 10m, 1h or 7d", field)
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class Job:
    name: str
    args: tuple[str, ...]
    every_s: float | None
    timeout_s: float = 3600.0
    retries: int = 0
    cron: str | None = None
    catch_up: CatchUp = "once"

    @property
    def max_seconds(self) -> float:
        """How long a run may hold the job before its marker reads as stale (every attempt, plus a minute)."""
        return self.timeout_s * (self.retries + 1) + 60

    @property
    def schedule(self) -> str:
        if self.cron:
            return f"cron {self.cron}"
        assert self.every_s is not None
        unit = next(u for u in "dhms" if self.every_s % _UNITS[u] == 0 or u == "s")
        return f"every {self.every_s / _UNITS[unit]:g}{unit}"

    def spec(self, tz: str) -> str:
        return f"{self.schedule} {tz}"[:200]


def _aware(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC)


def _naive(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(tzinfo=None)


def trigger(job: Job, tz: str, anchor: dt.datetime | None = None) -> BaseTrigger:
    """The APScheduler trigger of a job; an interval is anchored at ``anchor`` (naive UTC, its last fire)."""
    if job.cron:
        return CronTrigger.from_crontab(job.cron, timezone=ZoneInfo(tz))
    assert job.every_s is not None
    start = _aware(anchor) if anchor is not None else None
    return IntervalTrigger(seconds=job.every_s, start_date=start, timezone=ZoneInfo(tz))


def next_fire(job: Job, tz: str, *, after: dt.datetime, anchor: dt.datetime | None = None,
              inclusive: bool = False) -> dt.datetime:
    """The first fire time after ``after`` (or at it, when ``inclusive``), naive UTC."""
    start = _aware(after) + (dt.timedelta(0) if inclusive else dt.timedelta(seconds=1))
    if not job.cron and anchor is None:
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
    every = parse_duration(raw["every"], f"{where}.every") if "every" in raw else None
    if every is not None and every <= 0:
        raise JingyunError("bad_schedule", "every must be longer than 0", f"{where}.every")
    cron = raw.get("cron")
    job = Job(name, tuple(shlex.split(run)), every, parse_duration(raw.get("timeout", "1h"), f"{where}.timeout"),
              retries, cron if isinstance(cron, str) else None, catch_up)
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
