"""The live runtime decides a committed batch of immediate entries together (one store transaction) and
carries the sends out afterwards: entry limits and caps hold inside one batch, and while sends decided
earlier are still waiting on the sending thread."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from automation_live import T0, Live, event, live
from sqlalchemy import select

from jingyun.store.automation import AutomationAction, JourneyEntryRow

__all__ = ["live"]
M = dt.timedelta(minutes=1)


def cart(**extra: Any) -> dict[str, Any]:
    return {"key": "cart", "priority": 50, "holdout": 0, "entry_limit": "10m",
            "trigger": {"type": "event", "event": "add_to_cart"},
            "steps": [{"id": "msg", "type": "action", "channel": "inbox", "template": "cart_msg"}], **extra}


def states(live: Live) -> list[tuple[str, str, str]]:
    with live.store.session() as ses:
        return [(u, s, r) for u, s, r in ses.execute(select(AutomationAction.user_id, AutomationAction.state,
                                                             AutomationAction.reason).order_by(AutomationAction.id))]


def test_one_batch_keeps_entry_limits_and_caps(live: Live) -> None:
    live.settings = live.settings.model_copy(update={"automation_cap_day": 2, "automation_cap_week": 5})
    live.restart()
    live.journey(cart())
    live.consent("u_a", "u_b")
    # one commit: u_a at +0, +5 (entry limit), +20, +40 (third of the day: capped); u_b once; u_c has no consent
    live.post("events", [event("u_a", "add_to_cart", T0 + k * M) for k in (0, 5, 20, 40)]
              + [event("u_b", "add_to_cart", T0), event("u_c", "add_to_cart", T0)])
    assert sorted(states(live)) == sorted([("u_a", "done", "sent"), ("u_a", "done", "sent"), ("u_a", "suppressed", "cap"),
                                           ("u_b", "done", "sent"), ("u_c", "suppressed", "unsubscribed")])
    with live.store.session() as ses:
        entries = ses.execute(select(JourneyEntryRow.user_id, JourneyEntryRow.state, JourneyEntryRow.path)).all()
    assert sorted(u for u, _, _ in entries) == ["u_a", "u_a", "u_a", "u_b", "u_c"]
    assert {(s, p) for _, s, p in entries} == {("done", '["msg"]')}
    assert live.runtime.stats.entry_limit == 1
    assert sorted(u for u, _, _ in live.deliveries()) == ["u_a", "u_a", "u_b"]


def test_caps_count_decisions_still_on_the_sending_thread(live: Live) -> None:
    live.settings = live.settings.model_copy(update={"automation_cap_day": 2, "automation_cap_week": 5})
    live.restart()
    live.journey(cart(entry_limit="1s"))
    live.consent("u_a")
    gate: list[int] = []

    def slow(store: Any, settings: Any, message: Any, **kw: Any) -> Any:
        from jingyun import messaging

        while not gate:  # the sends wait until every batch has been decided
            time.sleep(0.01)
        return messaging.deliver(store, settings, message, **kw)

    runtime = live.restart(deliver=slow)
    runtime.start(tick_s=3600)
    try:
        for k in range(4):  # four commits: the caps must count the two decided sends nobody carried out yet
            live.post("events", [event("u_a", "add_to_cart", T0 + k * M)])
        for _ in range(500):  # the runtime's worker may still hold the last batch
            if len(states(live)) == 4:
                break
            time.sleep(0.02)
        assert [s for _, s, _ in states(live)] == ["decided", "decided", "suppressed", "suppressed"]
        gate.append(1)
    finally:
        runtime.stop()
    assert [(s, r) for _, s, r in states(live)] == [("done", "sent"), ("done", "sent"), ("suppressed", "cap"),
                                                    ("suppressed", "cap")]
    assert len(live.deliveries()) == 2
