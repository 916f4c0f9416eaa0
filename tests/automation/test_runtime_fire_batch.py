"""Timer-fired entries in batches: 1,000 absence timers falling due at once fire exactly once each, in a bounded
number of store transactions, with consent, caps and entry limits still decided person by person."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from automation_live import T0, Clock, Live, live, view
from sqlalchemy import event, select, update

from jingyun.api.writer import IngestWriter
from jingyun.automation.runtime import Runtime
from jingyun.config import load_settings
from jingyun.messaging import Message, consent, deliver
from jingyun.store.automation import AutomationAction, AutomationTimer, JourneyEntryRow
from jingyun.store.db import open_store
from jingyun.store.messages import MessageConsent
from jingyun.warehouse import Warehouse

__all__ = ["live", "pg_url"]
M = dt.timedelta(minutes=1)
FIRE = T0 + 30 * M
BROWSE = {
    "key": "browse-batch", "priority": 70, "holdout": 0, "entry_limit": "24h",
    "trigger": {"type": "event", "event": "view_product", "absent": {"any_of": [{"event": "order"}], "within": "30m"}},
    "steps": [{"id": "push", "type": "action", "channel": "inbox", "template": "browse_nudge"}],
}
PEOPLE = [f"u{k:04d}" for k in range(990)]
WITHDRAWN = PEOPLE[:10]  # marketing withdrawn on every channel
NO_RECORD = PEOPLE[10:20]  # never asked: marketing is opt-in
INBOX_OFF = PEOPLE[20:30]  # all channels yes, the inbox withdrawn: the channel's record wins
TWICE = PEOPLE[30:40]  # a second view 5 min later: a second timer, held by the entry limit
CAPPED = PEOPLE[40:45]  # two marketing messages that local day already: the day cap (2) holds


def _seed_consent(lv: Live) -> None:
    with lv.store.session() as ses:  # the ordinary "yes" in bulk; the special cases through messaging's API
        ses.add_all([MessageConsent(subject=u, purpose="marketing", channel="*", granted=True, source="test",
                                    updated_at=T0) for u in PEOPLE if u not in WITHDRAWN and u not in NO_RECORD])
    for u in WITHDRAWN:
        consent.record(lv.store, u, purpose="marketing", granted=False, audit=False)
    for u in INBOX_OFF:
        consent.record(lv.store, u, purpose="marketing", channel="inbox", granted=False, audit=False)
    for u in CAPPED:
        for k in range(2):
            deliver(lv.store, lv.settings, Message("inbox", u, "earlier", "T", purpose="marketing", key=f"pre:{u}:{k}",
                                                   user_id=u), now=T0 - 60 * M)


def test_thousand_due_timers_fire_once_in_few_transactions(live: Live) -> None:
    live.journey(BROWSE)
    _seed_consent(live)
    live.post("events", [view(u, T0) for u in PEOPLE] + [view(u, T0 + 5 * M, 1) for u in TWICE])
    with live.store.session() as ses:
        assert ses.query(AutomationTimer).filter_by(state="pending").count() == 1000
    runtime = live.restart()
    runtime.start(tick_s=3600)  # the sends go out on the runtime's sending thread, as in the service
    ticking = threading.get_ident()
    transactions = Counter[str]()

    def begun(conn: Any) -> None:
        if threading.get_ident() == ticking:
            transactions["tick"] += 1

    event.listen(live.store.engine, "begin", begun)
    try:
        fired = runtime.tick(FIRE + 5 * M)
    finally:
        event.remove(live.store.engine, "begin", begun)
        runtime.stop()
    assert fired == 1000
    # journeys, the due timers (twice: the batch and the empty read after it), consent, the delivery log, and one
    # transaction that claims the timers and writes the entries and decisions: not one round trip per timer
    assert transactions["tick"] <= 8, transactions
    with live.store.session() as ses:
        timers = Counter(s for (s,) in ses.execute(select(AutomationTimer.state).where(AutomationTimer.kind == "absence")))
        entries = Counter(u for (u,) in ses.execute(select(JourneyEntryRow.user_id)))
        acts = {u: (s, r) for u, s, r in ses.execute(select(AutomationAction.user_id, AutomationAction.state,
                                                            AutomationAction.reason))}
    assert timers == {"fired": 1000}
    assert len(entries) == 990 and set(entries.values()) == {1}  # TWICE: the second timer is held by the limit
    assert runtime.stats.entry_limit == 10
    # consent decided person by person exactly as messaging's own rule answers it
    for u in PEOPLE:
        assert (acts[u] == ("suppressed", "unsubscribed")) == (
            not consent.allowed(live.store, u, channel="inbox", purpose="marketing")), u
    assert {u for u, a in acts.items() if a == ("suppressed", "cap")} == set(CAPPED)
    sent = [(u, k, t) for u, k, t in live.deliveries() if not k.startswith("pre:")]
    expected = set(PEOPLE) - set(WITHDRAWN) - set(NO_RECORD) - set(INBOX_OFF) - set(CAPPED)
    assert len(sent) == len(expected) == 955 and {u for u, _, _ in sent} == expected
    assert {t for _, _, t in sent} == {FIRE}  # decided at the fire time (event time)
    # a restart fires none of them again
    again = live.restart()
    assert again.tick(FIRE + 60 * M) == 0
    assert len([k for _, k, _ in live.deliveries() if not k.startswith("pre:")]) == 955


def _service_pg_url() -> Any:
    """The service suite's throwaway PostgreSQL fixture (as tests/ops does)."""
    import importlib.util
    import sys
    from pathlib import Path

    here = Path(__file__).parents[1] / "service"
    sys.path.insert(0, str(here))  # its conftest imports service_support
    spec = importlib.util.spec_from_file_location("jingyun_tests_service_conftest", here / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pg_url


pg_url = _service_pg_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def on_db(request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    if request.param == "postgresql":
        from sqlalchemy import create_engine, text

        url = request.getfixturevalue("pg_url")
        engine = create_engine(url)
        with engine.begin() as con:
            con.execute(text("DROP SCHEMA public CASCADE"))
            con.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        monkeypatch.setenv("JINGYUN_DB_URL", url)
    home = tmp_path / "ws"
    home.mkdir()
    monkeypatch.setenv("JINGYUN_HOME", str(home))
    settings = load_settings(home)
    store = open_store(settings)
    assert store.engine.dialect.name == request.param
    writer = IngestWriter(Warehouse.open(settings))
    clock = Clock()
    runtime = Runtime(store, settings, reader=writer.reader, clock=clock)
    runtime.attach(writer.wh)
    yield Live(settings, store, writer, runtime, clock)
    writer.close()
    writer.wh.close()
    store.close()


def test_a_batch_claims_only_the_timers_still_pending(on_db: Live) -> None:
    """Another instance claimed some of the due timers first: this one fires the rest, each once (the claim is
    an UPDATE … RETURNING inside the batch's transaction, on SQLite and PostgreSQL alike)."""
    lv = on_db
    lv.journey(BROWSE)
    people = PEOPLE[100:300]
    with lv.store.session() as ses:
        ses.add_all([MessageConsent(subject=u, purpose="marketing", channel="*", granted=True, source="test",
                                    updated_at=T0) for u in people])
    lv.post("events", [view(u, T0) for u in people])
    taken = people[::4]  # 50 timers already fired by the other instance
    with lv.store.session() as ses:
        ses.execute(update(AutomationTimer).where(AutomationTimer.user_id.in_(taken))
                    .values(state="fired", fired_at=FIRE))
    assert lv.at(FIRE) == 150
    with lv.store.session() as ses:
        entered = sorted(u for (u,) in ses.execute(select(JourneyEntryRow.user_id)))
        states = Counter(s for (s,) in ses.execute(select(AutomationTimer.state)))
    assert entered == sorted(set(people) - set(taken)) and states == {"fired": 200}
    assert sorted(u for u, _, _ in lv.deliveries()) == entered
    assert lv.at(FIRE + 60 * M) == 0 and len(lv.deliveries()) == 150
