"""Scheduling under a controllable clock: cron in the workspace time zone, catch-up after downtime,
restarts, racing schedulers and stale runs. Job state lives in the metadata store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError
from jingyun.ops.jobs import Job, load_jobs
from jingyun.ops.runner import Outcome
from jingyun.ops.scheduler import Scheduler
from jingyun.store import Store, open_store
from jingyun.store.models import JobRun


class FakeClock:
    def __init__(self, at: dt.datetime):
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    def move(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


class Recorder:
    """A runner that records what ran (the command itself is tested with real child processes elsewhere)."""

    def __init__(self, gate: threading.Event | None = None):
        self.calls: list[str] = []
        self.gate = gate

    def __call__(self, settings: Settings, job: Job) -> Outcome:
        self.calls.append(job.name)
        if self.gate is not None:
            assert self.gate.wait(10)
        return Outcome("ok", 0, 1, None)


def _utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, s)  # naive UTC, like the store


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    url: str = request.getfixturevalue("pg_url")
    st = open_store(load_settings(tmp_path), url, migrate=False)
    with st.engine.begin() as con:
        con.execute(text("DROP SCHEMA public CASCADE"))
        con.execute(text("CREATE SCHEMA public"))
    st.close()
    yield url


def _setup(tmp_path: Path, store_url: str | None, yaml_text: str) -> tuple[Settings, list[Job]]:
    settings = load_settings(tmp_path)
    assert settings.timezone == "Asia/Shanghai"
    (tmp_path / "schedule.yaml").write_text(yaml_text, encoding="utf-8")
    return settings, load_jobs(settings)


def _open(settings: Settings, url: str | None) -> Store:
    return open_store(settings, url)


def _runs(store: Store) -> list[JobRun]:
    with store.session() as ses:
        return list(ses.scalars(select(JobRun).order_by(JobRun.id)))


DAILY = 'jobs:\n  - {name: report, run: version, cron: "0 5 * * *"}\n'


def test_cron_fires_once_at_0500_shanghai_which_is_2100_utc(tmp_path: Path, store_url: str | None) -> None:
    settings, jobs = _setup(tmp_path, store_url, DAILY)
    store = _open(settings, store_url)
    clock, runner = FakeClock(_utc(2025, 1, 1, 20, 0)), Recorder()
    sched = Scheduler(settings, store, clock=clock, runner=runner)
    assert sched.run_due(jobs) == []
    row = sched.status(jobs)[0]
    assert row["next_run_utc"] == "2025-01-01T21:00:00" and row["next_run"] == "2025-01-02T05:00:00+08:00"
    clock.at = _utc(2025, 1, 1, 20, 59, 59)
    assert sched.run_due(jobs) == []
    clock.at = _utc(2025, 1, 1, 21, 0, 0)
    [run] = sched.run_due(jobs)
    assert (run.status, run.trigger, run.scheduled_for) == ("ok", "schedule", "2025-01-01T21:00:00")
    clock.move(seconds=30)
    assert sched.run_due(jobs) == [] and runner.calls == ["report"]
    row = sched.status(jobs)[0]
    assert row["status"] == "ok" and row["next_run"] == "2025-01-03T05:00:00+08:00"
    store.close()


@pytest.mark.parametrize(("policy", "expected"), [("once", ["catch_up"]), ("skip", [])])
def test_three_days_down_catch_up_by_policy(tmp_path: Path, policy: str, expected: list[str]) -> None:
    settings, jobs = _setup(tmp_path, None, f'jobs:\n  - {{name: report, run: version, cron: "0 5 * * *", '
                                            f'catch_up: {policy}}}\n')
    store = _open(settings, None)
    clock, runner = FakeClock(_utc(2025, 1, 1, 21, 0)), Recorder()
    assert len(Scheduler(settings, store, clock=clock, runner=runner).run_due(jobs)) == 1
    store.close()
    clock.at = _utc(2025, 1, 4, 23, 17)  # down from just after the 1st's run until 07:17 on the 5th, local
    store = _open(settings, None)
    later = Scheduler(settings, store, clock=clock, runner=runner)
    assert [r.trigger for r in later.run_due(jobs)] == expected
    assert later.run_due(jobs) == []  # three missed fires, at most one run
    assert runner.calls == ["report"] * (1 + len(expected))
    assert later.status(jobs)[0]["next_run"] == "2025-01-06T05:00:00+08:00"
    clock.at = _utc(2025, 1, 5, 21, 0)
    assert [r.trigger for r in later.run_due(jobs)] == ["schedule"]
    store.close()


def test_two_restarts_in_a_row_do_not_double_a_fire(tmp_path: Path, store_url: str | None) -> None:
    settings, jobs = _setup(tmp_path, store_url, DAILY)
    clock, runner = FakeClock(_utc(2025, 1, 1, 20, 0)), Recorder()
    store = _open(settings, store_url)
    assert Scheduler(settings, store, clock=clock, runner=runner).run_due(jobs) == []  # up at 04:00 local
    store.close()
    clock.at = _utc(2025, 1, 1, 21, 0, 1)
    for _ in range(3):  # the first start runs 05:00; two restarts a few seconds later find nothing to do
        store = _open(settings, store_url)
        Scheduler(settings, store, clock=clock, runner=runner).run_due(jobs)
        store.close()
        clock.move(seconds=5)
    assert runner.calls == ["report"]
    store = _open(settings, store_url)
    assert [r.scheduled_for for r in _runs(store)] == [_utc(2025, 1, 1, 21, 0)]
    store.close()


def test_two_schedulers_racing_for_one_job_produce_one_run(tmp_path: Path, store_url: str | None) -> None:
    settings, jobs = _setup(tmp_path, store_url, DAILY)
    clock, gate = FakeClock(_utc(2025, 1, 1, 21, 0)), threading.Event()
    runner = Recorder(gate)
    stores = [_open(settings, store_url), _open(settings, store_url)]  # two engines: two processes' worth
    scheds = [Scheduler(settings, st, clock=clock, runner=runner) for st in stores]
    for s in scheds:
        s.ledger.ensure(jobs[0], clock.now())
    start = threading.Barrier(2)
    results: list[int] = []

    def race(s: Scheduler) -> None:
        start.wait()
        results.append(len(s.run_due(jobs)))

    threads = [threading.Thread(target=race, args=(s,)) for s in scheds]
    for t in threads:
        t.start()
    while all(t.is_alive() for t in threads):  # the loser returns while the winner's run is held open
        threads[0].join(0.05)
    # while the winner runs, "run now" is refused: never two runs at once
    with pytest.raises(JingyunError) as err:
        scheds[0].run_now(jobs[0])
    assert err.value.code == "job_running" and err.value.status == 409
    gate.set()
    for t in threads:
        t.join(10)
    assert sorted(results) == [0, 1] and runner.calls == ["report"]
    assert len(_runs(stores[0])) == 1
    for st in stores:
        st.close()


def test_a_run_left_running_past_its_deadline_is_stale_and_no_longer_blocks(tmp_path: Path) -> None:
    settings, jobs = _setup(tmp_path, None, 'jobs:\n  - {name: tags, run: version, every: 1d, timeout: 10m}\n')
    store = _open(settings, None)
    clock, runner = FakeClock(_utc(2025, 1, 1, 0, 0)), Recorder()
    sched = Scheduler(settings, store, clock=clock, runner=runner)
    sched.ledger.ensure(jobs[0], clock.now())
    killed = sched.ledger.claim(jobs[0], clock.now(), trigger="manual")  # a scheduler killed mid-run
    assert killed is not None
    clock.move(minutes=5)
    assert sched.status(jobs)[0]["status"] == "running"
    with pytest.raises(JingyunError):
        sched.run_now(jobs[0])
    clock.move(minutes=7)  # past 10 min + 1 min of grace
    row = sched.status(jobs)[0]
    assert row["status"] == "stale" and row["due"]
    [run] = sched.run_due(jobs)
    assert run.status == "ok" and runner.calls == ["tags"]
    assert [(r.id, r.status) for r in _runs(store)] == [(killed.id, "stale"), (run.id, "ok")]
    store.close()


def test_monthly_cron_is_calendar_months_not_thirty_days(tmp_path: Path) -> None:
    settings, jobs = _setup(tmp_path, None, 'jobs:\n  - {name: snap, run: version, cron: "0 5 1 * *"}\n')
    store = _open(settings, None)
    clock, runner = FakeClock(_utc(2025, 1, 15, 0, 0)), Recorder()
    sched = Scheduler(settings, store, clock=clock, runner=runner)
    seen = []
    for _ in range(3):
        nxt = dt.datetime.fromisoformat(sched.status(jobs)[0]["next_run_utc"])
        seen.append(sched.status(jobs)[0]["next_run"])
        clock.at = nxt
        assert len(sched.run_due(jobs)) == 1
    assert seen == ["2025-02-01T05:00:00+08:00", "2025-03-01T05:00:00+08:00", "2025-04-01T05:00:00+08:00"]
    store.close()
