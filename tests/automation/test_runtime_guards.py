"""The live runtime's guard rails and its once-only rule: caps and quiet hours across two competing
journeys in two time zones, consent, and a crash between deciding and sending."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from automation_live import T0, Live, event, live
from sqlalchemy import select

from jingyun import messaging
from jingyun.store.automation import AutomationAction

__all__ = ["live"]
H = dt.timedelta(hours=1)


def journey(key: str, event_name: str, priority: int, **extra: Any) -> dict[str, Any]:
    return {"key": key, "priority": priority, "holdout": 0, "entry_limit": "1s",
            "trigger": {"type": "event", "event": event_name},
            "steps": [{"id": "msg", "type": "action", "channel": "inbox", "template": f"{key}_msg"}], **extra}


def users(live: Live, rows: list[tuple[str, str]]) -> None:
    live.post("users", [{"user_id": u, "registered_at": "2026-01-01T00:00:00Z", "attributes": {"timezone": tz}}
                        for u, tz in rows])


def sent(live: Live) -> list[tuple[str, str]]:
    return [(u, k.split(":")[0]) for u, k, _ in live.deliveries()]


def test_caps_and_priority_across_two_live_journeys(live: Live) -> None:
    live.settings = live.settings.model_copy(update={"automation_cap_day": 1, "automation_cap_week": 2})
    live.restart()
    live.journey(journey("vip", "add_to_cart", 80))
    live.journey(journey("nudge", "add_to_cart", 20))
    users(live, [("u_sh", "Asia/Shanghai"), ("u_ny", "America/New_York")])
    live.consent("u_sh", "u_ny")
    # 10:00 Shanghai = 22:00 New York (quiet there): both journeys fire at the same instant
    live.post("events", [event("u_sh", "add_to_cart", T0), event("u_ny", "add_to_cart", T0)])
    assert sent(live) == [("u_sh", "vip")]  # the higher priority takes Shanghai's one slot; nudge is capped
    with live.store.session() as ses:
        held = dict(ses.execute(select(AutomationAction.journey_key, AutomationAction.reason)
                                .where(AutomationAction.user_id == "u_sh", AutomationAction.state == "suppressed")).all())
    assert held == {"nudge": "cap"}
    # New York waits for 08:00 local (12:00 UTC); then vip takes its slot there and nudge is capped
    live.at(T0 + 9 * H)
    assert sent(live) == [("u_sh", "vip")]
    live.at(T0 + 10 * H)
    assert sent(live) == [("u_sh", "vip"), ("u_ny", "vip")]
    assert [t for u, _, t in live.deliveries() if u == "u_ny"] == [T0 + 10 * H]  # 08:00 EDT
    # the next Shanghai day: one more; then the week's cap (2) holds across journeys and a restart
    live.restart()
    live.post("events", [event("u_sh", "add_to_cart", T0 + 24 * H)])
    live.restart()
    live.post("events", [event("u_sh", "add_to_cart", T0 + 48 * H)])
    assert [j for u, j in sent(live) if u == "u_sh"] == ["vip", "vip"]


def test_unsubscribed_people_receive_nothing(live: Live) -> None:
    live.journey(journey("vip", "add_to_cart", 80))
    live.consent("u_yes")
    live.consent("u_no", granted=False)
    live.post("events", [event(u, "add_to_cart", T0) for u in ("u_yes", "u_no", "u_never")])
    assert [u for u, _ in sent(live)] == ["u_yes"]
    assert {u for u, _, _ in live.deliveries(status=None)} == {"u_yes"}  # nothing even queued for the others
    with live.store.session() as ses:
        reasons = dict(ses.execute(select(AutomationAction.user_id, AutomationAction.reason)
                                   .where(AutomationAction.state == "suppressed")).all())
    assert reasons == {"u_no": "unsubscribed", "u_never": "unsubscribed"}


class Killed(BaseException):
    """The process died (not an error anyone catches)."""


@pytest.mark.parametrize("when", ["before_send", "after_send"])
def test_crash_between_deciding_and_sending_sends_once(live: Live, when: str) -> None:
    calls: list[str] = []

    def dying(store: Any, settings: Any, message: messaging.Message, **kw: Any) -> messaging.Delivery:
        calls.append(message.key)
        if when == "after_send":
            messaging.deliver(store, settings, message, **kw)
        raise Killed

    live.journey(journey("vip", "add_to_cart", 80))
    live.consent("u_k")
    live.restart(deliver=dying)
    job_rows = [event("u_k", "add_to_cart", T0)]
    with pytest.raises(Killed):
        live.post("events", job_rows)
    with live.store.session() as ses:
        assert ses.scalars(select(AutomationAction.state)).all() == ["decided"]
    assert len(live.deliveries(status=None)) == (1 if when == "after_send" else 0)
    runtime = live.restart()
    assert runtime.recover() == 1
    assert runtime.recover() == 0
    assert [u for u, _ in sent(live)] == ["u_k"]
    assert len(live.deliveries(status=None)) == 1
    with live.store.session() as ses:
        assert ses.scalars(select(AutomationAction.state)).all() == ["done"]
    live.at(T0 + H)  # and a tick after the restart fires nothing more
    assert len(live.deliveries(status=None)) == 1
