"""A small scheduler for recurring work: tag and segment recomputation,
snapshots, model retraining and scoring, data checks.

Jobs are ``jingyun`` commands with an interval, declared in
``$JINGYUN_HOME/schedule.yaml``::

    jobs:
      - name: nightly-tags
        run: tags compute           # arguments to `jingyun`
        every: 1d                   # s, m, h, d
        timeout: 30m                # killed after this; default 1h
        retries: 1                  # extra attempts after a failure; default 0

``jingyun schedule run --due`` runs what is due (call it from cron or a systemd
timer), ``jingyun schedule serve`` loops. Each run records its status, duration,
exit code and last error line in ``schedule_state.json`` (and a history in
``schedule_runs.jsonl``). A job can never stay "running": a run is a child
process with a hard timeout, and a record left "running" by a killed scheduler
reads as ``stale`` once its timeout has passed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from jingyun.config import Settings
from jingyun.errors import JingyunError, yaml_problem

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

DEFAULT_SCHEDULE = """# Recurring work (jingyun schedule run --due, from cron; or jingyun schedule serve).
jobs:
  - name: data-checks
    run: check --fail
    every: 1h
    timeout: 10m
  - name: optimize
    run: optimize
    every: 1d
    timeout: 1h
  - name: tags
    run: tags compute
    every: 1d
    timeout: 1h
    retries: 1
  - name: lifecycle-snapshot
    run: segment snapshot lifecycle
    every: 30d
    timeout: 30m
    retries: 1
  - name: clv-score
    run: clv score
    every: 7d
    timeout: 1h
  - name: churn-retrain
    run: model train churn
    every: 7d
    timeout: 1h
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
    every_s: float
    timeout_s: float = 3600.0
    retries: int = 0


@dataclass
class RunRecord:
    job: str
    status: str  # ok | failed | timeout | running
    started_at: str
    finished_at: str | None = None
    seconds: float | None = None
    exit_code: int | None = None
    attempts: int = 1
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    out: list[Job] = []
    for i, raw in enumerate(jobs):
        where = f"jobs[{i}]"
        if not isinstance(raw, dict):
            raise JingyunError("bad_schedule", "each job is an object with name, run and every", where)
        unknown = set(raw) - {"name", "run", "every", "timeout", "retries"}
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
        out.append(Job(name, tuple(shlex.split(run)), parse_duration(raw.get("every"), f"{where}.every"),
                       parse_duration(raw.get("timeout", "1h"), f"{where}.timeout"), retries))
    names = [j.name for j in out]
    if len(set(names)) != len(names):
        raise JingyunError("bad_schedule", "job names must be unique", "jobs")
    return out


class State:
    """The last run of each job (JSON) and the history of runs (JSON lines)."""

    def __init__(self, settings: Settings):
        self.path = settings.home / "schedule_state.json"
        self.history = settings.home / "schedule_runs.jsonl"

    def read(self) -> dict[str, RunRecord]:
        if not self.path.exists():
            return {}
        raw = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        return {k: RunRecord(**v) for k, v in raw.items()}

    def write(self, record: RunRecord) -> None:
        current = self.read()
        current[record.job] = record
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: v.to_dict() for k, v in current.items()}, ensure_ascii=False, indent=1),
                       encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a reader never sees half a file
        if record.status != "running":
            with self.history.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def status(settings: Settings, jobs: list[Job], now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each job's last run and when it is next due; a 'running' record past its timeout reads as stale."""
    now = now or _now()
    last = State(settings).read()
    out = []
    for job in jobs:
        rec = last.get(job.name)
        state = rec.status if rec else "never"
        if rec and rec.status == "running":
            started = dt.datetime.fromisoformat(rec.started_at)
            if (now - started).total_seconds() > job.timeout_s * (job.retries + 1) + 60:
                state = "stale"  # the scheduler died mid-run; the job is not in progress
        due_at = now if rec is None else dt.datetime.fromisoformat(rec.started_at) + dt.timedelta(seconds=job.every_s)
        out.append({"job": job.name, "run": " ".join(job.args), "status": state,
                    "last_started": rec.started_at if rec else None, "seconds": rec.seconds if rec else None,
                    "error": rec.error if rec else None, "due_at": due_at.isoformat(), "due": due_at <= now})
    return out


def run_job(settings: Settings, job: Job) -> RunRecord:
    """Run one job as a child process, with its timeout and retries; record every outcome."""
    store = State(settings)
    started = _now()
    record = RunRecord(job.name, "running", started.isoformat())
    store.write(record)
    # jobs run as nobody: never as whoever last ran `jingyun login` in this home (cli_identity)
    env = {**os.environ, "JINGYUN_HOME": str(settings.home), "JINGYUN_CLI_SESSION": "off"}
    t0 = time.monotonic()
    for attempt in range(1, job.retries + 2):
        record.attempts = attempt
        try:
            proc = subprocess.run([sys.executable, "-m", "jingyun.cli.main", *job.args], env=env,
                                  capture_output=True, text=True, timeout=job.timeout_s)
        except subprocess.TimeoutExpired:
            record.status, record.exit_code = "timeout", None
            record.error = f"killed after {job.timeout_s:g} s"
            continue
        record.exit_code = proc.returncode
        if proc.returncode == 0:
            record.status, record.error = "ok", None
            break
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        record.status, record.error = "failed", (lines[-1][:500] if lines else f"exit {proc.returncode}")
    record.finished_at = _now().isoformat()
    record.seconds = round(time.monotonic() - t0, 3)
    store.write(record)
    return record


def run_due(settings: Settings, jobs: list[Job], *, only: str | None = None, force: bool = False,
            now: dt.datetime | None = None) -> list[RunRecord]:
    """Run the jobs that are due (or the named one; ``force`` ignores the interval)."""
    if only is not None and only not in {j.name for j in jobs}:
        raise JingyunError("unknown_job", f"no job {only!r} in the schedule", "job")
    due = {row["job"] for row in status(settings, jobs, now) if row["due"] and row["status"] != "running"}
    ran = []
    for job in jobs:
        if only is not None and job.name != only:
            continue
        if force or job.name in due:
            ran.append(run_job(settings, job))
    return ran
