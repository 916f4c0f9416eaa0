"""Job state and run history in the metadata store (tables ``job_state`` and ``job_runs``, migration 0004).

One job never has two runs at once, across threads and processes: a run starts
only by a conditional UPDATE of the job's row that takes the running marker
(``running_owner`` + ``running_deadline``) when it is free or its deadline has
passed. A scheduled fire also moves ``next_run_at`` in the same UPDATE, guarded
by the value it read, so two schedulers that both saw 05:00 due cannot both run
it; ``(job, scheduled_for)`` is unique in the history as a second guard. The
database serialises the two UPDATEs (SQLite's write lock, PostgreSQL's row lock
and READ COMMITTED re-check), so there is no lock held while the job runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from jingyun.config import Settings
from jingyun.ops.jobs import Job, next_fire
from jingyun.store import Store
from jingyun.store.models import JobRun, JobState


@dataclass
class RunRecord:
    """One run as the edges show it; times are naive UTC in ISO form."""

    id: int
    job: str
    status: str  # running | ok | failed | timeout | stale
    trigger: str  # schedule | catch_up | manual | imported
    scheduled_for: str | None
    started_at: str
    finished_at: str | None = None
    seconds: float | None = None
    exit_code: int | None = None
    attempts: int = 1
    error: str | None = None
    owner: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The --json shape: ``run_id`` names the run; the marker's owner (host:pid:nonce) stays inside."""
        out = {"run_id": self.id, **self.__dict__}
        del out["id"], out["owner"]
        return out

    @classmethod
    def of(cls, row: JobRun) -> RunRecord:
        return cls(row.id, row.job, row.status, row.trigger, _iso(row.scheduled_for), row.started_at.isoformat(),
                   _iso(row.finished_at), row.seconds, row.exit_code, row.attempts, row.error, row.owner)


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def new_owner() -> str:
    """Who holds a running marker: host, process and a per-claim nonce (threads of one process differ)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class Ledger:
    def __init__(self, store: Store, tz: str):
        self.store = store
        self.tz = tz

    def initial_next(self, job: Job, now: dt.datetime, last_started: dt.datetime | None = None) -> dt.datetime:
        if job.cron or job.every_months is not None:  # calendar schedules: the next fire on the calendar
            return next_fire(job, self.tz, after=now, inclusive=True)
        assert job.every_s is not None
        # an interval job never run is due now, as before; one run before is due an interval after it
        return now if last_started is None else last_started + dt.timedelta(seconds=job.every_s)

    def ensure(self, job: Job, now: dt.datetime) -> JobState:
        """The job's row, created (or its next fire recomputed after an edit of its trigger) as needed."""
        spec = job.spec(self.tz)
        with self.store.session() as ses:
            row = ses.get(JobState, job.name)
            if row is not None and row.spec == spec:
                return row
            if row is None:
                row = JobState(name=job.name, spec=spec, next_run_at=self.initial_next(job, now), updated_at=now)
                ses.add(row)
            else:
                row.spec, row.updated_at = spec, now
                row.next_run_at = self.initial_next(job, now, row.last_started_at)
            try:
                ses.flush()
            except IntegrityError:  # another scheduler created it first: theirs stands
                ses.rollback()
                fresh = ses.get(JobState, job.name)
                assert fresh is not None
                return fresh
            return row

    def claim(self, job: Job, now: dt.datetime, *, trigger: str, fire: dt.datetime | None = None,
              next_run_at: dt.datetime | None = None) -> RunRecord | None:
        """Take the running marker and open a run; None when another run holds it or the fire was taken."""
        owner = new_owner()
        deadline = now + dt.timedelta(seconds=job.max_seconds)
        conds = [JobState.name == job.name,
                 or_(JobState.running_owner.is_(None), JobState.running_deadline < now)]
        values: dict[str, Any] = {"running_owner": owner, "running_deadline": deadline, "running_run_id": None,
                                  "updated_at": now}
        if fire is not None:
            conds.append(JobState.next_run_at == fire)
            values["next_run_at"] = next_run_at
        try:
            with self.store.session() as ses:
                if ses.execute(update(JobState).where(*conds).values(**values)).rowcount != 1:  # type: ignore[attr-defined]
                    return None
                # a run the marker was taken from (its process died) is not in progress: say so
                ses.execute(update(JobRun).where(JobRun.job == job.name, JobRun.status == "running",
                                                 JobRun.deadline < now).values(status="stale"))
                run = JobRun(job=job.name, trigger=trigger, scheduled_for=fire, started_at=now, deadline=deadline,
                             status="running", attempts=1, owner=owner)
                ses.add(run)
                ses.flush()
                ses.execute(update(JobState).where(JobState.name == job.name, JobState.running_owner == owner)
                            .values(running_run_id=run.id, last_run_id=run.id, last_status="running",
                                    last_started_at=now, last_finished_at=None))
                return RunRecord.of(run)
        except IntegrityError:  # this fire time already has a run
            return None

    def advance(self, job: Job, *, fire: dt.datetime, next_run_at: dt.datetime, now: dt.datetime) -> bool:
        """Move past a fire without running it (catch_up: skip); False when another scheduler moved first."""
        with self.store.session() as ses:
            res = ses.execute(update(JobState).where(JobState.name == job.name, JobState.next_run_at == fire)
                              .values(next_run_at=next_run_at, updated_at=now))
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def finish(self, record: RunRecord, now: dt.datetime) -> RunRecord:
        """Write the outcome and free the marker (only if this run still holds it)."""
        with self.store.session() as ses:
            ses.execute(update(JobRun).where(JobRun.id == record.id).values(
                status=record.status, finished_at=now, seconds=record.seconds, exit_code=record.exit_code,
                attempts=record.attempts, error=record.error))
            ses.execute(update(JobState).where(JobState.name == record.job, JobState.running_owner == record.owner)
                        .values(running_owner=None, running_deadline=None, running_run_id=None, updated_at=now))
            ses.execute(update(JobState).where(JobState.name == record.job, JobState.last_run_id == record.id)
                        .values(last_status=record.status, last_finished_at=now))
        record.finished_at = now.isoformat()
        return record

    def states(self) -> dict[str, JobState]:
        with self.store.session() as ses:
            return {row.name: row for row in ses.scalars(select(JobState))}

    def last_runs(self, ids: list[int]) -> dict[int, JobRun]:
        if not ids:
            return {}
        with self.store.session() as ses:
            return {row.id: row for row in ses.scalars(select(JobRun).where(JobRun.id.in_(ids)))}

    def history(self, *, job: str | None = None, offset: int = 0, limit: int = 50) -> tuple[list[RunRecord], int]:
        with self.store.session() as ses:
            q = select(JobRun)
            n = select(func.count()).select_from(JobRun)
            if job is not None:
                q, n = q.where(JobRun.job == job), n.where(JobRun.job == job)
            rows = ses.scalars(q.order_by(JobRun.started_at.desc(), JobRun.id.desc()).offset(offset).limit(limit))
            return [RunRecord.of(r) for r in rows], int(ses.scalar(n) or 0)

    def import_legacy(self, settings: Settings, jobs: list[Job], now: dt.datetime) -> int:
        """Bring ``schedule_state.json`` and ``schedule_runs.jsonl`` in, once; they are renamed ``*.imported``.

        The rename to ``*.importing`` first is atomic, so of two processes starting together one imports.
        """
        state_path, runs_path = settings.home / "schedule_state.json", settings.home / "schedule_runs.jsonl"
        taken: list[tuple[Path, Path]] = []
        for path in (state_path, runs_path):
            claim = path.with_name(path.name + ".importing")
            try:
                os.replace(path, claim)
            except FileNotFoundError:
                continue
            taken.append((claim, path.with_name(path.name + ".imported")))
        if not taken:
            return 0
        by_name = {j.name: j for j in jobs}
        count = 0
        with self.store.session() as ses:
            for claim, _ in taken:
                text = claim.read_text(encoding="utf-8")
                if claim.name == "schedule_runs.jsonl.importing":
                    for line in text.splitlines():
                        if line.strip():
                            ses.add(_legacy_run(json.loads(line)))
                            count += 1
                    continue
                for name, rec in (json.loads(text or "{}")).items():
                    started = dt.datetime.fromisoformat(rec["started_at"])
                    job = by_name.get(name)
                    if job is None or ses.get(JobState, name) is not None:
                        continue
                    status = "stale" if rec.get("status") == "running" else rec.get("status")
                    ses.add(JobState(name=name, spec=job.spec(self.tz), updated_at=now,
                                     next_run_at=self.initial_next(job, now, None if job.cron else started),
                                     last_status=status, last_started_at=started,
                                     last_finished_at=_parse(rec.get("finished_at"))))
        for claim, done in taken:
            os.replace(claim, done)
        return count


def _parse(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _legacy_run(rec: dict[str, Any]) -> JobRun:
    started = dt.datetime.fromisoformat(rec["started_at"])
    return JobRun(job=rec["job"], trigger="imported", scheduled_for=None, started_at=started,
                  finished_at=_parse(rec.get("finished_at")), deadline=None, status=rec.get("status", "failed"),
                  seconds=rec.get("seconds"), exit_code=rec.get("exit_code"), attempts=rec.get("attempts", 1),
                  error=rec.get("error"), owner="schedule_runs.jsonl")
