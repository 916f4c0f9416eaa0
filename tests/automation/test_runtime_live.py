"""The live runtime: the 30-minute absence rule pinned through real group commits and a moved clock."""

from __future__ import annotations

import datetime as dt

from automation_live import T0, Live, live, order, view
from sqlalchemy import select

from jingyun.store.automation import AutomationTimer, JourneyEntryRow

__all__ = ["live"]
M = dt.timedelta(minutes=1)
S = dt.timedelta(seconds=1)

BROWSE = {
    "key": "abandoned-browse", "priority": 70, "holdout": 0, "entry_limit": "24h",
    "trigger": {"type": "event", "event": "view_product", "where": [{"key": "category", "op": "eq", "value": "shoes"}],
                "absent": {"any_of": [{"event": "order"}], "within": "30m"}},
    "steps": [{"id": "push", "type": "action", "channel": "inbox", "template": "browse_nudge"}],
}


def test_thirty_minutes_at_29_59_30_00_30_01(live: Live) -> None:
    live.journey(BROWSE)
    users = ["u_a", "u_b", "u_c", "u_d", "u_same"]
    live.consent(*users)
    live.post("events", [view(u, T0) for u in users])
    with live.store.session() as ses:
        assert ses.query(AutomationTimer).filter_by(state="pending").count() == 5
    live.post("orders", [order("u_a", T0 + 30 * M - S), order("u_b", T0 + 30 * M), order("u_c", T0 + 30 * M + S),
                         order("u_same", T0)])
    # (t, t+30m]: 29:59 and 30:00 cancel; 30:01 and the same instant do not
    with live.store.session() as ses:
        states = dict(ses.execute(select(AutomationTimer.user_id, AutomationTimer.state)).all())
    assert states == {"u_a": "cancelled", "u_b": "cancelled", "u_c": "pending", "u_d": "pending", "u_same": "pending"}
    assert live.at(T0 + 30 * M - S) == 0  # nothing due before t + 30 min
    assert live.deliveries() == []
    assert live.at(T0 + 30 * M) == 3
    sent = live.deliveries()
    assert sorted(u for u, _, _ in sent) == ["u_c", "u_d", "u_same"]
    assert all(t == T0 + 30 * M for _, _, t in sent)  # decided at the fire time (event time)
    assert live.at(T0 + 2 * 30 * M) == 0  # fired once
    assert len(live.deliveries()) == 3


def test_late_order_is_recorded_never_retracts(live: Live) -> None:
    live.journey(BROWSE)
    live.consent("u_late")
    live.post("events", [view("u_late", T0)])
    live.at(T0 + 31 * M)
    assert [u for u, _, _ in live.deliveries()] == ["u_late"]
    live.post("orders", [order("u_late", T0 + 20 * M)])  # arrives after its timer fired
    with live.store.session() as ses:
        timer = ses.scalars(select(AutomationTimer).where(AutomationTimer.user_id == "u_late")).one()
    assert (timer.state, timer.late_event_at) == ("fired", T0 + 20 * M)
    assert len(live.deliveries()) == 1


def test_order_ingested_before_its_view_still_cancels(live: Live) -> None:
    live.journey(BROWSE)
    live.consent("u_ooo", "u_other")
    live.post("orders", [order("u_ooo", T0 + 10 * M)])
    live.post("events", [view("u_ooo", T0), view("u_other", T0)])
    live.at(T0 + 30 * M)
    assert [u for u, _, _ in live.deliveries()] == ["u_other"]
    with live.store.session() as ses:
        assert dict(ses.execute(select(AutomationTimer.user_id, AutomationTimer.state)).all()) == {
            "u_ooo": "cancelled", "u_other": "fired"}


def test_filters_entry_limit_and_exit_live(live: Live) -> None:
    live.journey(BROWSE)
    live.consent("u_x")
    other = view("u_x", T0 + M, 1)
    other["properties"] = {"category": "bags"}
    live.post("events", [view("u_x", T0), view("u_x", T0 + 5 * M, 2), other])
    with live.store.session() as ses:  # bags do not match the rule's filter: two candidates, not three
        assert ses.query(AutomationTimer).filter_by(state="pending").count() == 2
    live.at(T0 + 40 * M)
    assert len(live.deliveries()) == 1  # the entry limit (24 h) keeps one of the two
    assert live.runtime.stats.entry_limit == 1
    with live.store.session() as ses:
        entry = ses.scalars(select(JourneyEntryRow)).one()
    assert (entry.user_id, entry.entered_at, entry.state, entry.path) == ("u_x", T0 + 30 * M, "done", '["push"]')


def test_test_accounts_never_enter(live: Live) -> None:
    live.journey(BROWSE)
    tester = f"{live.settings.test_user_prefixes[0]}qa"
    live.consent(tester)
    live.post("events", [view(tester, T0)])
    live.at(T0 + 31 * M)
    assert live.deliveries(status=None) == []
