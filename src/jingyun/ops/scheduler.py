"""The scheduler's decisions: which job is due, catch-up after downtime, one run at a time.

Definitions come from ``schedule.yaml`` (:mod:`jingyun.ops.jobs`), state and
history from the metadata store (:mod:`jingyun.ops.ledger`), and the command
runs through a :class:`~jingyun.ops.runner.Runner`. Time comes from a
:class:`Clock`, so tests move it instead of sleeping.

A job is due when its stored ``next_run_at`` has come. A fire reached within
:data:`GRACE` of its time runs as ``schedule``; a later one (the service was
down) follows the job's ``catch_up``: ``once`` runs it once however many fires
were missed (APScheduler's coalescing), ``skip`` runs nothing and moves to the
next fire after now. Either way the next fire is computed after *now*, so a
restart never replays the same fire. Waking up at the right moment is the
service's business (:mod:`jingyun.ops.service`); ``jingyun schedule run --due``
from cron uses the same decisions.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Protocol

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.localtime import local_iso
from jingyun.ops.jobs import DEFAULT_SCHEDULE, Job, load_jobs, next_fire, parse_duration, schedule_path
from jingyun.ops.ledger import Ledger, RunRecord
from jingyun.ops.runner import ChildProcessRunner, Outcome, Runner
from jingyun.store import Store

__all__ = ["DEFAULT_SCHEDULE", "GRACE", "Clock", "Job", "RunRecord", "Scheduler", "SystemClock", "load_jobs",
           "parse_duration", "schedule_path"]

# a fire reached later than this after its time counts as missed (the catch-up policy applies)
GRACE = dt.timedelta(minutes=5)


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Naive UTC, like the store."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class Scheduler:
    def __init__(self, settings: Settings, store: Store, *, clock: Clock | None = None,
                 runner: Runner | None = None):
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.runner: Runner = runner or ChildProcessRunner()
        self.ledger = Ledger(store, settings.timezone)

    @property
    def tz(self) -> str:
        return self.settings.timezone

    def jobs(self) -> list[Job]:
        return load_jobs(self.settings)

    def job(self, name: str, jobs: list[Job] | None = None) -> Job:
        for job in jobs if jobs is not None else self.jobs():
            if job.name == name:
                return job
        raise JingyunError("unknown_job", f"no job {name!r} in the schedule; see `jingyun schedule status`", "job",
                           status=404)

    def fire(self, job: Job) -> RunRecord | None:
        """Run the job if its next fire has come (by its catch-up policy); None when nothing ran."""
        now = self.clock.now()
        state = self.ledger.ensure(job, now)
        fire = state.next_run_at
        if fire is None or fire > now:
            return None
        following = next_fire(job, self.tz, after=now, anchor=fire)
        late = now - fire > GRACE
        if late and job.catch_up == "skip":
            self.ledger.advance(job, fire=fire, next_run_at=following, now=now)
            return None
        record = self.ledger.claim(job, now, trigger="catch_up" if late else "schedule", fire=fire,
                                   next_run_at=following)
        return self._execute(job, record) if record is not None else None

    def run_now(self, job: Job) -> RunRecord:
        """Run the job now whatever its schedule (its next fire stays); refused while it runs."""
        now = self.clock.now()
        self.ledger.ensure(job, now)
        record = self.ledger.claim(job, now, trigger="manual")
        if record is None:
            raise JingyunError("job_running", f"job {job.name} is running; wait for it (jingyun schedule status)",
                               "job", status=409)
        return self._execute(job, record)

    def _execute(self, job: Job, record: RunRecord) -> RunRecord:
        t0 = time.monotonic()
        try:
            outcome = self.runner(self.settings, job)
        except Exception as exc:  # a runner bug must still free the marker and leave a line
            outcome = Outcome("failed", None, 1, f"{type(exc).__name__}: {exc}"[:500])
        record.status, record.exit_code = outcome.status, outcome.exit_code
        record.attempts, record.error = max(outcome.attempts, 1), outcome.error
        record.seconds = round(time.monotonic() - t0, 3)
        return self.ledger.finish(record, self.clock.now())

    def run_due(self, jobs: list[Job] | None = None, *, only: str | None = None,
                force: bool = False) -> list[RunRecord]:
        """What ``jingyun schedule run`` does: the due jobs (or the named one; ``force`` ignores the schedule)."""
        jobs = jobs if jobs is not None else self.jobs()
        chosen = [self.job(only, jobs)] if only is not None else jobs
        ran: list[RunRecord] = []
        for job in chosen:
            if force:
                try:
                    ran.append(self.run_now(job))
                except JingyunError as exc:
                    if only is not None or exc.code != "job_running":
                        raise
            elif (record := self.fire(job)) is not None:
                ran.append(record)
        return ran

    def status(self, jobs: list[Job] | None = None) -> list[dict[str, Any]]:
        """Each job's last run and next fire; a running marker past its deadline reads as ``stale``."""
        jobs = jobs if jobs is not None else self.jobs()
        now = self.clock.now()
        states = self.ledger.states()
        last = self.ledger.last_runs([s.last_run_id for s in states.values() if s.last_run_id is not None])
        out = []
        for job in jobs:
            st = states.get(job.name)
            fresh = st is not None and st.spec == job.spec(self.tz)
            next_at = st.next_run_at if st is not None and fresh else self.ledger.initial_next(
                job, now, st.last_started_at if st is not None else None)
            run = last.get(st.last_run_id) if st is not None and st.last_run_id is not None else None
            state = (st.last_status or "never") if st is not None else "never"
            if st is not None and st.running_owner is not None:
                deadline = st.running_deadline
                state = "stale" if deadline is not None and deadline < now else "running"
            elif state == "running":  # a run the marker was taken from
                state = "stale"
            out.append({
                "job": job.name, "run": " ".join(job.args), "schedule": job.schedule, "catch_up": job.catch_up,
                "status": state,
                "last_started": st.last_started_at.isoformat() if st is not None and st.last_started_at else None,
                "seconds": run.seconds if run is not None else None,
                "error": run.error if run is not None else None,
                "next_run": local_iso(next_at, self.tz),
                "next_run_utc": next_at.isoformat() if next_at is not None else None,
                "due": next_at is not None and next_at <= now and state != "running",
            })
        return out
