"""The scheduler: due jobs run, failures and timeouts are recorded, nothing stays 'running'."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.ops.scheduler import Job, RunRecord, State, load_jobs, parse_duration, run_due, run_job, status


def _schedule(home: Path, text: str) -> None:
    (home / "schedule.yaml").write_text(text, encoding="utf-8")


def test_parse_and_validate(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert parse_duration("90s", "x") == 90 and parse_duration("2h", "x") == 7200 and parse_duration("7d", "x") == 604800
    _schedule(tmp_path, "jobs:\n  - {name: a, run: version, every: 1h}\n  - {name: b, run: 'check --fail', every: 2d, retries: 2}\n")
    jobs = load_jobs(settings)
    assert jobs == [Job("a", ("version",), 3600.0), Job("b", ("check", "--fail"), 172800.0, 3600.0, 2)]
    for text, field in [
        ("jobs:\n  - {name: a, run: version, every: often}\n", "jobs[0].every"),
        ("jobs:\n  - {name: 'a b', run: version, every: 1h}\n", "jobs[0].name"),
        ("jobs:\n  - {name: a, run: version, every: 1h, cron: x}\n", "jobs[0]"),
        ("jobs:\n  - {name: a, run: version, every: 1h}\n  - {name: a, run: version, every: 1h}\n", "jobs"),
    ]:
        _schedule(tmp_path, text)
        with pytest.raises(JingyunError) as err:
            load_jobs(settings)
        assert err.value.field == field


def test_runs_record_ok_failure_and_timeout(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    ok = run_job(settings, Job("ok", ("version",), 60))
    assert (ok.status, ok.exit_code, ok.attempts) == ("ok", 0, 1)
    bad = run_job(settings, Job("bad", ("schema", "show", "nosuchtable"), 60, retries=1))
    assert (bad.status, bad.exit_code, bad.attempts) == ("failed", 2, 2)
    assert bad.error is not None and "unknown table" in bad.error
    slow = run_job(settings, Job("slow", ("demo", "--users", "200000", "--no-ingest"), 60, timeout_s=0.5))
    assert slow.status == "timeout" and slow.error == "killed after 0.5 s"
    history = [json.loads(line) for line in (tmp_path / "schedule_runs.jsonl").read_text().splitlines()]
    assert [h["status"] for h in history] == ["ok", "failed", "timeout"]
    assert {k: v.status for k, v in State(settings).read().items()} == {"ok": "ok", "bad": "failed", "slow": "timeout"}


def test_due_and_stale(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    jobs = [Job("a", ("version",), 3600), Job("b", ("version",), 60, timeout_s=10)]
    first = run_due(settings, jobs)
    assert [r.job for r in first] == ["a", "b"]
    assert run_due(settings, jobs) == []  # nothing due right after
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=5)
    assert [r["job"] for r in status(settings, jobs, later) if r["due"]] == ["b"]
    # a scheduler killed mid-run leaves "running": past its timeout it reads as stale and runs again
    State(settings).write(RunRecord("b", "running", (later - dt.timedelta(hours=1)).isoformat()))
    row = next(r for r in status(settings, jobs, later) if r["job"] == "b")
    assert row["status"] == "stale" and row["due"]
    with pytest.raises(JingyunError):
        run_due(settings, jobs, only="nope")
