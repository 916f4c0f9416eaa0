"""Metric triggers live: a metric of the dictionary checked on the journey's cron inside the runtime, fired once
per false → true transition, the last answer kept in the store across restarts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from automation_live import Live, live, order
from sqlalchemy import select

from jingyun.automation import runtime as runtime_module
from jingyun.automation.journey import parse_journey
from jingyun.errors import JingyunError
from jingyun.store.automation import AutomationTask, AutomationTimer, JourneyEntryRow

__all__ = ["live"]
GMV_DAYS = {1: 3, 2: 6, 3: 7, 4: 1, 5: 8}  # orders of ¥99.00 per local day of September: GMV 297, 594, 693, 99, 792


def watch(**extra: Any) -> dict[str, Any]:
    return {"key": "gmv-watch", "holdout": 0.5,
            "trigger": {"type": "metric", "metric": "gmv", "op": "gt", "value": 500, "cron": "0 9 * * *",
                        "notify": "owner_li"},
            "steps": [{"id": "tell", "type": "action", "channel": "task", "assignee": "owner_li",
                       "title": "GMV above ¥500 yesterday"}], **extra}


def check_at(day: int) -> dt.datetime:
    """09:00 in Shanghai on September ``day`` (the cron's fire), as naive UTC."""
    return dt.datetime(2026, 9, day, 1, 0)


def tasks(lv: Live) -> list[tuple[str, str, dt.datetime]]:
    with lv.store.session() as ses:
        return [(u, a, t) for u, a, t in ses.execute(select(AutomationTask.user_id, AutomationTask.assignee,
                                                            AutomationTask.created_at).order_by(AutomationTask.id))]


def state(lv: Live) -> tuple[str, dict[str, Any]]:
    with lv.store.session() as ses:
        row = ses.scalars(select(AutomationTimer).where(AutomationTimer.key == "metric:gmv-watch")).one()
        return row.state, json.loads(row.payload)


@pytest.fixture(autouse=True)
def every_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "SCHEDULED_EVERY_S", 0)  # scheduled triggers read at every tick here


def test_fires_once_per_false_to_true(live: Live) -> None:
    live.post("orders", [order(f"b{day}_{k}", dt.datetime(2026, 9, day, 4, 0) + dt.timedelta(minutes=k))
                         for day, n in GMV_DAYS.items() for k in range(n)])
    live.journey(watch())
    live.at(dt.datetime(2026, 9, 1, 2, 0))  # the first read starts now: no check before the next 09:00
    assert tasks(live) == []
    live.at(check_at(2) + dt.timedelta(minutes=1))  # 1 Sep: 297 — false
    assert tasks(live) == [] and state(live)[0] == "false"
    live.at(check_at(3) + dt.timedelta(minutes=1))  # 2 Sep: 594 — becomes true: one fire, at the cron's time
    assert tasks(live) == [("owner_li", "owner_li", check_at(3))]
    assert state(live)[1]["value"] == pytest.approx(594.0) and state(live)[1]["to"] == "2026-09-02"
    live.restart()  # the answer is in the store
    live.at(check_at(4) + dt.timedelta(minutes=1))  # 3 Sep: 693 — still true: no repeat
    live.at(check_at(4) + dt.timedelta(hours=2))  # no cron fire in between: nothing checked
    assert len(tasks(live)) == 1 and state(live)[0] == "true"
    live.at(check_at(5) + dt.timedelta(minutes=1))  # 4 Sep: 99 — false
    assert state(live)[0] == "false" and len(tasks(live)) == 1
    live.restart()
    live.at(check_at(6) + dt.timedelta(minutes=1))  # 5 Sep: 792 — true again: a second fire
    assert [t for _, _, t in tasks(live)] == [check_at(3), check_at(6)]
    with live.store.session() as ses:  # the owner is told, never held out (holdout 0.5 here)
        entries = ses.execute(select(JourneyEntryRow.user_id, JourneyEntryRow.holdout, JourneyEntryRow.entered_at)).all()
    assert [(u, h, t) for u, h, t in entries] == [("owner_li", False, check_at(3)), ("owner_li", False, check_at(6))]


def test_missed_checks_coalesce_and_unknown_metric_changes_nothing(live: Live) -> None:
    live.post("orders", [order(f"b{day}_{k}", dt.datetime(2026, 9, day, 4, 0) + dt.timedelta(minutes=k))
                         for day, n in GMV_DAYS.items() for k in range(n)])
    live.journey(watch())
    live.at(dt.datetime(2026, 9, 1, 2, 0))
    live.at(check_at(5) + dt.timedelta(minutes=1))  # down since 1 Sep: only the latest check (4 Sep: 99) counts
    assert state(live)[0] == "false" and tasks(live) == []
    live.journey(watch(key="nope-watch", trigger={"type": "metric", "metric": "no_such_metric", "op": "gt",
                                                   "value": 1, "cron": "0 9 * * *"}))
    live.at(check_at(5) + dt.timedelta(minutes=2))
    live.at(check_at(6) + dt.timedelta(minutes=1))
    with live.store.session() as ses:
        row = ses.scalars(select(AutomationTimer).where(AutomationTimer.key == "metric:nope-watch")).one()
    assert row.state == "error" and "unknown_metric" in json.loads(row.payload)["error"]
    assert [t for _, _, t in tasks(live)] == [check_at(6)]  # gmv-watch still works beside it


def test_metric_trigger_is_validated() -> None:
    with pytest.raises(JingyunError) as bad:
        parse_journey(watch(trigger={"type": "metric", "metric": "gmv", "op": "gt", "value": 1, "cron": "every day"}))
    assert bad.value.field == "trigger.cron"
    with pytest.raises(JingyunError) as days:
        parse_journey(watch(trigger={"type": "metric", "metric": "gmv", "op": "gt", "value": 1, "days": 0}))
    assert days.value.field == "trigger.days"
