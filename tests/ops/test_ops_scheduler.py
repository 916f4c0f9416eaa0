"""The scheduler with real child processes: definitions are validated, outcomes (ok, failure, timeout) are
recorded in the metadata store, the old JSON state is imported once, and the in-service scheduler runs due jobs."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.ops.jobs import Job, load_jobs, parse_duration
from jingyun.ops.scheduler import Scheduler
from jingyun.ops.service import ServiceScheduler
from jingyun.store import open_store


def _schedule(home: Path, text: str) -> None:
    (home / "schedule.yaml").write_text(text, encoding="utf-8")


def test_parse_and_validate(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert parse_duration("90s", "x") == 90 and parse_duration("2h", "x") == 7200 and parse_duration("7d", "x") == 604800
    _schedule(tmp_path, "jobs:\n  - {name: a, run: version, every: 1h}\n"
                        "  - {name: b, run: 'check --fail', cron: '0 5 1 * *', retries: 2, catch_up: skip}\n")
    jobs = load_jobs(settings)
    assert jobs == [Job("a", ("version",), 3600.0),
                    Job("b", ("check", "--fail"), None, 3600.0, 2, "0 5 1 * *", "skip")]
    for text, field in [
        ("jobs:\n  - {name: a, run: version, every: often}\n", "jobs[0].every"),
        ("jobs:\n  - {name: 'a b', run: version, every: 1h}\n", "jobs[0].name"),
        ("jobs:\n  - {name: a, run: version, every: 1h, cron: '0 5 * * *'}\n", "jobs[0]"),
        ("jobs:\n  - {name: a, run: version}\n", "jobs[0]"),
        ("jobs:\n  - {name: a, run: version, cron: '0 25 * * *'}\n", "jobs[0].cron"),
        ("jobs:\n  - {name: a, run: version, cron: '0 5 30 2 *'}\n", "jobs[0].cron"),
        ("jobs:\n  - {name: a, run: version, every: 1h, catch_up: twice}\n", "jobs[0].catch_up"),
        ("jobs:\n  - {name: a, run: version, every: 1h, when: x}\n", "jobs[0]"),
        ("jobs:\n  - {name: a, run: version, every: 1h}\n  - {name: a, run: version, every: 1h}\n", "jobs"),
    ]:
        _schedule(tmp_path, text)
        with pytest.raises(JingyunError) as err:
            load_jobs(settings)
        assert err.value.field == field, text


def test_runs_record_ok_failure_and_timeout(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    store = open_store(settings)
    sched = Scheduler(settings, store)
    ok = sched.run_now(Job("ok", ("version",), 60))
    assert (ok.status, ok.exit_code, ok.attempts, ok.trigger) == ("ok", 0, 1, "manual")
    bad = sched.run_now(Job("bad", ("schema", "show", "nosuchtable"), 60, retries=1))
    assert (bad.status, bad.exit_code, bad.attempts) == ("failed", 2, 2)
    assert bad.error is not None and "unknown table" in bad.error
    slow = sched.run_now(Job("slow", ("demo", "--users", "200000", "--no-ingest"), 60, timeout_s=0.5))
    assert slow.status == "timeout" and slow.error == "killed after 0.5 s"
    history, total = sched.ledger.history()
    assert total == 3 and [h.status for h in history] == ["timeout", "failed", "ok"]  # newest first
    assert {k: v.last_status for k, v in sched.ledger.states().items()} == {"ok": "ok", "bad": "failed",
                                                                             "slow": "timeout"}
    assert not (tmp_path / "schedule_state.json").exists()  # state is in the store, not a file
    with pytest.raises(JingyunError) as err:
        sched.run_due([Job("a", ("version",), 60)], only="nope")
    assert err.value.code == "unknown_job"
    store.close()


def test_old_json_state_is_imported_once(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    _schedule(tmp_path, "jobs:\n  - {name: tags, run: version, every: 1d}\n")
    started = dt.datetime(2025, 1, 1, 3, 0)
    rec = {"job": "tags", "status": "ok", "started_at": started.isoformat(), "finished_at": "2025-01-01T03:00:09",
           "seconds": 9.0, "exit_code": 0, "attempts": 1, "error": None}
    (tmp_path / "schedule_state.json").write_text(json.dumps({"tags": rec}), encoding="utf-8")
    (tmp_path / "schedule_runs.jsonl").write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "status": "failed"})
                                                  + "\n", encoding="utf-8")
    store = open_store(settings)
    sched = Scheduler(settings, store)
    jobs = sched.jobs()
    assert sched.ledger.import_legacy(settings, jobs, started) == 2
    assert sched.ledger.import_legacy(settings, jobs, started) == 0  # once
    assert (tmp_path / "schedule_runs.jsonl.imported").exists() and not (tmp_path / "schedule_state.json").exists()
    [row] = sched.status(jobs)
    assert row["status"] == "ok" and row["next_run_utc"] == "2025-01-02T03:00:00"  # a day after the last run
    assert sched.ledger.history(job="tags")[1] == 2
    store.close()


def test_the_service_scheduler_runs_due_jobs_in_the_background(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    _schedule(tmp_path, "jobs:\n  - {name: v, run: version, every: 1d}\n"
                        "  - {name: later, run: version, cron: '0 5 1 1 *'}\n")
    store = open_store(settings)
    svc = ServiceScheduler(settings, store)
    svc.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and svc.core.ledger.states().get("v", None) is None:
            time.sleep(0.1)
        while time.monotonic() < deadline and svc.core.ledger.states()["v"].last_status in (None, "running"):
            time.sleep(0.1)
        assert svc.core.ledger.states()["v"].last_status == "ok"
        assert svc.running() == []  # nothing holds a marker once the run is over
        claimed = svc.core.ledger.claim(svc.jobs["later"], svc.core.clock.now(), trigger="manual")
        assert claimed is not None and [r["job"] for r in svc.running()] == ["later"]
        assert {j.id for j in svc.aps.get_jobs()} == {"jingyun-sweep", "cron:later"}
        with pytest.raises(JingyunError):
            svc.submit("nope", force=True)
    finally:
        svc.stop()
    assert [r.job for r in svc.core.ledger.history()[0]] == ["later", "v"]
    store.close()
