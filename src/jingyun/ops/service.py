"""The scheduler inside ``jingyun serve`` (and ``jingyun schedule serve``).

APScheduler's ``BackgroundScheduler`` does the waking: one ``CronTrigger`` per
cron job in the workspace time zone, so 05:00 fires at 05:00, plus a sweep
every :data:`SWEEP_S` seconds (and at start) that re-reads ``schedule.yaml``,
catches up after downtime and starts ``every:`` jobs. Both only *submit* a job
to a small thread pool; whether it runs is decided by :class:`Scheduler` against
the store, so a second scheduler (another service, a shell's ``schedule run``)
never doubles a fire. APScheduler's SQLAlchemy job store is not used: 3.x does
not support two processes sharing it, and our state has to be shared.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.ops.jobs import Job, schedule_path
from jingyun.ops.ledger import RunRecord
from jingyun.ops.runner import ChildProcessRunner
from jingyun.ops.scheduler import Clock, Scheduler
from jingyun.store import Store

log = logging.getLogger("jingyun.scheduler")
SWEEP_S = 30


class ServiceScheduler:
    def __init__(self, settings: Settings, store: Store, *, clock: Clock | None = None, workers: int = 4,
                 writer: Any = None):
        self.automation: Any = None  # the live journey runtime, fed by the service writer's commits
        self._writer = writer
        if writer is not None and settings.automation_live:
            from jingyun.automation.runtime import Runtime

            self.automation = Runtime(store, settings, reader=writer.reader)
        self.runner = ChildProcessRunner()
        self.core = Scheduler(settings, store, clock=clock, runner=self.runner)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="jingyun-job")
        self.aps = BackgroundScheduler(timezone=ZoneInfo(settings.timezone),
                                       job_defaults={"coalesce": True, "max_instances": 1,
                                                     "misfire_grace_time": None})
        self.jobs: dict[str, Job] = {}
        self._inflight: set[str] = set()
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._imported = False
        self._stopped = False

    def start(self) -> None:
        from jingyun.control.server import register_jobs

        register_jobs(self.running)  # `jingyun status` lists the jobs running now
        self.aps.add_job(self.sweep, IntervalTrigger(seconds=SWEEP_S), id="jingyun-sweep",
                         next_run_time=dt.datetime.now(ZoneInfo(self.core.tz)))
        self.aps.start()
        if self.automation is not None:
            self.automation.attach(self._writer.wh)
            self.automation.start()

    def running(self) -> list[dict[str, object]]:
        """Runs holding a job's marker now (from any process), for ``jingyun status``."""
        if self._stopped:
            return []
        now = self.core.clock.now()
        return [{"job": st.name, "run_id": st.running_run_id, "started_at": st.last_started_at.isoformat()
                 if st.last_started_at else None, "deadline": st.running_deadline.isoformat()}
                for st in self.core.ledger.states().values()
                if st.running_owner is not None and st.running_deadline is not None and st.running_deadline >= now]

    def stop(self) -> None:
        self._stopped = True
        if self.automation is not None:
            self.automation.detach(self._writer.wh)
            self.automation.stop()
        self.aps.shutdown(wait=False)
        self.runner.stop()  # a killed child records "failed" and frees the job's marker
        self.pool.shutdown(wait=True, cancel_futures=True)

    def reload(self) -> None:
        """Re-read ``schedule.yaml`` when it changed; a broken file keeps the jobs already known."""
        path = schedule_path(self.core.settings)
        mtime = path.stat().st_mtime if path.exists() else None
        if mtime == self._mtime:
            return
        try:
            jobs = self.core.jobs() if mtime is not None else []
        except JingyunError as exc:
            log.error("schedule.yaml not reloaded: %s", exc.message)
            return
        self._mtime = mtime
        if not self._imported and jobs:
            self.core.ledger.import_legacy(self.core.settings, jobs, self.core.clock.now())
            self._imported = True
        self.jobs = {j.name: j for j in jobs}
        for aps_job in self.aps.get_jobs():
            if aps_job.id.startswith("cron:"):
                aps_job.remove()
        for job in jobs:
            if job.cron:
                self.aps.add_job(self.submit, CronTrigger.from_crontab(job.cron, timezone=ZoneInfo(self.core.tz)),
                                 args=[job.name], id=f"cron:{job.name}")

    def sweep(self) -> None:
        self.reload()
        for name in list(self.jobs):
            self.submit(name)

    def submit(self, name: str, *, force: bool = False) -> Future[RunRecord | None] | None:
        """Hand a job to the pool (once at a time per process); ``force`` is "run now"."""
        job = self.jobs.get(name)
        if job is None:
            raise JingyunError("unknown_job", f"no job {name!r} in the schedule", "job", status=404)
        with self._lock:
            if name in self._inflight:
                if force:
                    raise JingyunError("job_running", f"job {name} is running; wait for it", "job", status=409)
                return None
            self._inflight.add(name)
        try:
            return self.pool.submit(self._run, job, force)
        except RuntimeError:  # the pool is shutting down
            self._done(name)
            return None

    def _run(self, job: Job, force: bool) -> RunRecord | None:
        try:
            record = self.core.run_now(job) if force else self.core.fire(job)
            if record is not None:
                log.info("job %s: %s (%s s)%s", job.name, record.status, record.seconds,
                         f" — {record.error}" if record.error else "")
            return record
        except JingyunError as exc:
            log.warning("job %s not run: %s", job.name, exc.message)
            return None
        except Exception:
            log.exception("job %s: scheduler error", job.name)
            return None
        finally:
            self._done(job.name)

    def _done(self, name: str) -> None:
        with self._lock:
            self._inflight.discard(name)


def run_now_from_console(settings: Settings, store: Store, name: str, scheduler: ServiceScheduler | None) -> None:
    """Start a job now, in the background; ``job_running`` (409) while a run holds it.

    Inside ``jingyun serve`` the service's scheduler runs it; elsewhere (a test
    app without its lifespan) a thread of this process does.
    """
    core = scheduler.core if scheduler is not None else Scheduler(settings, store)
    job = core.job(name)
    state = core.ledger.states().get(name)
    now = core.clock.now()
    if state is not None and state.running_owner is not None and state.running_deadline is not None \
            and state.running_deadline >= now:
        raise JingyunError("job_running", f"job {name} is running; wait for it", "job", status=409)
    if scheduler is not None:
        scheduler.reload()
        scheduler.submit(name, force=True)
        return

    def run() -> None:
        try:
            core.run_now(job)
        except JingyunError as exc:
            log.warning("job %s not run: %s", name, exc.message)

    threading.Thread(target=run, name=f"jingyun-job-{name}", daemon=True).start()
