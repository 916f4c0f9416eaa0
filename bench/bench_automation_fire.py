"""Live automation: many absence timers falling due at once (100,000 people whose 30 minutes ran out in the
same tick) — how long the runtime takes to fire them, and in how many store transactions.

A temp workspace: the SQLite metadata store, a DuckDB warehouse (asked once per batch for cancelling
orders), the `abandoned-browse` journey (an inbox message, holdout 10 %). Nobody has marketing consent, so
every decision is recorded as held back (`unsubscribed`) and nothing is carried out: what is measured is the
deciding path — claim the timers, entry limit, holdout, consent and the delivery log read for the batch, entries
and decision rows written — not the sending, which happens afterwards on the runtime's sending thread, one
message at a time. Reference in the same run: the same work one timer at a time (claim, then enter: the path
before batching), on 2,000 timers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

DUE = dt.datetime(2026, 9, 1, 2, 30)


def _seed(store: Any, n: int, prefix: str) -> None:
    from jingyun.store.automation import AutomationTimer

    t = DUE - dt.timedelta(minutes=30)
    rows = [{"key": f"abandoned-browse:absence:{prefix}{i:06d}:{t.isoformat()}", "journey_key": "abandoned-browse",
             "user_id": f"{prefix}{i:06d}", "kind": "absence", "due_at": DUE, "state": "pending",
             "payload": json.dumps({"t": t.isoformat(), "v": 1}), "created_at": t} for i in range(n)]
    with store.session() as ses:
        for k in range(0, n, 10_000):
            ses.execute(AutomationTimer.__table__.insert(), rows[k:k + 10_000])  # type: ignore[attr-defined]


def run(quick: bool) -> list[dict[str, Any]]:
    from sqlalchemy import event, select

    from jingyun.api.writer import IngestWriter
    from jingyun.automation import registry
    from jingyun.automation.journey import parse_journey
    from jingyun.automation.runtime import Runtime
    from jingyun.config import load_settings
    from jingyun.store import open_store
    from jingyun.store.automation import AutomationAction, AutomationTimer
    from jingyun.warehouse import Warehouse

    n, one_by_one = (5_000, 500) if quick else (100_000, 2_000)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "fire"
        os.environ["JINGYUN_HOME"] = str(home)
        settings = load_settings(home)
        store = open_store(settings)
        writer = IngestWriter(Warehouse.open(settings))
        registry.create(store, parse_journey({
            "key": "abandoned-browse", "priority": 70,
            "trigger": {"type": "event", "event": "view_product",
                        "absent": {"any_of": [{"event": "order"}], "within": "30m"}},
            "steps": [{"id": "push", "type": "action", "channel": "inbox", "template": "browse"}]}))
        registry.activate(store, "abandoned-browse")
        runtime = Runtime(store, settings, reader=writer.reader, clock=lambda: DUE)
        counted = {"n": 0}
        me = threading.get_ident()

        def begun(conn: Any) -> None:
            if threading.get_ident() == me:
                counted["n"] += 1

        rows = []
        try:
            # reference: one timer at a time, as before batching (claim, then enter)
            _seed(store, one_by_one, "r")
            live = runtime.journeys(fresh=True)[0]
            with store.session() as ses:
                timers = ses.scalars(select(AutomationTimer).where(AutomationTimer.state == "pending")).all()
                ses.expunge_all()
            event.listen(store.engine, "begin", begun)
            load0 = os.getloadavg()[0]
            t = time.perf_counter()
            for timer in timers:
                if runtime._claim(timer.id, "fired"):
                    runtime.enter(live, timer.user_id, timer.due_at)
            ref_s = time.perf_counter() - t
            ref_tx = counted["n"]
            counted["n"] = 0
            # batched: every due timer in one tick
            _seed(store, n, "w")
            load1 = os.getloadavg()[0]
            t = time.perf_counter()
            fired = runtime.tick(DUE)
            batch_s = time.perf_counter() - t
            event.remove(store.engine, "begin", begun)
            with store.session() as ses:
                decided = ses.query(AutomationAction).count() - one_by_one + runtime.stats.holdout
            rows.append({"timers due at once": f"{n:,}", "fired": fired, "seconds": round(batch_s, 2),
                         "timers/s": round(fired / batch_s), "store transactions": counted["n"],
                         "one at a time: timers": f"{one_by_one:,}", "one at a time: s": round(ref_s, 2),
                         "one at a time: timers/s": round(one_by_one / ref_s),
                         "one at a time: transactions per timer": round(ref_tx / one_by_one, 1),
                         "speed-up": f"{(fired / batch_s) / (one_by_one / ref_s):.0f}x",
                         "decisions + holdout": decided, "load avg start/batched/end":
                             f"{load0:.1f}/{load1:.1f}/{os.getloadavg()[0]:.1f}"})
        finally:
            writer.close()
            writer.wh.close()
            store.close()
    return rows


if __name__ == "__main__":
    print(run(quick=True))
