"""The default schedule runs the messaging retry worker every minute: a crashed send goes out on the next fire."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from jingyun.config import load_settings
from jingyun.messaging import Message, deliver
from jingyun.messaging import core as core_mod
from jingyun.ops.jobs import DEFAULT_SCHEDULE, load_jobs
from jingyun.ops.runner import ChildProcessRunner
from jingyun.ops.scheduler import Scheduler
from jingyun.store.db import open_store


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


def test_default_retry_job_sends_a_crashed_message_on_its_next_fire(home: Path, smtp, monkeypatch) -> None:
    inbox, port = smtp
    for key, value in {"SMTP_PORT": str(port), "SMTP_HOST": "127.0.0.1", "SMTP_FROM": "ops@shop.cn"}.items():
        monkeypatch.setenv(f"JINGYUN_{key}", value)  # the job's child process reads the same settings
    settings = load_settings(home)
    (home / "schedule.yaml").write_text(DEFAULT_SCHEDULE, encoding="utf-8")
    [job] = [j for j in load_jobs(settings) if j.name == "messages-retry"]
    assert (job.args, job.catch_up) == (("messages", "retry"), "skip")

    store = open_store(settings)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with monkeypatch.context() as m:  # the sender dies after deciding to send
        m.setattr(core_mod, "_attempt", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("power cut")))
        with pytest.raises(RuntimeError):
            deliver(store, settings, Message("email", "li@shop.cn", "S", "T", key="crash-1", user_id="u1"),
                    now=now - dt.timedelta(minutes=5))
    assert inbox.messages == []

    clock = Clock(now)
    sched = Scheduler(settings, store, clock=clock, runner=ChildProcessRunner())
    [run] = sched.run_due([job])  # an interval job runs when first seen: `jingyun messages retry`, a child process
    assert run.status == "ok", run.error
    assert len(inbox.messages) == 1 and inbox.messages[0]["To"] == "li@shop.cn"
    clock.at = now + dt.timedelta(seconds=59)
    assert sched.run_due([job]) == []  # not yet due
    clock.at = now + dt.timedelta(minutes=1)
    [again] = sched.run_due([job])  # a minute later it runs again and finds nothing more to send
    assert again.status == "ok" and len(inbox.messages) == 1
    assert sched.status([job])[0]["next_run_utc"] == (now + dt.timedelta(minutes=2)).isoformat()
    store.close()
