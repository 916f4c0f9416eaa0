"""Simulation on history (历史回放): replay stored events in event time through journeys; send nothing.

Several journeys simulate together, because the guard rails are shared: caps and priority
arbitration decide between journeys competing for the same person's day.

1. Entries (:mod:`jingyun.automation.entries`): one portable query per trigger, fire times in
   ``[--from 00:00, --to + 1 day 00:00)`` of the workspace zone.
2. Entry limits, then the holdout (both :mod:`jingyun.automation.guards`). Holdout entries count as
   entered (they are the control group the report compares against) and walk no step.
3. The walk, step by step in list order over *all* entries at that step at once (pandas; event
   lookups are ``merge_asof`` on the person's matching events): wait, wait for an event (first match
   in (t, t + timeout]), branch, split (hashing), action (a candidate send), goal (reached when the
   goal happens in (entered, entered + within]), exit; ``exit_when`` takes a person out as soon as
   one of its events happens after entering (a step due at or after it is not reached).
   An action ``at: best_time`` moves the entry's time to the person's next best hour first (the
   runtime's timer): the send and every later step happen then.
4. Every candidate message goes through :func:`jingyun.automation.guards.arbitrate` in time order.
   A send held back does not delay the person's later steps.

Counts: ``entered`` is entries (a person may enter again after the entry limit), ``steps[].users``
the entries that reached each step, ``actions`` the sends that passed the guards by channel, and
``suppressed`` what the guards held back (entries for ``entry_limit`` and ``holdout``, sends for
``cap``, ``quiet_hours`` and ``unsubscribed``).
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa

from jingyun.automation import guards, sendtime
from jingyun.automation.entries import candidates, match_sql
from jingyun.automation.journey import (
    END,
    ActionStep,
    BranchStep,
    ExitStep,
    GoalStep,
    Journey,
    SplitStep,
    WaitStep,
    targets,
)
from jingyun.automation.rules import DateTrigger, EventMatch
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED as SHIPPED_DEFINITIONS
from jingyun.metrics.definitions import Definitions
from jingyun.schema.tables import USERS
from jingyun.warehouse.filters import Filter
from jingyun.warehouse.personal import BIRTH_DATE_SQL
from jingyun.warehouse.sqltext import json_key, ts_literal, utc_start

SUPPRESSED = ("cap", "quiet_hours", "unsubscribed", "holdout", "entry_limit")
_USER_COLUMNS = {c.name for c in USERS.columns}


@dataclass(frozen=True)
class StepCount:
    id: str
    users: int


class EntryPath(NamedTuple):  # a tuple: hundreds of thousands are built per simulation
    user_id: str
    entered_at: dt.datetime  # aware, workspace zone
    path: tuple[str, ...]


@dataclass
class SimulationResult:
    journey: str
    entered: int
    steps: list[StepCount]
    actions: dict[str, int]
    suppressed: dict[str, int]
    users: list[EntryPath] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)
    sends: pd.DataFrame | None = None  # every candidate send with its outcome (tests, the report)

    def to_dict(self, *, with_users: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "journey": self.journey, "entered": self.entered,
            "steps": [{"id": s.id, "users": s.users} for s in self.steps],
            "actions": dict(self.actions), "suppressed": dict(self.suppressed),
        }
        if with_users:
            out["users"] = [{"user_id": p.user_id, "entered_at": p.entered_at.isoformat(), "path": list(p.path)}
                            for p in self.users]
        return out


def frame_bounds(date_from: dt.date, date_to: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    if date_to < date_from:
        raise JingyunError("bad_date", f"--to {date_to} is before --from {date_from}", "to")
    return utc_start(date_from, tz), utc_start(date_to + dt.timedelta(days=1), tz)


class _Context:
    """The warehouse side of a simulation: queries, recipients' zones, cached event rows."""

    def __init__(self, backend: Any, workspace_tz: str, defs: Definitions):
        self.backend = backend
        self.tz = workspace_tz
        self.defs = defs
        self.sql: list[str] = []
        self._zones: pd.Series | None = None
        self._rows: dict[str, pd.DataFrame] = {}
        self.lo: dt.datetime | None = None  # the widest span any journey looks up (set before the walks)
        self.hi: dt.datetime | None = None

    def run(self, sql: str) -> pd.DataFrame:
        self.sql.append(sql)
        table = self.backend.run(sql)
        frame = table.to_pandas()
        for col in frame.columns:
            if col in ("u",):
                if not pa.types.is_string(table.schema.field(col).type):  # text already arrives as str
                    frame[col] = frame[col].astype(str)
            elif pd.api.types.is_datetime64_any_dtype(frame[col]):
                frame[col] = frame[col].astype("datetime64[us]")
        return frame

    def has_table(self, name: str) -> bool:
        check = getattr(self.backend, "has_table", None)
        return bool(check(name)) if check else True

    def zones(self, users: pd.Series) -> pd.Series:
        """Each person's time zone: ``users.attributes.timezone`` when it names a zone, else the workspace's."""
        if self._zones is None:
            found = self.run("SELECT person_id AS u, max(json_extract_string(attributes, '$.timezone')) AS tz "
                             "FROM users WHERE person_id IS NOT NULL GROUP BY person_id")
            found = found[found["tz"].notna()]
            valid = {z for z in found["tz"].unique() if _is_zone(str(z))}
            found = found[found["tz"].isin(valid)]
            self._zones = pd.Series(found["tz"].to_numpy(), index=found["u"].to_numpy())
        codes, uniq = pd.factorize(users.astype(str))
        found = self._zones.reindex(uniq).to_numpy(dtype=object)
        own = np.where(pd.isna(found), self.tz, found).astype(object)
        return pd.Series(own[codes] if len(codes) else np.array([], dtype=object), index=users.index, dtype=object)

    def rows(self, m: EventMatch, people: str, lo: dt.datetime, hi: dt.datetime) -> pd.DataFrame:
        """``(u, ts)`` of matching events in ``[lo, hi)``, sorted by time: one scan per match, shared by every
        journey and step that looks it up (``people`` is kept for the signature; the lookups by person do the
        narrowing, so the entry query is not computed a second time as a semi-join)."""
        key = repr(m)
        lo, hi = min(lo, self.lo or lo), max(hi, self.hi or hi)
        if key not in self._rows:
            frame = self.run(match_sql(m, lo, hi, self.defs))
            self._rows[key] = frame.sort_values("ts", kind="stable").reset_index(drop=True)
        return self._rows[key]


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


def _first_after(df: pd.DataFrame, col: str, events: pd.DataFrame, within_s: int | None,
                 since: str | None = None) -> pd.Series:
    """For each row, the person's first event strictly after ``df[col]`` (within ``within_s`` when given;
    NaT where none). ``since`` instead looks *backwards*: the last event at or before ``df[col]`` and
    strictly after ``df[since]``."""
    if df.empty:
        return pd.Series(pd.NaT, index=df.index, dtype="datetime64[us]")
    left = df[["u", col] + ([since] if since else [])].copy()
    left["_row"] = np.arange(len(left))
    left = left.sort_values(col, kind="stable")
    right = events.rename(columns={"ts": "_ev"})
    merged = pd.merge_asof(left, right, left_on=col, right_on="_ev", by="u",
                           direction="backward" if since else "forward", allow_exact_matches=bool(since))
    found = merged["_ev"]
    if since:
        found = found.where(found > merged[since])
    elif within_s is not None:
        found = found.where(found <= merged[col] + pd.Timedelta(seconds=within_s))
    out = pd.Series(found.to_numpy(), index=merged["_row"].to_numpy()).sort_index()
    return pd.Series(out.to_numpy(), index=df.index, dtype="datetime64[us]")


def _horizon(journey: Journey) -> int:
    total = 0
    for s in journey.steps:
        if isinstance(s, ActionStep) and s.at_best_time:
            total += 86400  # the wait for the best hour: under a day
        total += (getattr(s, "duration", None) or 0) + (getattr(s, "timeout", None) or 0) + (getattr(s, "within", None)
                                                                                             or 0)
    return total


def _lookback(journey: Journey) -> int:
    """How far before the first day an inactivity rule reads (its window), in seconds."""
    trig = journey.trigger
    as_event = trig.as_event() if isinstance(trig, DateTrigger) else trig
    absent = getattr(as_event, "absent", None)
    return int(absent.within_s) + 86400 if absent is not None else 0


def _attr_ok(ctx: _Context, flt: Filter, people: str) -> set[str]:
    """People at least one of whose users rows matches an attribute condition (a column or an attribute key)."""
    if flt.field == "birth_date":
        expr, pred = BIRTH_DATE_SQL, flt.sql(BIRTH_DATE_SQL)
    elif flt.field in _USER_COLUMNS:
        expr = flt.field
        pred = flt.sql(expr)
    else:
        expr = f"json_extract_string(attributes, '$.{json_key(flt.field)}')"
        pred = flt.json_sql(expr)
    found = ctx.run(f"SELECT DISTINCT person_id AS u FROM users WHERE person_id IS NOT NULL AND {pred}")
    return set(found["u"])


def _best_times(df: pd.DataFrame, best: sendtime.BestHours) -> pd.Series:
    """Each row's next start of the person's best local hour at or after ``t``."""
    moved = [sendtime.next_best(pd.Timestamp(t).to_pydatetime(), str(u), best)
             for u, t in zip(df["u"].tolist(), df["t"].tolist(), strict=True)]
    return pd.Series(moved, index=df.index, dtype="datetime64[us]")


def _walk(ctx: _Context, journey: Journey, entries: pd.DataFrame, people: str, lo: dt.datetime, hi: dt.datetime,
          best: sendtime.BestHours | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Visits ``(entry, step, order)`` and candidate sends ``(entry, u, step, channel, purpose, due)``."""
    visits: list[pd.DataFrame] = []
    sends: list[pd.DataFrame] = []
    frame = entries[["entry", "u", "entered"]].copy()
    frame["t"] = frame["entered"]
    frame["exit_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
    for m in journey.exit_when:
        found = _first_after(frame, "entered", ctx.rows(m, people, lo, hi), None)
        frame["exit_at"] = pd.concat([frame["exit_at"], found], axis=1).min(axis=1).astype("datetime64[us]")
    inbox: dict[str, list[pd.DataFrame]] = {journey.steps[0].id: [frame]} if not frame.empty else {}
    for order, step in enumerate(journey.steps):
        parts = [p for p in inbox.pop(step.id, []) if not p.empty]
        if not parts:
            continue
        df = pd.concat(parts, ignore_index=True)
        df = df[~(df["exit_at"].notna() & (df["exit_at"] <= df["t"]))]
        route: list[tuple[str, pd.DataFrame]] = []
        nxt = dict(targets(step, journey.steps, order)).get("next", END)
        if isinstance(step, GoalStep):
            hit = _first_after(df.assign(_from=df["entered"]), "_from", ctx.rows(step.event, people, lo, hi),
                               step.within)
            df = df[hit.notna()].assign(t=np.maximum(df["t"][hit.notna()], hit[hit.notna()]))
        if isinstance(step, ActionStep) and step.at_best_time and best is not None and not df.empty:
            # the person waits at the step for their best hour (as the runtime's timer does): an exit meanwhile
            # means the step is never reached; the send and every later step happen at that hour
            df = df.assign(t=_best_times(df, best))
            df = df[~(df["exit_at"].notna() & (df["exit_at"] <= df["t"]))]
        if df.empty:
            continue
        visits.append(pd.DataFrame({"entry": df["entry"].to_numpy(), "step": step.id, "order": order}))
        if isinstance(step, WaitStep):
            if step.duration is not None:
                route.append((nxt, df.assign(t=df["t"] + pd.Timedelta(seconds=step.duration))))
            else:
                assert step.event is not None and step.timeout is not None
                hit = _first_after(df, "t", ctx.rows(step.event, people, lo, hi), step.timeout)
                route.append((nxt, df[hit.notna()].assign(t=hit[hit.notna()])))
                late = df[hit.isna()]
                route.append((step.timeout_next, late.assign(t=late["t"] + pd.Timedelta(seconds=step.timeout))))
        elif isinstance(step, BranchStep):
            cond = step.if_
            if cond.event is not None:
                m = EventMatch(event=cond.event, where=cond.where)
                ok = _first_after(df, "t", ctx.rows(m, people, lo, hi), None, since="entered").notna()
            else:
                ok = df["u"].isin(_attr_ok(ctx, cond.attr_filter, people))
            route += [(step.then, df[ok]), (step.else_, df[~ok])]
        elif isinstance(step, SplitStep):
            weights = [(v.name, v.weight) for v in step.variants]
            chosen = pd.Series(guards.variants_of(journey.key, step.id, df["u"].to_numpy(dtype=object), weights),
                               index=df.index)
            route += [(v.next, df[chosen == v.name]) for v in step.variants]
        elif isinstance(step, ActionStep):
            sends.append(pd.DataFrame({"entry": df["entry"].to_numpy(), "u": df["u"].to_numpy(), "step": step.id,
                                       "channel": step.channel, "purpose": step.purpose,
                                       "message": step.is_message, "due": df["t"].to_numpy()}))
            route.append((nxt, df))
        elif isinstance(step, GoalStep):
            route.append((nxt, df))
        elif isinstance(step, ExitStep):
            pass
        for target, part in route:
            if target != END and not part.empty:
                inbox.setdefault(target, []).append(part)
    empty_visits = pd.DataFrame({"entry": pd.Series(dtype=int), "step": pd.Series(dtype=str),
                                 "order": pd.Series(dtype=int)})
    empty_sends = pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
        ("entry", int), ("u", str), ("step", str), ("channel", str), ("purpose", str), ("message", bool),
        ("due", "datetime64[us]"))})
    return (pd.concat(visits, ignore_index=True) if visits else empty_visits,
            pd.concat(sends, ignore_index=True) if sends else empty_sends)


def _paths(journey: Journey, entries: pd.DataFrame, visits: pd.DataFrame, offset_tz: ZoneInfo) -> list[EntryPath]:
    """Each entry's path, ordered by (entered, person): steps run in list order, so a path is the set of step
    orders an entry visited — one bit mask per entry, turned into step ids once per distinct mask."""
    wide = len(journey.steps) > 62  # more steps than an int64 has bits: Python integers
    mask = np.zeros(len(entries), dtype=object if wide else np.int64)
    if len(visits):
        bits = [1 << int(k) for k in visits["order"].tolist()] if wide else np.left_shift(
            1, visits["order"].to_numpy(dtype=np.int64))
        np.bitwise_or.at(mask, visits["entry"].to_numpy(dtype=np.int64), np.asarray(bits, dtype=mask.dtype))
    ids = [s.id for s in journey.steps]
    uniq, inverse = np.unique(mask, return_inverse=True)
    named = [tuple(ids[k] for k in range(len(ids)) if int(m) >> k & 1) for m in uniq.tolist()]
    at = entries["entered"].to_numpy(dtype="datetime64[us]")
    users = entries["u"].to_numpy(dtype=object)
    order = np.lexsort((pd.factorize(users, sort=True)[0], at.astype(np.int64)))
    by_mask = np.empty(len(named), dtype=object)
    by_mask[:] = named
    with _gc_paused():  # hundreds of thousands of small tuples: generational GC passes would rescan them all
        aware = pd.DatetimeIndex(at[order]).tz_localize("UTC").tz_convert(offset_tz).to_pydatetime()
        return list(map(partial(tuple.__new__, EntryPath),
                        zip(users[order].astype(str).tolist(), aware, by_mask[inverse.ravel()[order]].tolist(), strict=True)))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a block builds many objects that hold no cycles (they are
    collected by reference counting as usual; a cycle made meanwhile waits for the next pass)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def simulate(backend: Any, journeys: Sequence[Journey], date_from: dt.date, date_to: dt.date, *,
             timezone: str, rules: guards.GuardRules | None = None, store: Any = None,
             defs: Definitions | None = None, with_users: bool = False,
             best: sendtime.BestHours | None = None) -> list[SimulationResult]:
    """Replay ``[date_from, date_to]`` (local days) through the journeys together; sends nothing.

    A step with ``at: best_time`` uses ``best`` (each person's best hour), by default computed from the
    engagement of the 90 days before the replayed range starts (what a live runtime knew then)."""
    keys = [j.key for j in journeys]
    if len(set(keys)) != len(keys):
        raise JingyunError("bad_journey", "two journeys share a key; each simulated journey needs its own", "journey")
    rules = rules or guards.GuardRules(timezone=timezone)
    start, end = frame_bounds(date_from, date_to, timezone)
    ctx = _Context(backend, timezone, defs or SHIPPED_DEFINITIONS)
    ctx.lo = start - dt.timedelta(days=1, seconds=max((_lookback(j) for j in journeys), default=0))
    ctx.hi = end + dt.timedelta(seconds=max((_horizon(j) for j in journeys), default=0) + 1)
    consent, note = guards.consent_checker(store)
    if best is None and any(isinstance(s, ActionStep) and s.at_best_time for j in journeys for s in j.steps):
        best = sendtime.best_hours(backend, timezone=timezone, as_of=start, rules=rules)
    walked: list[tuple[Journey, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, int]]] = []
    all_sends: list[pd.DataFrame] = []
    for journey in journeys:
        found = candidates(journey.trigger, start, end, run=ctx.run, defs=ctx.defs, tz_of=ctx.zones,
                           workspace_tz=timezone, has_table=ctx.has_table,
                           rows=lambda m, lo, hi: ctx.rows(m, "", lo, hi))
        cand = found.frame.sort_values(["u", "fire"], kind="stable").reset_index(drop=True)
        at_us = cand["fire"].astype("datetime64[us]").astype(np.int64).to_numpy()
        keep = guards.entry_limit_mask(cand["u"].to_numpy(), at_us, journey.entry_limit)
        counts = {"entry_limit": int((~keep).sum())}
        entries = cand[keep].rename(columns={"fire": "entered"}).reset_index(drop=True)
        entries["entry"] = np.arange(len(entries))
        entries["holdout"] = guards.holdout_mask(journey.key, entries["u"], journey.holdout)
        counts["holdout"] = int(entries["holdout"].sum())
        hi = end + dt.timedelta(seconds=_horizon(journey) + 1)
        visits, sends = _walk(ctx, journey, entries[~entries["holdout"]], found.people, start - dt.timedelta(days=1),
                              hi, best)
        sends["journey"] = journey.key
        sends["priority"] = journey.priority
        sends["on_cap"] = journey.on_cap
        sends["on_quiet"] = journey.on_quiet_hours
        all_sends.append(sends)
        walked.append((journey, entries, visits, sends, counts))
    sends = pd.concat(all_sends, ignore_index=True) if all_sends else pd.DataFrame()
    messages = sends[sends["message"].astype(bool)] if not sends.empty else sends
    decided = guards.arbitrate(
        messages.rename(columns={"u": "user_id"}).assign(tz=ctx.zones(messages["u"]) if not messages.empty else []),
        rules, consent) if not messages.empty else messages.assign(outcome=[], sent_at=[])
    offset_tz = ZoneInfo(timezone)
    results = []
    for journey, entries, visits, own, counts in walked:
        mine = decided[decided["journey"] == journey.key] if not decided.empty else decided
        others = own[~own["message"].astype(bool)].rename(columns={"u": "user_id"}).assign(outcome="sent")
        others["sent_at"] = others["due"]
        actions: dict[str, int] = {str(s.channel): 0 for s in journey.steps if isinstance(s, ActionStep)}
        for channel, n in others["channel"].value_counts().items():
            actions[str(channel)] = int(n)
        sent = mine[mine["outcome"] == "sent"] if not mine.empty else mine
        for channel, n in (sent["channel"].value_counts().items() if not sent.empty else []):
            actions[str(channel)] = int(n)
        suppressed = {k: 0 for k in SUPPRESSED}
        suppressed.update(counts)
        for outcome, n in (mine["outcome"].value_counts().items() if not mine.empty else []):
            if outcome != "sent":
                suppressed[str(outcome)] = int(n)
        per_step = visits["step"].value_counts()
        steps = [StepCount(s.id, int(per_step.get(s.id, 0))) for s in journey.steps]
        paths: list[EntryPath] = []
        if with_users:
            paths = _paths(journey, entries, visits, offset_tz)
        results.append(SimulationResult(journey.key, len(entries), steps, actions, suppressed, paths,
                                        [note] if note else [], list(ctx.sql),
                                        pd.concat([mine, others]) if not mine.empty else others))
    return results


__all__ = ["EntryPath", "SimulationResult", "StepCount", "frame_bounds", "simulate", "ts_literal"]
