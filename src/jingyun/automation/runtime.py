"""The live runtime of journeys inside the always-on service.

Where events come from: every load that commits rows into ``events`` or ``orders`` (HTTP group
commits and file chunks alike) hands the rows it stored — read back by its own insert, never by a
scan of the table — to :attr:`jingyun.warehouse.Warehouse.after_commit`; :meth:`Runtime.on_commit`
only queues them, and one worker thread matches them (:meth:`Runtime.drain`).

Matching uses the simulation's own SQL (:func:`jingyun.automation.entries.match_sql`) on a private
in-memory DuckDB where the batch is the ``events``/``orders`` table, so a property filter, ``event:
order`` (placed orders) and test accounts mean exactly what they mean in ``journey simulate``.

Event time, as simulated (docs/automation.md): a trigger event at *t* with ``absent … within W`` opens
a timer due at *t + W* (``automation_timers``, one row per occurrence, keyed so a replay opens none);
a cancelling event at *c* with *t < c <= t + W* cancels it, whenever it arrives before the timer
fires. At the fire the warehouse is asked once more for a cancelling event in *(t, t + W]* — so one
that was ingested *before* its trigger event (out of order) cancels too. **Late events**: one that
arrives after its timer fired retracts nothing; it is written on the timer (``late_event_at``).
A trigger event that arrives after *t + W* fires at the next tick, unless a cancelling event is
already stored.

Every deferred thing is a timer row (absence, wait, wait for an event, goal, resume after quiet
hours or a cap), fired once by :meth:`Runtime.tick` from an injectable clock; steps run at the
timer's due time (event time), not at the moment the tick noticed it. Segment, date and schedule
triggers are found by :func:`jingyun.automation.entries.candidates` — the simulation's queries —
over ``[cursor, now)`` on the service's warehouse each :data:`SCHEDULED_EVERY_S`, the cursor kept in
the store; metric triggers are checked on the same pass at their cron's latest fire
(:mod:`jingyun.automation.metric_watch`), entered once per false → true, the answer kept in the store.
Due absence timers are entered in batches (:meth:`Runtime.enter_many`: claim, entries and decisions in
one store transaction). An action step ``at: best_time`` waits in a ``resume`` timer for the person's best
hour (:mod:`jingyun.automation.sendtime`). Actions: :mod:`jingyun.automation.actions` (decided before
sent, once per key).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from jingyun.automation import actions, activation, guards, metric_watch, registry, sendtime
from jingyun.automation.entries import candidates, cron_fires, match_sql
from jingyun.automation.journey import (
    END,
    ActionStep,
    BranchStep,
    ExitStep,
    GoalStep,
    Journey,
    SplitStep,
    WaitStep,
    parse_journey,
    targets,
)
from jingyun.automation.rules import EventMatch, EventTrigger, MetricTrigger
from jingyun.metrics.definitions import Definitions, for_settings
from jingyun.store.automation import AutomationTimer, JourneyEntryRow, JourneyRow, JourneyVersionRow
from jingyun.store.db import Store
from jingyun.store.models import utcnow
from jingyun.warehouse.backends import Engine, open_backend
from jingyun.warehouse.sqltext import ts_literal

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]  # naive UTC
SCHEDULED_EVERY_S = 60
TICK_S = 1.0
FIRE_BATCH = 2000
BEST_HOURS_EVERY_S = 3600
_US = dt.timedelta(microseconds=1)


@dataclass
class Live:
    """One active journey as the runtime runs it."""

    journey: Journey
    version: int

    @property
    def key(self) -> str:
        return self.journey.key


@dataclass
class Stats:
    """What the runtime did since it started (the bench and ``jingyun status`` read it)."""

    batches: int = 0
    events: int = 0
    timers_opened: int = 0
    timers_cancelled: int = 0
    late_events: int = 0
    entries: int = 0
    entry_limit: int = 0
    holdout: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    latency_s: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=200_000))


class Runtime:
    def __init__(self, store: Store, settings: Any, *, reader: Callable[[], Any] | None = None,
                 clock: Clock | None = None, deliver: actions.Deliver | None = None,
                 defs: Definitions | None = None):
        self.store = store
        self.settings = settings
        self.reader = reader  # a fresh read connection on the warehouse (a cursor inside the service)
        self.clock: Clock = clock or utcnow
        self.deliver = deliver
        self.defs = defs or for_settings(settings)
        self.rules = guards.GuardRules.from_settings(settings)
        self.stats = Stats()
        self._queue: queue.Queue[tuple[float, str, pa.Table] | None] = queue.Queue()
        self._mu = threading.RLock()  # one decision at a time: batches, ticks and recovery never interleave
        self._duck = duckdb.connect(":memory:")
        self._duck.execute("SET TimeZone = 'UTC'")
        self._live: list[Live] = []
        self._live_at = 0.0
        self._live_gen = -1  # registry.generation() when the active journeys were last read
        self._scheduled_at = 0.0
        self._people: dict[str, actions.Person] = {}
        self._wh: Any = None  # one read connection, reused (opening one costs ~4 ms of settings and functions)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Decided marketing messages not carried out yet, key -> (person, due): the caps count them with the
        # delivery log (which holds them once carried out), so deciding never waits for the sending.
        self._pending: dict[str, tuple[str, dt.datetime]] = {}
        self._pending_mu = threading.Lock()
        self._carry: queue.Queue[tuple[Any, ActionStep, actions.Person] | None] = queue.Queue()
        self._async = False  # carry out on the carrying thread (set by start); else at once, in the caller
        self._wh_carry: Any = None
        self._nobody: dict[tuple[str, str], tuple[bool, float]] = {}
        self.best: sendtime.BestHours | None = None  # fixed best hours (tests); else computed, see best_hours()
        self._best: tuple[float, sendtime.BestHours] | None = None

    def _read(self) -> Any:
        if self._wh is None:
            assert self.reader is not None
            self._wh = _Kept(self.reader())
        return self._wh

    def best_hours(self, now: dt.datetime) -> sendtime.BestHours:
        """Each person's best hour for ``at: best_time`` steps: from the 90 days of engagement before ``now``,
        computed again at most every :data:`BEST_HOURS_EVERY_S`."""
        if self.best is not None:
            return self.best
        if self._best is None or time.monotonic() - self._best[0] > BEST_HOURS_EVERY_S:
            if self.reader is None:
                ok = sendtime.allowed_hours(self.rules)
                found = sendtime.BestHours(self.rules.timezone, tuple([1 / 24] * 24), ok[0])
            else:
                found = sendtime.best_hours(self._engine(), timezone=self.rules.timezone,
                                            as_of=now, rules=self.rules)
            self._best = (time.monotonic(), found)
        return self._best[1]

    def _engine(self) -> Engine:
        """The service's own warehouse as an engine, through the one factory (borrowed, not closed)."""
        return open_backend(self.settings, engine="duckdb", warehouse=self._read().wh)

    # -- wiring ------------------------------------------------------------------------------------
    def attach(self, wh: Any) -> None:
        """Listen to the warehouse's commits (the service's writer warehouse)."""
        if self.on_commit not in wh.after_commit:
            wh.after_commit.append(self.on_commit)

    def detach(self, wh: Any) -> None:
        if self.on_commit in wh.after_commit:
            wh.after_commit.remove(self.on_commit)

    def wants(self, table: str) -> bool:
        """Does a commit to ``table`` need to hand its rows over (asked before its insert)? Only while a
        journey is active: read again at most once a second, and at once after a change in this process
        (inside the service every command runs in it). Timers check the warehouse again when they fire."""
        return table in ("events", "orders") and bool(self.journeys())

    def on_commit(self, table: str, rows: pa.Table) -> None:
        """Called by the committing thread right after its commit: queue, never work there."""
        if table in ("events", "orders") and rows.num_rows:
            self._queue.put((time.perf_counter(), table, rows))

    def start(self, *, tick_s: float = TICK_S) -> None:
        """Resume decided actions, then run the worker (commits) and the timer loop (due timers, schedules)."""
        self.recover()
        self._stop.clear()
        worker = threading.Thread(target=self._work, name="jingyun-automation", daemon=True)
        timers = threading.Thread(target=self._loop, args=(tick_s,), name="jingyun-automation-timers", daemon=True)
        carrier = threading.Thread(target=self._carrying, name="jingyun-automation-send", daemon=True)
        self._threads = [worker, timers, carrier]
        self._async = True
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        for t in self._threads[:2]:
            t.join(timeout=30)
        self._carry.put(None)  # what was decided is carried out before the carrier ends (else recover() does)
        for t in self._threads[2:]:
            t.join(timeout=30)
        self._threads = []
        self._async = False

    def _carrying(self) -> None:
        while True:
            item = self._carry.get()
            if item is None:
                return
            try:
                self._carry_out(*item)
            except Exception:  # the row stays decided: recover() carries it out after a restart
                log.exception("automation: carrying out %s failed", getattr(item[0], "key", "?"))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            while len(group) < 64:  # what queued up meanwhile goes in one pass (one query per journey)
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                group.append(more)
            for table in ("events", "orders"):
                mine = [g for g in group if g[1] == table]
                if mine:
                    self._handle_many(table, mine)

    def _loop(self, tick_s: float) -> None:
        while not self._stop.wait(tick_s):
            try:
                self.tick()
            except Exception:
                log.exception("automation tick failed")

    def drain(self) -> int:
        """Process every queued batch now, in this thread (tests and the bench's checks); batches done."""
        n = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return n
            if item is not None:
                self._handle(item)
                n += 1

    def _handle(self, item: tuple[float, str, pa.Table]) -> None:
        self._handle_many(item[1], [item])

    def _handle_many(self, table: str, items: list[tuple[float, str, pa.Table]]) -> None:
        rows = items[0][2] if len(items) == 1 else pa.concat_tables([i[2] for i in items], promote_options="default")
        try:
            with self._mu:
                self.process(table, rows)
        except Exception:  # one bad batch must not stop the runtime: it is logged
            log.exception("automation: a %s batch of %d rows failed", table, rows.num_rows)
        done = time.perf_counter()
        for committed, _, part in items:
            self.stats.latency_s.append((done - committed, part.num_rows))

    # -- journeys ----------------------------------------------------------------------------------
    def journeys(self, *, fresh: bool = False) -> list[Live]:
        """The active journeys (newest version each), re-read at most once a second; higher priority first."""
        seen = registry.generation()
        if fresh or seen != self._live_gen or time.monotonic() - self._live_at > 1.0:
            self._live_gen = seen
            with self.store.session() as ses:
                found = ses.execute(select(JourneyRow.key, JourneyRow.version, JourneyVersionRow.definition)
                                    .join(JourneyVersionRow, (JourneyVersionRow.journey_id == JourneyRow.id)
                                          & (JourneyVersionRow.version == JourneyRow.version))
                                    .where(JourneyRow.status == "active")).all()
            known = {(lv.key, lv.version): lv for lv in self._live}
            live = [known.get((k, v)) or Live(parse_journey(json.loads(d), k), v) for k, v, d in found]
            self._live = sorted(live, key=lambda lv: (-lv.journey.priority, lv.key))
            self._live_at = time.monotonic()
        return self._live

    # -- commits -----------------------------------------------------------------------------------
    def _matches(self, m: EventMatch, table: str, rows: pa.Table) -> list[tuple[str, dt.datetime]]:
        """``(person, ts)`` of the batch rows that match ``m`` (the simulation's SQL on the batch)."""
        if m.is_order != (table == "orders"):
            return []
        ts = rows.column("ts")
        lo, hi = pc.min(ts).as_py(), pc.max(ts).as_py()
        if lo is None:
            return []
        self._duck.register(table, rows)
        try:
            return [(str(u), t) for u, t in self._duck.execute(match_sql(m, lo, hi + _US, self.defs)).fetchall()]
        finally:
            self._duck.unregister(table)

    def process(self, table: str, rows: pa.Table) -> None:
        """One committed batch: open absence timers, start entries, cancel timers, advance waits, exits."""
        self.stats.batches += 1
        self.stats.events += rows.num_rows
        for live in self.journeys():
            trig = live.journey.trigger
            if isinstance(trig, EventTrigger):
                found = self._matches(trig.match, table, rows)
                if trig.absent is None:
                    self.enter_many(live, found)
                else:
                    self._open_absence(live, found, trig.absent.within_s)
                    for m in trig.absent.any_of:
                        self._cancel_absence(live, self._matches(m, table, rows))
            for m in live.journey.exit_when:
                self._exits(live, self._matches(m, table, rows))
            self._awaited(live, table, rows)

    def _open_absence(self, live: Live, found: list[tuple[str, dt.datetime]], within_s: int) -> None:
        if not found:
            return
        now = utcnow()
        rows = [{"key": f"{live.key}:absence:{u}:{t.isoformat()}"[:200], "journey_key": live.key, "user_id": u,
                 "kind": "absence", "due_at": t + dt.timedelta(seconds=within_s), "state": "pending",
                 "payload": json.dumps({"t": t.isoformat(), "v": live.version}), "created_at": now}
                for u, t in found]
        self.stats.timers_opened += self._insert_timers(rows)

    def _insert_timers(self, rows: list[dict[str, Any]]) -> int:
        """Insert timer rows; one whose key exists (a replayed commit) is left as it is."""
        if not rows:
            return 0
        keys = [r["key"] for r in rows]
        with self.store.session() as ses:
            have = set(ses.scalars(select(AutomationTimer.key).where(AutomationTimer.key.in_(keys))))
            fresh = [r for r in {r["key"]: r for r in rows}.values() if r["key"] not in have]
            if fresh:
                ses.execute(AutomationTimer.__table__.insert(), fresh)  # type: ignore[attr-defined]
        return len(fresh)

    def _cancel_absence(self, live: Live, found: list[tuple[str, dt.datetime]]) -> None:
        """Cancel each absence timer with a cancelling event in (t, due]; a fired one records it as late."""
        if not found:
            return
        by_user: dict[str, list[dt.datetime]] = {}
        for u, c in found:
            by_user.setdefault(u, []).append(c)
        with self.store.session() as ses:
            timers = ses.scalars(select(AutomationTimer).where(
                AutomationTimer.user_id.in_(list(by_user)), AutomationTimer.journey_key == live.key,
                AutomationTimer.kind == "absence", AutomationTimer.state.in_(("pending", "fired")))).all()
            for timer in timers:
                t = dt.datetime.fromisoformat(json.loads(timer.payload)["t"])
                hits = [c for c in by_user[timer.user_id] if t < c <= timer.due_at]
                if not hits:
                    continue
                if timer.state == "pending":
                    timer.state, timer.fired_at = "cancelled", utcnow()
                    self.stats.timers_cancelled += 1
                elif timer.late_event_at is None:
                    timer.late_event_at = min(hits)
                    self.stats.late_events += 1

    def _exits(self, live: Live, found: list[tuple[str, dt.datetime]]) -> None:
        if not found:
            return
        with self.store.session() as ses:
            for u, c in found:
                entries = ses.scalars(select(JourneyEntryRow).where(
                    JourneyEntryRow.journey_key == live.key, JourneyEntryRow.user_id == u,
                    JourneyEntryRow.state.in_(("active", "waiting")), JourneyEntryRow.entered_at < c)).all()
                for e in entries:
                    e.state, e.updated_at = "exited", utcnow()
                    ses.execute(update(AutomationTimer).where(
                        AutomationTimer.key.like(f"entry:{e.id}:%"), AutomationTimer.state == "pending")
                        .values(state="cancelled", fired_at=utcnow()))

    def _awaited(self, live: Live, table: str, rows: pa.Table) -> None:
        """Entries waiting for an event (a wait step or a goal) that this batch brings: they go on at it."""
        steps = [s for s in live.journey.steps if (isinstance(s, WaitStep) and s.event is not None)
                 or isinstance(s, GoalStep)]
        for step in steps:
            m = step.event
            assert m is not None
            found = self._matches(m, table, rows)
            if not found:
                continue
            users = sorted({u for u, _ in found})
            with self.store.session() as ses:
                timers = ses.scalars(select(AutomationTimer).where(
                    AutomationTimer.user_id.in_(users), AutomationTimer.journey_key == live.key,
                    AutomationTimer.kind.in_(("wait_event", "goal")), AutomationTimer.state == "pending")).all()
                ses.expunge_all()
            for timer in timers:
                p = json.loads(timer.payload)
                if p["step"] != step.id:
                    continue
                since = dt.datetime.fromisoformat(p["since"])
                hits = sorted(c for u, c in found if u == timer.user_id and since < c <= timer.due_at)
                if hits and self._claim(timer.id, "cancelled"):
                    self._resume(live, int(p["entry"]), p["next"], hits[0])

    # -- entries and steps ------------------------------------------------------------------------
    def enter(self, live: Live, user: str, at: dt.datetime, *, holdout: bool = True) -> int | None:
        """A person enters at ``at`` (naive UTC): entry limit, holdout, then the steps. The entry's id or None.
        ``holdout=False``: no control group (a metric trigger's owner is told, not treated)."""
        j = live.journey
        with self.store.session() as ses:
            last = ses.scalar(select(JourneyEntryRow.entered_at).where(
                JourneyEntryRow.journey_key == j.key, JourneyEntryRow.user_id == user)
                .order_by(JourneyEntryRow.entered_at.desc()).limit(1))
            if last is not None and (j.entry_limit is None or at - last < dt.timedelta(seconds=j.entry_limit)):
                self.stats.entry_limit += 1
                return None
            held = holdout and guards.in_holdout(j.key, user, j.holdout)
            row = JourneyEntryRow(journey_key=j.key, version=live.version, user_id=user, entered_at=at, holdout=held,
                                  step=None if held else j.steps[0].id, state="done" if held else "active",
                                  next_at=None, path="[]", updated_at=utcnow())
            ses.add(row)
            ses.flush()
            entry = int(row.id)
        self.stats.entries += 1
        if held:
            self.stats.holdout += 1
            return entry
        self._run(live, entry, j.steps[0].id, at)
        return entry

    def _resume(self, live: Live, entry: int, step_id: str, at: dt.datetime, *, cap_waits: int = 0,
                timed: bool = False) -> None:
        with self.store.session() as ses:
            row = ses.get(JourneyEntryRow, entry)
            if row is None or row.state not in ("active", "waiting"):
                return
            row.state = "active"
        self._run(live, entry, step_id, at, cap_waits=cap_waits, timed=timed)

    def _run(self, live: Live, entry: int, step_id: str, at: dt.datetime, *, cap_waits: int = 0,
             timed: bool = False) -> None:
        """Walk the entry's steps from ``step_id`` at event time ``at`` until it waits or ends (``timed``: the
        first step's wait for the best hour is over)."""
        j = live.journey
        index = {s.id: i for i, s in enumerate(j.steps)}
        path: list[str] = []
        state, waiting_until = "done", None
        current: str = step_id
        with self.store.session() as ses:
            row = ses.get(JourneyEntryRow, entry)
            assert row is not None
            user, entered = row.user_id, row.entered_at
            path = json.loads(row.path)
        while current != END:
            i = index[current]
            step = j.steps[i]
            default = step.next or (j.steps[i + 1].id if i + 1 < len(j.steps) else END)
            if not path or path[-1] != step.id:
                path.append(step.id)
            if isinstance(step, ExitStep):
                state = "exited"
                break
            if isinstance(step, ActionStep):
                if step.at_best_time and not timed:
                    due = sendtime.next_best(at, user, self.best_hours(self.clock()))
                    if due > at:  # wait in a timer for the person's best hour; the step runs again then
                        self._timer(live, entry, step.id, "resume", due, {"next": step.id, "best": True})
                        state, waiting_until = "waiting", due
                        path.pop()
                        break
                verdict = self._act(live, entry, step, user, at, cap_waits=cap_waits)
                if verdict is not None and verdict.state == "wait":
                    assert verdict.retry_at is not None
                    waits = cap_waits + 1 if verdict.reason == "cap" else cap_waits
                    self._timer(live, entry, step.id, "resume", verdict.retry_at,
                                {"next": step.id, "cap_waits": waits, "best": step.at_best_time})
                    state, waiting_until = "waiting", verdict.retry_at
                    path.pop()  # the step runs again when the wait ends
                    break
                cap_waits, timed = 0, False
                current = default
            elif isinstance(step, WaitStep):
                if step.duration is not None:
                    due = at + dt.timedelta(seconds=step.duration)
                    self._timer(live, entry, step.id, "wait", due, {"next": default})
                else:
                    assert step.timeout is not None
                    due = at + dt.timedelta(seconds=step.timeout)
                    self._timer(live, entry, step.id, "wait_event", due,
                                {"next": default, "timeout_next": step.timeout_next, "since": at.isoformat()})
                state, waiting_until = "waiting", due
                break
            elif isinstance(step, GoalStep):
                due = entered + dt.timedelta(seconds=step.within)
                if self._happened(step.event, user, entered, min(at, due)):
                    current = default
                    continue
                self._timer(live, entry, step.id, "goal", due,
                            {"next": default, "timeout_next": END, "since": entered.isoformat()})
                state, waiting_until = "waiting", due
                break
            elif isinstance(step, BranchStep):
                cond = step.if_
                if cond.event is not None:
                    ok = self._happened(EventMatch(event=cond.event, where=cond.where), user, entered, at)
                else:
                    ok = self._attr(cond.attr_filter, user)
                current = step.then if ok else step.else_
            elif isinstance(step, SplitStep):
                name = guards.variant(j.key, step.id, user, [(v.name, v.weight) for v in step.variants])
                current = next(v.next for v in step.variants if v.name == name)
            else:  # pragma: no cover - every step type is handled above
                current = targets(step, j.steps, i)[0][1]
        with self.store.session() as ses:
            row = ses.get(JourneyEntryRow, entry)
            assert row is not None
            if row.state in ("active", "waiting"):
                row.state, row.next_at, row.updated_at = state, waiting_until, utcnow()
                row.step = path[-1] if path else row.step
                row.path = json.dumps(path)

    def _timer(self, live: Live, entry: int, step: str, kind: str, due: dt.datetime, payload: dict[str, Any]) -> None:
        with self.store.session() as ses:
            user = ses.scalar(select(JourneyEntryRow.user_id).where(JourneyEntryRow.id == entry))
        n = 0
        while True:  # a resume of the same step may repeat (each cap wait): a new key each time
            key = f"entry:{entry}:{step}:{kind}:{n}"
            try:
                with self.store.session() as ses:
                    ses.add(AutomationTimer(key=key, journey_key=live.key, user_id=str(user), kind=kind, due_at=due,
                                            state="pending", created_at=utcnow(),
                                            payload=json.dumps({**payload, "entry": entry, "step": step,
                                                                "v": live.version})))
                return
            except IntegrityError:
                n += 1

    def _person(self, user: str) -> actions.Person:
        found = self._people.get(user)
        if found is not None:
            return found
        tz, email, phone = self.rules.timezone, None, None
        if self.reader is not None:
            wh = self._read()
            try:
                rows = wh.rows("SELECT user_id, email, phone, json_extract_string(attributes, '$.timezone') FROM users "
                               "WHERE person_id = ? OR user_id = ? ORDER BY (user_id = ?) DESC LIMIT 1", [user, user, user])
                if rows:
                    from jingyun.warehouse.personal import reveal

                    clear = reveal(wh, [{"user_id": rows[0][0], "email": rows[0][1], "phone": rows[0][2]}],
                                   ["email", "phone"])[0]
                    email, phone = clear.get("email"), clear.get("phone")
                    if rows[0][3] and _is_zone(rows[0][3]):
                        tz = rows[0][3]
            finally:
                wh.close()
        person = actions.Person(user, tz, email, phone)
        if len(self._people) > 100_000:
            self._people.clear()
        self._people[user] = person
        return person

    def _persons(self, users: list[str]) -> dict[str, actions.Person]:
        """:meth:`_person` for a batch: the people not known yet are read in one query."""
        unknown = [u for u in users if u not in self._people]
        if unknown and self.reader is not None:
            from jingyun.warehouse.personal import reveal
            from jingyun.warehouse.sqltext import quote

            listed = ", ".join(quote(u) for u in unknown)
            wh = self._read()
            rows = wh.rows("SELECT person_id, user_id, email, phone, json_extract_string(attributes, '$.timezone') "
                           f"FROM users WHERE person_id IN ({listed}) OR user_id IN ({listed})")
            best: dict[str, tuple[Any, ...]] = {}
            for row in rows:  # a users row whose user_id is the person's own id first, as _person does
                for u in {row[0], row[1]} & set(unknown):
                    if u not in best or row[1] == u:
                        best[u] = row
            clear = {r["user_id"]: r for r in reveal(wh, [{"user_id": r[1], "email": r[2], "phone": r[3]}
                                                          for r in best.values()], ["email", "phone"])} if best else {}
            if len(self._people) + len(unknown) > 100_000:
                self._people.clear()
            for u in unknown:
                row = best.get(u)
                tz = row[4] if row is not None and row[4] and _is_zone(row[4]) else self.rules.timezone
                got = clear.get(row[1], {}) if row is not None else {}
                self._people[u] = actions.Person(u, tz, got.get("email"), got.get("phone"))
        return {u: self._people.get(u) or self._person(u) for u in users}

    def _act(self, live: Live, entry: int, step: ActionStep, user: str, at: dt.datetime, *,
             cap_waits: int = 0) -> actions.Verdict | None:
        key = actions.action_key(live.key, live.version, step.id, user, entry)
        person = self._person(user)
        verdict = actions.guard(self.store, self.rules, live.journey, step, person, at, cap_waits=cap_waits,
                                sent=self._sent_counter(user, None))
        if verdict is not None and verdict.state == "wait":
            return verdict
        row = actions.decide(self.store, key=key, journey=live.journey, version=live.version, step=step, user=user,
                             entry=entry, at=at, state="decided" if verdict is None else verdict.state,
                             reason="" if verdict is None else verdict.reason)
        if row is None:  # decided before: recover() carries out what was left undone
            return None
        if verdict is not None:
            self._count(f"suppressed:{verdict.reason}")
            return verdict
        return self._hand_over(row, step, person)

    def _hand_over(self, row: Any, step: ActionStep, person: actions.Person) -> actions.Verdict:
        """A decided action goes out: on the carrying thread when the runtime runs, else here and now."""
        if step.is_message and step.purpose == "marketing":
            with self._pending_mu:
                self._pending[row.key] = (row.user_id, row.due_at)
        if self._async:
            self._carry.put((row, step, person))
            return actions.Verdict("done")
        return self._carry_out(row, step, person)

    def _carry_out(self, row: Any, step: ActionStep, person: actions.Person) -> actions.Verdict:
        try:
            wh = None
            if self.reader is not None and step.is_message:
                if threading.current_thread().name == "jingyun-automation-send":
                    if self._wh_carry is None:
                        self._wh_carry = _Kept(self.reader())
                    wh = self._wh_carry
                else:
                    wh = self._read()
            done = actions.carry_out(self.store, self.settings, row, step, person, wh=wh, deliver=self.deliver,
                                     now=row.due_at)
        finally:
            with self._pending_mu:
                self._pending.pop(row.key, None)
        self._count(step.channel if done.state == "done" else f"{done.state}:{done.reason.split(':')[0]}")
        return done

    def _sent_counter(self, user: str, log: list[tuple[str, dt.datetime]] | None) -> actions.Sent:
        """The person's marketing messages in [lo, hi): the delivery log (``log`` when the caller read it for a
        batch, else the store) and the decisions not carried out yet, each counted once."""
        def sent(lo: dt.datetime, hi: dt.datetime) -> int:
            from jingyun.store.messages import MessageDelivery

            with self._pending_mu:
                pending = {k: at for k, (u, at) in self._pending.items() if u == user}
            rows = log
            if rows is None:
                with self.store.session() as ses:
                    rows = [(str(k), at) for k, at in ses.execute(select(MessageDelivery.key, MessageDelivery.created_at)
                            .where(MessageDelivery.user_id == user, MessageDelivery.purpose == "marketing",
                                   MessageDelivery.status != "suppressed", MessageDelivery.created_at >= lo,
                                   MessageDelivery.created_at < hi))]
            n = sum(1 for k, at in rows if lo <= at < hi and k not in pending)
            return n + sum(1 for at in pending.values() if lo <= at < hi)
        return sent

    # -- a batch of immediate entries, decided in one store transaction -----------------------------
    def enter_many(self, live: Live, found: list[tuple[str, dt.datetime]], *, timers: list[int] | None = None) -> int:
        """People entering at once (an event trigger without absence): the entry limit read once for the batch,
        consent and the delivery log read once for its people, every entry and decision row written in one
        transaction; the sends are carried out after it. A step other than an action (a wait, a branch...) or a
        send that must wait (quiet hours, ``on_cap: wait``) continues one entry at a time from there.

        ``timers`` (one per item of ``found``): the absence timers these entries fire; they are claimed
        (pending → fired) in the same transaction, and only the ones claimed here enter, so a timer fires once
        and a crash leaves either the timer pending or its entry and decisions written. Returns the number of
        timers claimed (of ``found`` without timers)."""
        if not found:
            return 0
        j = live.journey
        order = sorted(range(len(found)), key=lambda k: found[k][1])
        tids: list[int | None] = [timers[k] for k in order] if timers is not None else [None] * len(found)
        found = [found[k] for k in order]
        users = sorted({u for u, _ in found})
        people = self._persons(users)
        index = {s.id: i for i, s in enumerate(j.steps)}
        marketing = {(str(s.channel), str(s.purpose)) for s in j.steps if isinstance(s, ActionStep) and s.is_message
                     and s.purpose == "marketing"}
        consented = self._consents(users, marketing)
        logs = self._delivery_log(users, found[0][1] - dt.timedelta(days=8), found[-1][1] + dt.timedelta(days=8)) \
            if marketing else {}
        later: list[tuple[int, str, dt.datetime]] = []
        out: list[tuple[Any, ActionStep, actions.Person]] = []
        now = utcnow()
        claimed = len(found)
        with self.store.session() as ses:
            if timers is not None:
                got = set(ses.scalars(update(AutomationTimer).where(
                    AutomationTimer.id.in_(timers), AutomationTimer.state == "pending")
                    .values(state="fired", fired_at=now).returning(AutomationTimer.id)
                    .execution_options(synchronize_session=False)))
                found = [f for f, tid in zip(found, tids, strict=True) if tid in got]
                claimed = len(got)
            last: dict[str, dt.datetime] = {str(u): t for u, t in ses.execute(
                select(JourneyEntryRow.user_id, func.max(JourneyEntryRow.entered_at)).where(
                    JourneyEntryRow.journey_key == j.key, JourneyEntryRow.user_id.in_(users))
                .group_by(JourneyEntryRow.user_id))}
            decided: dict[str, list[tuple[str, dt.datetime]]] = {}
            entries: list[dict[str, Any]] = []
            steps_of: list[list[tuple[ActionStep, actions.Verdict | None]]] = []
            for u, at in found:  # decide first (nothing here needs the entry's id), write after
                prev = last.get(u)
                if prev is not None and (j.entry_limit is None or at - prev < dt.timedelta(seconds=j.entry_limit)):
                    self.stats.entry_limit += 1
                    continue
                last[u] = at
                held = guards.in_holdout(j.key, u, j.holdout)
                self.stats.entries += 1
                walked: list[tuple[ActionStep, actions.Verdict | None]] = []
                current = END if held else j.steps[0].id
                person, log_u = people[u], logs.get(u, [])
                while current != END:
                    i = index[current]
                    step = j.steps[i]
                    if not isinstance(step, ActionStep) or step.at_best_time:  # a wait: one entry at a time
                        break
                    verdict = actions.guard(self.store, self.rules, j, step, person, at,
                                            consented=consented.get((u, step.channel, step.purpose), True),
                                            sent=self._sent_counter(u, log_u + decided.get(u, [])))
                    if verdict is not None and verdict.state == "wait":
                        break
                    if verdict is None and step.is_message and step.purpose == "marketing":
                        decided.setdefault(u, []).append(("~batch~", at))
                    walked.append((step, verdict))
                    current = step.next or (j.steps[i + 1].id if i + 1 < len(j.steps) else END)
                path = [st.id for st, _ in walked]
                ended = current == END
                if held:
                    self.stats.holdout += 1
                entries.append({"journey_key": j.key, "version": live.version, "user_id": u, "entered_at": at,
                                "holdout": held, "step": None if held else (path[-1] if ended and path else current),
                                "state": "done" if ended else "active", "next_at": None, "path": json.dumps(path),
                                "updated_at": now, "_go_on": None if ended else current})
                steps_of.append(walked)
            if not entries:
                return claimed
            ids = list(ses.scalars(insert(JourneyEntryRow).returning(JourneyEntryRow.id, sort_by_parameter_order=True),
                                   [{k: v for k, v in e.items() if k != "_go_on"} for e in entries]))
            acts: list[dict[str, Any]] = []
            for entry, e, walked in zip(ids, entries, steps_of, strict=True):
                if e["_go_on"] is not None:
                    later.append((int(entry), e["_go_on"], e["entered_at"]))
                for step, verdict in walked:
                    acts.append({"key": actions.action_key(j.key, live.version, step.id, e["user_id"], int(entry)),
                                 "journey_key": j.key, "version": live.version, "step": step.id,
                                 "user_id": e["user_id"], "entry_id": int(entry), "channel": step.channel,
                                 "purpose": step.purpose if step.is_message else "service",
                                 "state": "decided" if verdict is None else verdict.state,
                                 "reason": "" if verdict is None else verdict.reason, "ref": "",
                                 "due_at": e["entered_at"], "decided_at": now,
                                 "done_at": None if verdict is None else now})
                    if verdict is not None:
                        self._count(f"suppressed:{verdict.reason}")
            if acts:
                act_ids = list(ses.scalars(insert(actions.AutomationAction).returning(
                    actions.AutomationAction.id, sort_by_parameter_order=True), acts))
                by_key = {a["key"]: (a, k) for a, k in zip(acts, act_ids, strict=True)}
                for entry, e, walked in zip(ids, entries, steps_of, strict=True):
                    for step, verdict in walked:
                        if verdict is None:
                            a, k = by_key[actions.action_key(j.key, live.version, step.id, e["user_id"], int(entry))]
                            out.append((actions.AutomationAction(id=k, **a), step, people[e["user_id"]]))
        for act, step, person in out:
            self._hand_over(act, step, person)
        for entry, step_id, at in later:
            self._run(live, entry, step_id, at)
        return claimed

    def _consents(self, users: list[str], kinds: set[tuple[str, str]]) -> dict[tuple[str, str, str], bool]:
        """Consent of a batch's people for the journey's marketing messages: the people with a consent record
        ask the messaging rule; the rest share the rule's answer for "no record"."""
        if not kinds:
            return {}
        from jingyun.messaging import consent
        from jingyun.store.messages import MessageConsent

        # The batch's consent records in one query, read by messaging's rule (consent.decision: the channel's
        # record wins over the all-channels one '*'; neither: the answer for "no record").
        records: dict[tuple[str, str], dict[str, bool]] = {}
        with self.store.session() as ses:
            for subject, purpose, chan, granted in ses.execute(
                    select(MessageConsent.subject, MessageConsent.purpose, MessageConsent.channel,
                           MessageConsent.granted).where(MessageConsent.subject.in_(users))):
                records.setdefault((str(subject), str(purpose)), {})[str(chan)] = bool(granted)
        out: dict[tuple[str, str, str], bool] = {}
        for channel, purpose in kinds:
            seen = self._nobody.get((channel, purpose))
            if seen is None or time.monotonic() - seen[1] > 60:  # the rule for "no record" (settings), re-read each minute
                seen = (consent.allowed(self.store, "~no-consent-record~", channel=channel, purpose=purpose),
                        time.monotonic())
                self._nobody[(channel, purpose)] = seen
            nobody = seen[0]
            for u in users:
                rec = records.get((u, purpose), {})
                said = rec.get(channel, rec.get(consent.ANY_CHANNEL))
                out[(u, channel, purpose)] = nobody if said is None else said
        return out

    def _delivery_log(self, users: list[str], lo: dt.datetime, hi: dt.datetime
                      ) -> dict[str, list[tuple[str, dt.datetime]]]:
        from jingyun.store.messages import MessageDelivery

        out: dict[str, list[tuple[str, dt.datetime]]] = {}
        with self.store.session() as ses:
            for u, k, at in ses.execute(select(MessageDelivery.user_id, MessageDelivery.key, MessageDelivery.created_at)
                                        .where(MessageDelivery.user_id.in_(users),
                                               MessageDelivery.purpose == "marketing",
                                               MessageDelivery.status != "suppressed",
                                               MessageDelivery.created_at >= lo, MessageDelivery.created_at < hi)):
                out.setdefault(str(u), []).append((str(k), at))
        return out

    def _count(self, what: str) -> None:
        self.stats.actions[what] = self.stats.actions.get(what, 0) + 1

    def _happened(self, m: EventMatch, user: str, lo: dt.datetime, hi: dt.datetime) -> bool:
        """Did ``user`` do ``m`` in (lo, hi] (the warehouse; False without one)."""
        if self.reader is None or hi <= lo:
            return False
        wh = self._read()
        try:
            sql = (f"SELECT count(*) FROM ({match_sql(m, lo + _US, hi + _US, self.defs)}) r "
                   f"WHERE u = ?")
            return bool(wh.rows(sql, [user])[0][0])
        finally:
            wh.close()

    def _attr(self, flt: Any, user: str) -> bool:
        if self.reader is None:
            return False
        wh = self._read()
        try:
            col = flt.field
            from jingyun.schema.tables import get_table
            from jingyun.warehouse.sqltext import json_key

            names = {c.name for c in get_table("users").columns}
            expr = flt.sql(col) if col in names else flt.json_sql(
                f"json_extract_string(attributes, '$.{json_key(col)}')")
            return bool(wh.rows(f"SELECT count(*) FROM users WHERE person_id = ? AND {expr}", [user])[0][0])
        finally:
            wh.close()

    # -- timers ------------------------------------------------------------------------------------
    def _claim(self, timer_id: int, to: str) -> bool:
        """Move a pending timer to ``to`` once (False when someone else did)."""
        with self.store.session() as ses:
            res = ses.execute(update(AutomationTimer).where(AutomationTimer.id == timer_id,
                                                            AutomationTimer.state == "pending")
                              .values(state=to, fired_at=utcnow()))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def tick(self, now: dt.datetime | None = None) -> int:
        """Fire every timer due by ``now`` (the clock's), in (due, priority) order; run the scheduled triggers."""
        now = now or self.clock()
        with self._mu:
            fired = 0
            live = {lv.key: lv for lv in self.journeys(fresh=True)}
            while True:
                with self.store.session() as ses:
                    due = ses.scalars(select(AutomationTimer).where(
                        AutomationTimer.state == "pending", AutomationTimer.due_at <= now)
                        .order_by(AutomationTimer.due_at, AutomationTimer.id).limit(FIRE_BATCH)).all()
                    ses.expunge_all()
                if not due:
                    break
                prio = {k: lv.journey.priority for k, lv in live.items()}
                due = sorted(due, key=lambda t: (t.due_at, -prio.get(t.journey_key, 0), t.journey_key, t.id))
                cancelled = self._cancelled_at_fire(live, [t for t in due if t.kind == "absence"])
                self._set_aside(live, due, cancelled)
                run: list[AutomationTimer] = []  # consecutive absence timers of one journey: entered as one batch
                for timer in due:
                    lv = live.get(timer.journey_key)
                    if lv is None or timer.id in cancelled:
                        continue
                    if run and (timer.kind != "absence" or run[0].journey_key != timer.journey_key):
                        fired += self._fire_absences(live[run[0].journey_key], run)
                        run = []
                    if timer.kind == "absence":
                        run.append(timer)
                        continue
                    if not self._claim(timer.id, "fired"):
                        continue
                    fired += 1
                    self._fire(lv, timer)
                if run:
                    fired += self._fire_absences(live[run[0].journey_key], run)
            self._scheduled(live, now)
            return fired

    def _set_aside(self, live: dict[str, Live], due: list[AutomationTimer], cancelled: set[int]) -> None:
        """A batch's timers of paused journeys (they wait for it to come back) and those cancelled at the fire,
        in one store transaction."""
        paused = [t.id for t in due if t.journey_key not in live]
        dropped = [t.id for t in due if t.journey_key in live and t.id in cancelled]
        if not paused and not dropped:
            return
        now = utcnow()
        with self.store.session() as ses:
            for ids, to in ((paused, "paused"), (dropped, "cancelled")):
                if ids:
                    res = ses.execute(update(AutomationTimer).where(AutomationTimer.id.in_(ids),
                                                                    AutomationTimer.state == "pending")
                                      .values(state=to, fired_at=now).execution_options(synchronize_session=False))
                    if to == "cancelled":
                        self.stats.timers_cancelled += int(res.rowcount)  # type: ignore[attr-defined]

    def _fire_absences(self, live: Live, timers: list[AutomationTimer]) -> int:
        """Due absence timers of one journey, in due order: their people enter at the due times as one batch —
        the timers claimed, the entries and decisions written in one store transaction (:meth:`enter_many`)."""
        return self.enter_many(live, [(t.user_id, t.due_at) for t in timers], timers=[t.id for t in timers])

    def _fire(self, live: Live, timer: AutomationTimer) -> None:
        p = json.loads(timer.payload)
        if timer.kind == "absence":
            self.enter(live, timer.user_id, timer.due_at)
        elif timer.kind in ("wait", "resume"):
            self._resume(live, int(p["entry"]), p["next"], timer.due_at, cap_waits=int(p.get("cap_waits", 0)),
                         timed=bool(p.get("best")))
        else:  # wait_event / goal timed out
            if p["timeout_next"] == END:
                with self.store.session() as ses:
                    row = ses.get(JourneyEntryRow, int(p["entry"]))
                    if row is not None and row.state in ("active", "waiting"):
                        row.state, row.next_at, row.updated_at = "done", None, utcnow()
                return
            self._resume(live, int(p["entry"]), p["timeout_next"], timer.due_at)

    def _cancelled_at_fire(self, live: dict[str, Live], timers: list[AutomationTimer]) -> set[int]:
        """Absence timers with a cancelling event stored in (t, due] (one that arrived before its trigger)."""
        if self.reader is None or not timers:
            return set()
        out: set[int] = set()
        for key in {t.journey_key for t in timers}:
            lv = live.get(key)
            trig = lv.journey.trigger if lv else None
            if not isinstance(trig, EventTrigger) or trig.absent is None:
                continue
            mine = [t for t in timers if t.journey_key == key]
            starts = {t.id: dt.datetime.fromisoformat(json.loads(t.payload)["t"]) for t in mine}
            lo, hi = min(starts.values()), max(t.due_at for t in mine)
            users = sorted({t.user_id for t in mine})
            wh = self._read()
            try:
                wh.con.register("_live_users", pa.table({"u": pa.array(users, pa.string())}))
                rows: list[tuple[str, dt.datetime]] = []
                for m in trig.absent.any_of:
                    rows += wh.rows(f"SELECT u, ts FROM ({match_sql(m, lo + _US, hi + _US, self.defs)}) r "
                                    "WHERE u IN (SELECT u FROM _live_users)")
            finally:
                wh.con.unregister("_live_users")
                wh.close()
            seen: dict[str, list[dt.datetime]] = {}
            for u, c in rows:
                seen.setdefault(str(u), []).append(c)
            for t in mine:
                if any(starts[t.id] < c <= t.due_at for c in seen.get(t.user_id, ())):
                    out.add(t.id)
        return out

    # -- segment, date and schedule triggers --------------------------------------------------------
    def _scheduled(self, live: dict[str, Live], now: dt.datetime) -> None:
        """Entries of non-event triggers with fire times in [cursor, now), at most every SCHEDULED_EVERY_S."""
        if self.reader is None or (time.monotonic() - self._scheduled_at < SCHEDULED_EVERY_S and self._scheduled_at):
            return
        self._scheduled_at = time.monotonic()
        for lv in live.values():
            if isinstance(lv.journey.trigger, MetricTrigger):
                self._metric(lv, lv.journey.trigger, now)
                continue
            if isinstance(lv.journey.trigger, EventTrigger):
                continue
            start = self._cursor(lv.key, now)
            if start >= now:
                continue
            wh = self._read()

            def run(sql: str, w: Any = wh) -> pd.DataFrame:
                return _frame(w, sql)

            def has_table(name: str, w: Any = wh) -> bool:
                return bool(w.rows("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name])[0][0])

            try:
                found = candidates(lv.journey.trigger, start, now, run=run, defs=self.defs, tz_of=self._zones,
                                   workspace_tz=self.rules.timezone, has_table=has_table)
            finally:
                wh.close()
            for u, fire in sorted(zip(found.frame["u"], found.frame["fire"], strict=True), key=lambda x: x[1]):
                self.enter(lv, str(u), pd.Timestamp(fire).to_pydatetime())
            self._cursor(lv.key, now, move=True)

    def _metric(self, lv: Live, trig: MetricTrigger, now: dt.datetime) -> None:
        """The metric condition at the latest cron fire in ``[cursor, now)`` (missed checks coalesce); the
        journey is entered at that fire when the condition went false → true. The answer is kept in the store
        (row ``metric:<journey>``), so a restart does not fire again while it still holds."""
        start = self._cursor(lv.key, now)
        fires = cron_fires(trig.cron, start, now, self.rules.timezone) if start < now else []
        if not fires:
            return
        from jingyun.metrics.dictionary import load_dictionary

        at = fires[-1]
        got = metric_watch.check(self._engine(), load_dictionary(self.settings), trig, at,
                                 self.rules.timezone)
        name = f"metric:{lv.key}"
        with self.store.session() as ses:
            row = ses.scalar(select(AutomationTimer).where(AutomationTimer.key == name))
            was = row is not None and row.state == "true"
            state = "error" if got.error else ("true" if got.holds else "false")
            if got.error:
                log.warning("automation: metric trigger of %s: %s", lv.key, got.error)
            payload = json.dumps({**got.payload(), "was": was}, default=str)
            if row is None:
                row = AutomationTimer(key=name, journey_key=lv.key, user_id=trig.subject, kind="metric", due_at=at,
                                      state=state, payload=payload, created_at=utcnow())
                ses.add(row)
            elif not got.error:
                row.state, row.due_at, row.payload = state, at, payload
            else:  # the last answer stands; the error is kept next to it
                row.payload = json.dumps({**json.loads(row.payload), "error": got.error, "error_at": at.isoformat()})
            if got.holds and not was:
                row.fired_at = at  # the last false → true
        if got.holds and not was:
            self.stats.actions["metric_fired"] = self.stats.actions.get("metric_fired", 0) + 1
            self.enter(lv, trig.subject, at, holdout=False)
        self._cursor(lv.key, now, move=True)

    def _zones(self, users: pd.Series) -> pd.Series:
        return users.map(lambda u: self._person(str(u)).tz).astype(str)

    def _cursor(self, key: str, now: dt.datetime, *, move: bool = False) -> dt.datetime:
        """Where a journey's scheduled triggers were read up to (a ``cursor`` row; the first read starts now)."""
        name = f"cursor:{key}"
        with self.store.session() as ses:
            row = ses.scalar(select(AutomationTimer).where(AutomationTimer.key == name))
            if row is None:
                ses.add(AutomationTimer(key=name, journey_key=key, user_id="", kind="cursor", due_at=now,
                                        state="cursor", payload="{}", created_at=utcnow()))
                return now
            if move:
                row.due_at = now
            return row.due_at

    # -- restart -----------------------------------------------------------------------------------
    def recover(self) -> int:
        """Carry out every action decided but not done (the runtime stopped between deciding and sending)."""
        done = 0
        with self._mu:
            live = {lv.key: lv for lv in self.journeys(fresh=True)}
            for row in actions.decided_rows(self.store):
                lv = live.get(row.journey_key)
                journey = lv.journey if lv and lv.version == row.version else self._version(row.journey_key, row.version)
                if journey is None:
                    continue
                step = journey.step(row.step)
                assert isinstance(step, ActionStep)
                actions.carry_out(self.store, self.settings, row, step, self._person(row.user_id),
                                  deliver=self.deliver, now=row.due_at)
                done += 1
        return done

    def _version(self, key: str, version: int) -> Journey | None:
        with self.store.session() as ses:
            text = ses.scalar(select(JourneyVersionRow.definition).join(
                JourneyRow, JourneyRow.id == JourneyVersionRow.journey_id).where(
                JourneyRow.key == key, JourneyVersionRow.version == version))
        return parse_journey(json.loads(text), key) if text else None


class _Kept:
    """The runtime's reused read connection: ``close()`` by a caller keeps it open."""

    def __init__(self, wh: Any):
        self.wh = wh
        self.con = wh.con
        self.settings = wh.settings

    def rows(self, sql: str, params: Any = None) -> Any:
        return self.wh.rows(sql, params)

    def arrow(self, sql: str, params: Any = None) -> Any:
        return self.wh.arrow(sql, params)

    def close(self) -> None:
        return None


def _is_zone(name: str) -> bool:
    try:
        guards._zone(name)
    except (KeyError, ValueError, OSError):
        return False
    return True


def _frame(wh: Any, sql: str) -> pd.DataFrame:
    frame = wh.arrow(sql).to_pandas()
    for col in frame.columns:
        if col == "u":
            frame[col] = frame[col].astype(str)
        elif pd.api.types.is_datetime64_any_dtype(frame[col]):
            frame[col] = frame[col].astype("datetime64[us]")
    return frame


def percentiles(samples: Any, qs: tuple[float, ...] = (0.5, 0.99)) -> dict[float, float]:
    """Latency quantiles weighted by events (each event of a batch waited the batch's latency)."""
    pairs = sorted(samples)
    total = sum(n for _, n in pairs)
    out: dict[float, float] = {}
    for q in qs:
        need, acc = q * total, 0
        for lat, n in pairs:
            acc += n
            if acc >= need:
                out[q] = lat
                break
    return out


__all__ = ["Clock", "Live", "Runtime", "Stats", "activation", "percentiles", "ts_literal"]
