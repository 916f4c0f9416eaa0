"""Commits hand their rows to the live runtime only while a journey is active: with none, a load's insert
returns nothing (HTTP and file ingestion pay nothing for automation), and an activation in this process is
seen by the next commit."""

from __future__ import annotations

from automation_live import Live, live

from jingyun.automation import registry

__all__ = ["live"]

JOURNEY = {
    "key": "browse", "holdout": 0,
    "trigger": {"type": "event", "event": "view_product", "absent": {"any_of": [{"event": "order"}], "within": "30m"}},
    "steps": [{"id": "push", "type": "action", "channel": "inbox", "template": "browse_nudge"}],
}


def test_rows_are_handed_over_only_while_a_journey_is_active(live: Live) -> None:
    wh = live.writer.wh
    assert not wh.listening("events")
    live.journey(JOURNEY)
    assert wh.listening("events") and wh.listening("orders")  # at once, not after the next re-read
    assert not wh.listening("users")
    registry.pause(live.store, "browse")
    assert not wh.listening("events")
