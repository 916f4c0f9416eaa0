"""``at: best_time`` on an action step: the send (and the steps after it) wait for the person's best local hour,
the same in the simulation and live; people without history get the workspace's best hour; quiet hours hold."""

from __future__ import annotations

import datetime as dt
from typing import Any

import automation_rows as rows
import pytest
from automation_live import Live, event, live
from sqlalchemy import select

from jingyun.automation.journey import parse_journey, to_data
from jingyun.automation.sendtime import BestHours
from jingyun.automation.simulate import simulate
from jingyun.errors import JingyunError
from jingyun.store.automation import AutomationTimer
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend

__all__ = ["live"]
SH = "Asia/Shanghai"
T0 = dt.datetime(2026, 9, 1, 2, 0)  # 10:00 in Shanghai
EVENING = dt.datetime(2026, 9, 1, 12, 0)  # 20:00 in Shanghai the same day
NEXT_9 = dt.datetime(2026, 9, 2, 1, 0)  # 09:00 in Shanghai the next day (10:00 had passed)
S = dt.timedelta(seconds=1)


def nudge(**extra: Any) -> dict[str, Any]:
    return {"key": "nudge", "holdout": 0, "trigger": {"type": "event", "event": "signup"},
            "steps": [{"id": "push", "type": "action", "channel": "inbox", "template": "hello", "at": "best_time"},
                      {"id": "after", "type": "action", "channel": "inbox", "template": "again", "purpose": "service"}],
            **extra}


def history() -> list[tuple[str, str, dt.datetime]]:
    """'evening' engages at 20:15 Shanghai; the crowd (five people) at 09:15; 'fresh' never."""
    out = [("evening", "app_start", dt.datetime(2026, 8, 10 + d, 12, 15)) for d in range(15)]
    out += [(f"c{k}", "app_start", dt.datetime(2026, 8, 5 + d, 1, 15)) for d in range(20) for k in range(5)]
    return out


def test_step_field_is_validated_and_kept() -> None:
    j = parse_journey(nudge())
    assert j.steps[0].at_best_time and not j.steps[1].at_best_time  # type: ignore[union-attr]
    assert parse_journey(to_data(j)) == j and "at" not in to_data(j)["steps"][1]  # the default stays out
    with pytest.raises(JingyunError) as bad:
        parse_journey({**nudge(), "steps": [{"id": "c", "type": "action", "channel": "coupon", "coupon": "x",
                                             "at": "best_time"}]})
    assert bad.value.field == "steps[0]" and "for messages" in bad.value.message
    with pytest.raises(JingyunError) as later:
        parse_journey({**nudge(), "steps": [{"id": "p", "type": "action", "channel": "push", "template": "t",
                                             "at": "later"}]})
    assert later.value.field == "steps[0].at"


def _simulate(wh: Warehouse, journey: dict[str, Any], **kw: Any) -> Any:
    [result] = simulate(DuckDBBackend(wh), [parse_journey(journey)], dt.date(2026, 9, 1), dt.date(2026, 9, 2),
                        timezone=SH, with_users=True, **kw)
    return result


def _sent(result: Any) -> dict[tuple[str, str], Any]:
    s = result.sends
    return {(u, st): (o, t) for u, st, o, t in zip(s["user_id"], s["step"], s["outcome"], s["sent_at"], strict=True)}


def test_simulate_sends_at_the_best_hour(wh: Warehouse) -> None:
    rows.users(wh, [{"user_id": u} for u in ("evening", "fresh", *(f"c{k}" for k in range(5)))])
    rows.events(wh, [*history(), ("evening", "signup", T0), ("fresh", "signup", T0)])
    result = _simulate(wh, nudge())
    assert result.entered == 2 and result.actions == {"inbox": 4}
    sent = _sent(result)
    assert sent[("evening", "push")] == ("sent", EVENING)  # 20:00 local, not 10:00
    assert sent[("evening", "after")] == ("sent", EVENING)  # the steps after it happen then too
    assert sent[("fresh", "push")] == ("sent", NEXT_9)  # no history: the workspace's best hour (09:00)
    assert sent[("fresh", "after")] == ("sent", NEXT_9)
    assert [p.path for p in result.users] == [("push", "after"), ("push", "after")]


def test_simulate_quiet_hours_hold_at_a_best_hour_inside_them(wh: Warehouse) -> None:
    rows.users(wh, [{"user_id": "night"}])
    rows.events(wh, [("night", "signup", T0)])
    best = BestHours(SH, tuple([1 / 24] * 24), 9, hours={"night": 23})  # e.g. worked out before quiet hours changed
    sent = _sent(_simulate(wh, nudge(), best=best))
    assert sent[("night", "push")] == ("sent", dt.datetime(2026, 9, 2, 0, 0))  # waits to 08:00 local
    dropped = _simulate(wh, nudge(on_quiet_hours="drop"), best=best)
    assert dropped.suppressed["quiet_hours"] == 1 and dropped.actions == {"inbox": 1}  # the service step still goes


def _timers(lv: Live) -> list[tuple[str, str, dt.datetime]]:
    with lv.store.session() as ses:
        return [(u, s, t) for u, s, t in ses.execute(select(AutomationTimer.user_id, AutomationTimer.state,
                                                            AutomationTimer.due_at).order_by(AutomationTimer.due_at))]


def test_live_waits_in_a_persisted_timer_across_restarts(live: Live) -> None:
    live.post("events", [event(u, "app_start", t) | {"event_id": f"h{i}"} for i, (u, _, t) in enumerate(history())])
    live.journey(nudge())
    live.consent("evening", "fresh")
    live.clock.now = T0
    live.post("events", [event("evening", "signup", T0), event("fresh", "signup", T0)])
    assert live.deliveries(status=None) == []  # nothing leaves at 10:00
    assert _timers(live) == [("evening", "pending", EVENING), ("fresh", "pending", NEXT_9)]
    live.restart()  # the service came back: the waits are in the store
    assert live.at(EVENING - S) == 0
    assert live.at(EVENING) == 1
    assert sorted((u, k.split(":")[2], t) for u, k, t in live.deliveries()) == [
        ("evening", "after", EVENING), ("evening", "push", EVENING)]
    live.restart()
    assert live.at(EVENING + S) == 0  # fired once
    assert live.at(NEXT_9) == 1
    got = sorted((u, k.split(":")[2], t) for u, k, t in live.deliveries())
    assert got == [("evening", "after", EVENING), ("evening", "push", EVENING),
                   ("fresh", "after", NEXT_9), ("fresh", "push", NEXT_9)]
    assert live.at(NEXT_9 + dt.timedelta(days=2)) == 0 and len(live.deliveries()) == 4


def test_live_quiet_hours_hold_at_a_best_hour_inside_them(live: Live) -> None:
    live.journey(nudge())
    live.consent("night")
    live.runtime.best = BestHours(SH, tuple([1 / 24] * 24), 9, hours={"night": 23})
    live.clock.now = T0
    live.post("events", [event("night", "signup", T0)])
    assert live.at(dt.datetime(2026, 9, 1, 15, 0)) == 1  # 23:00 local: the best hour, inside quiet hours
    assert live.deliveries(status=None) == []
    assert live.at(dt.datetime(2026, 9, 2, 0, 0)) == 1  # 08:00 local: quiet hours end
    assert sorted((k.split(":")[2], t) for _, k, t in live.deliveries()) == [
        ("after", dt.datetime(2026, 9, 2, 0, 0)), ("push", dt.datetime(2026, 9, 2, 0, 0))]
