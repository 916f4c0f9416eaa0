"""Journey reports (旅程效果报告): treated against the journey's holdout, with the lift and its interval.

The unit is the **person** (the holdout is drawn per person by :func:`jingyun.automation.guards.in_holdout`),
taken at their **first entry** in the local days ``[from, to]``:

- **converted**: the journey's goal (its first ``goal`` step: that event within ``within``) happens in
  ``(entered, entered + within]``; a journey without a goal step counts a placed order within the window;
- **revenue**: the ``amount`` of the person's valid orders (``valid_orders``, real people) in
  ``(entered, entered + window]``; the attribution window defaults to the goal's ``within`` (72 h without
  a goal);
- the **lift** and its interval come from :func:`jingyun.experiments.stats.compare`: the z-test and Wald
  interval on the conversion rate, Welch on revenue per person (never re-implemented here);
- **coupon cost**: the discount cost of the journey's coupon templates from the coupons report;
- **steps** and **sends**: the entries that reached each step (simulated walk or live ``journey_entries``)
  and, for live journeys, the delivery log's sends by channel and status (delivery keys start with the
  journey key).

History comes from the simulation (``source="simulated"``: entries replayed from stored events, the same
entries the live runtime would have made) or from the live runtime's ``journey_entries``
(``source="live"``); ``auto`` takes live entries when the journey has any in the range.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from jingyun.automation import guards
from jingyun.automation.entries import match_sql
from jingyun.automation.journey import ActionStep, GoalStep, Journey
from jingyun.automation.rules import EventMatch
from jingyun.automation.simulate import frame_bounds, simulate
from jingyun.errors import JingyunError
from jingyun.experiments.stats import EffectResult, ProportionStatistic, SampleMeanStatistic, compare
from jingyun.localtime import aware
from jingyun.metrics.definitions import Definitions, for_settings
from jingyun.warehouse.sqltext import quote, ts_literal

Source = Literal["auto", "simulated", "live"]
DEFAULT_WINDOW_S = 72 * 3600
CHUNK = 2000
LIVE_STATES = ("active", "waiting", "done", "exited")


@dataclass(frozen=True)
class Arm:
    """One arm: entries, people (first entry each), converted people, revenue of valid orders in the window."""

    entries: int
    people: int
    converted: int
    revenue: float

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.people if self.people else None

    @property
    def revenue_per_person(self) -> float | None:
        return self.revenue / self.people if self.people else None

    def to_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "people": self.people, "converted": self.converted,
                "conversion_rate": self.conversion_rate, "revenue": round(self.revenue, 2),
                "revenue_per_person": self.revenue_per_person}


@dataclass(frozen=True)
class JourneyReport:
    journey: str
    source: str  # simulated | live
    date_from: dt.date
    date_to: dt.date
    timezone: str
    goal: str
    window_s: int
    holdout_share: float
    treated: Arm
    holdout: Arm
    conversion: EffectResult
    revenue: EffectResult
    coupon_cost: Decimal
    steps: list[tuple[str, int]]
    live: dict[str, dict[str, int]] = field(default_factory=dict)  # step -> state -> people (live only)
    sends: dict[str, dict[str, int]] = field(default_factory=dict)  # channel -> status -> n
    actions: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "journey": self.journey, "source": self.source, "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(), "timezone": self.timezone, "goal": self.goal,
            "window_hours": self.window_s / 3600, "holdout_share": self.holdout_share,
            "treated": self.treated.to_dict(), "holdout": self.holdout.to_dict(),
            "lift": {"conversion": effect_dict(self.conversion), "revenue_per_person": effect_dict(self.revenue)},
            "coupon_cost": str(self.coupon_cost),
            "steps": [{"id": s, "users": n} for s, n in self.steps],
            "live": self.live, "sends": self.sends, "actions": self.actions, "suppressed": self.suppressed,
            "notes": list(self.notes),
        }


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def effect_dict(e: EffectResult) -> dict[str, Any]:
    """The lift as JSON: absolute and relative uplift with their intervals, the p-value (NaN → null)."""
    return {"control": _num(e.control_mean), "treated": _num(e.treatment_mean), "uplift_abs": _num(e.uplift_abs),
            "ci_abs": [_num(e.ci_abs[0]), _num(e.ci_abs[1])], "uplift_rel": _num(e.uplift_rel),
            "ci_rel": [_num(e.ci_rel[0]), _num(e.ci_rel[1])], "p_value": _num(e.p_value), "method": e.method,
            "message": e.message}


def goal_of(journey: Journey, window_s: int | None = None) -> tuple[EventMatch, int, str]:
    """The conversion event, its window in seconds and a label: the first goal step, else a placed order."""
    for s in journey.steps:
        if isinstance(s, GoalStep):
            return s.event, int(s.within or window_s or DEFAULT_WINDOW_S), s.id
    return EventMatch(event="order"), int(window_s or DEFAULT_WINDOW_S), "order"


def first_entries(entries: pd.DataFrame) -> pd.DataFrame:
    """Each person's first entry: ``u``, ``entered`` (naive UTC), ``holdout``, ``n`` (their entries)."""
    if entries.empty:
        return pd.DataFrame({"u": pd.Series(dtype=str), "entered": pd.Series(dtype="datetime64[us]"),
                             "holdout": pd.Series(dtype=bool), "n": pd.Series(dtype=int)})
    ordered = entries.sort_values(["u", "entered"], kind="stable")
    first = ordered.groupby("u", sort=True).head(1).copy()
    first["n"] = first["u"].map(ordered["u"].value_counts()).astype(int)
    first["entered"] = first["entered"].astype("datetime64[us]")
    return first.reset_index(drop=True)


def _rows(backend: Any, sql_of: Any, users: list[str]) -> pd.DataFrame:
    parts = []
    for i in range(0, len(users), CHUNK):
        listed = ", ".join(quote(u) for u in users[i:i + CHUNK])
        parts.append(backend.run(sql_of(listed)).to_pandas())
    if not parts:
        return pd.DataFrame({"u": pd.Series(dtype=str), "ts": pd.Series(dtype="datetime64[us]")})
    out = pd.concat(parts, ignore_index=True)
    out["u"] = out["u"].astype(str)
    out["ts"] = out["ts"].astype("datetime64[us]")
    return out


def outcomes(backend: Any, first: pd.DataFrame, goal: EventMatch, goal_s: int, window_s: int,
             defs: Definitions) -> pd.DataFrame:
    """``first`` with ``converted`` (the goal in (entered, entered + goal_s]) and ``revenue`` (valid orders'
    amount in (entered, entered + window_s])."""
    out = first.copy()
    out["converted"] = False
    out["revenue"] = 0.0
    if out.empty:
        return out
    users = sorted(set(out["u"]))
    lo = out["entered"].min().to_pydatetime()
    hi = out["entered"].max().to_pydatetime() + dt.timedelta(seconds=max(goal_s, window_s) + 1)
    hits = _rows(backend, lambda listed: f"SELECT u, ts FROM ({match_sql(goal, lo, hi, defs)}) g "
                                         f"WHERE u IN ({listed})", users)
    joined = out[["u", "entered"]].reset_index().merge(hits, on="u")
    ok = (joined["ts"] > joined["entered"]) & (joined["ts"] <= joined["entered"] + pd.Timedelta(seconds=goal_s))
    out.loc[sorted(set(joined.loc[ok, "index"])), "converted"] = True
    orders = _rows(backend, lambda listed: (
        f"SELECT person_id AS u, ts, amount FROM orders o WHERE {defs.order_rows('valid_orders', 'o')} "
        f"AND person_id IS NOT NULL AND ts >= {ts_literal(lo)} AND ts < {ts_literal(hi)} "
        f"AND person_id IN ({listed})"), users)
    if not orders.empty:
        joined = out[["u", "entered"]].reset_index().merge(orders, on="u")
        ok = (joined["ts"] > joined["entered"]) & (joined["ts"] <= joined["entered"] + pd.Timedelta(seconds=window_s))
        money = joined.loc[ok].groupby("index")["amount"].sum()
        out.loc[money.index, "revenue"] = money.astype(float).to_numpy()
    return out


def _arm(frame: pd.DataFrame) -> tuple[Arm, ProportionStatistic, SampleMeanStatistic]:
    rev = frame["revenue"].astype(float).to_numpy()
    conv = frame["converted"].astype(bool).to_numpy()
    arm = Arm(int(frame["n"].sum()) if len(frame) else 0, len(frame), int(conv.sum()), float(rev.sum()))
    return (arm, ProportionStatistic(len(frame), float(conv.sum())),
            SampleMeanStatistic(len(frame), float(rev.sum()), float((rev * rev).sum())))


def _live_entries(store: Any, key: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    from jingyun.store.automation import JourneyEntryRow

    with store.session() as ses:
        rows = ses.execute(select(JourneyEntryRow.user_id, JourneyEntryRow.entered_at, JourneyEntryRow.holdout,
                                  JourneyEntryRow.step, JourneyEntryRow.state, JourneyEntryRow.path)
                           .where(JourneyEntryRow.journey_key == key, JourneyEntryRow.entered_at >= start,
                                  JourneyEntryRow.entered_at < end)).all()
    return pd.DataFrame({"u": pd.Series([str(r[0]) for r in rows], dtype=str),
                         "entered": pd.Series([r[1] for r in rows], dtype="datetime64[us]"),
                         "holdout": pd.Series([bool(r[2]) for r in rows], dtype=bool),
                         "step": [r[3] for r in rows], "state": [r[4] for r in rows],
                         "path": [json.loads(r[5] or "[]") for r in rows]})


def live_counts(store: Any, key: str) -> dict[str, dict[str, int]]:
    """Live counts per step and state (active, waiting, done, exited) of the journey's treated entries."""
    from jingyun.store.automation import JourneyEntryRow

    with store.session() as ses:
        rows = ses.execute(select(JourneyEntryRow.step, JourneyEntryRow.state, func.count())
                           .where(JourneyEntryRow.journey_key == key, JourneyEntryRow.holdout.is_(False))
                           .group_by(JourneyEntryRow.step, JourneyEntryRow.state)).all()
    out: dict[str, dict[str, int]] = {}
    for step, state, n in rows:
        out.setdefault(str(step or ""), {s: 0 for s in LIVE_STATES})[str(state)] = int(n)
    return out


def live_graph(store: Any, journey: Journey) -> dict[str, Any]:
    """The journey's live counts for its graph: entered (holdout included), holdout, converted (reached a goal
    step), exited, and per step the entries that reached it, are at it (active) and wait at it."""
    from jingyun.store.automation import JourneyEntryRow

    goals = {s.id for s in journey.steps if isinstance(s, GoalStep)}
    steps = {s.id: {"reached": 0, "at": 0, "waiting": 0} for s in journey.steps}
    out: dict[str, Any] = {"entered": 0, "holdout": 0, "converted": 0, "exited": 0, "steps": steps}
    with store.session() as ses:
        rows = ses.execute(select(JourneyEntryRow.holdout, JourneyEntryRow.step, JourneyEntryRow.state,
                                  JourneyEntryRow.path).where(JourneyEntryRow.journey_key == journey.key)).all()
    for held, step, state, path in rows:
        out["entered"] += 1
        if held:
            out["holdout"] += 1
            continue
        walked = set(json.loads(path or "[]"))
        for sid in walked & steps.keys():
            steps[sid]["reached"] += 1
        out["converted"] += bool(walked & goals)
        out["exited"] += state == "exited"
        if step in steps and state in ("active", "waiting"):
            steps[step]["at" if state == "active" else "waiting"] += 1
    return out


def sends_by_channel(store: Any, key: str, start: dt.datetime | None = None,
                     end: dt.datetime | None = None) -> dict[str, dict[str, int]]:
    """The delivery log's messages of one journey (keys ``journey:version:step:person:entry``) by channel, status."""
    try:
        from jingyun.store.messages import MessageDelivery
    except ImportError:  # pragma: no cover - messaging not installed
        return {}
    q = (select(MessageDelivery.channel, MessageDelivery.status, func.count())
         .where(MessageDelivery.key.like(f"{key}:%")).group_by(MessageDelivery.channel, MessageDelivery.status))
    if start is not None and end is not None:
        q = q.where(MessageDelivery.created_at >= start, MessageDelivery.created_at < end)
    out: dict[str, dict[str, int]] = {}
    with store.session() as ses:
        for channel, status, n in ses.execute(q).all():
            out.setdefault(str(channel), {})[str(status)] = int(n)
    return out


def coupon_cost(store: Any, settings: Any, backend: Any, journey: Journey) -> tuple[Decimal, list[str]]:
    """Discount cost of the journey's coupon templates (coupons report) and notes for templates not found."""
    keys = sorted({s.coupon for s in journey.steps if isinstance(s, ActionStep) and s.channel == "coupon"
                   and s.coupon})
    if not keys or store is None:
        return Decimal("0.00"), []
    from jingyun.coupons.registry import get_template
    from jingyun.coupons.report import report as coupon_report

    found, notes = [], []
    for k in keys:
        try:
            get_template(store, k)
            found.append(k)
        except JingyunError:
            notes.append(f"coupon template {k!r} is not saved: its cost counts as 0")
    if not found:
        return Decimal("0.00"), notes
    rep = coupon_report(store, settings, backend, templates=found)
    return sum((t.discount_cost for t in rep.templates), Decimal("0.00")), notes


def default_range(backend: Any, tz: str, days: int = 30) -> tuple[dt.date, dt.date]:
    """The last ``days`` local days of the stored events (today's when there are none)."""
    latest = backend.run("SELECT max(ts) AS t FROM events").to_pylist()[0]["t"]
    end = aware(latest, tz).date() if latest is not None else dt.datetime.now(dt.UTC).date()
    return end - dt.timedelta(days=days - 1), end


def report(backend: Any, journey: Journey, date_from: dt.date, date_to: dt.date, *, settings: Any,
           store: Any = None, source: Source = "auto", window_s: int | None = None,
           alpha: float = 0.05) -> JourneyReport:
    """Treated against holdout for one journey over the local days ``[date_from, date_to]``."""
    if source not in ("auto", "simulated", "live"):
        raise JingyunError("bad_source", f"source {source!r}: use auto, simulated or live", "source")
    if window_s is not None and window_s <= 0:
        raise JingyunError("bad_window", "the attribution window must be positive, e.g. 72h", "window")
    tz = settings.timezone
    defs = for_settings(settings)
    start, end = frame_bounds(date_from, date_to, tz)
    goal, goal_s, goal_label = goal_of(journey)
    window = int(window_s or goal_s)
    notes: list[str] = []
    live_frame = _live_entries(store, journey.key, start, end) if store is not None and source != "simulated" \
        else pd.DataFrame()
    if source == "live" and store is None:
        raise JingyunError("no_store", "live entries need the metadata store", "source")
    used = "live" if source == "live" or (source == "auto" and not live_frame.empty) else "simulated"
    steps: list[tuple[str, int]] = []
    actions: dict[str, int] = {}
    suppressed: dict[str, int] = {}
    live: dict[str, dict[str, int]] = {}
    sends: dict[str, dict[str, int]] = {}
    if used == "live":
        entries = live_frame[["u", "entered", "holdout"]]
        reached: Counter[str] = Counter()
        for path in live_frame.loc[~live_frame["holdout"], "path"] if not live_frame.empty else []:
            reached.update(set(path))
        steps = [(s.id, int(reached.get(s.id, 0))) for s in journey.steps]
        live = live_counts(store, journey.key)
        sends = sends_by_channel(store, journey.key, start, end)
    else:
        [sim] = simulate(backend, [journey], date_from, date_to, timezone=tz,
                         rules=guards.GuardRules.from_settings(settings), store=store, defs=defs, with_users=True)
        entries = pd.DataFrame({
            "u": pd.Series([p.user_id for p in sim.users], dtype=str),
            "entered": pd.Series([p.entered_at.astimezone(dt.UTC).replace(tzinfo=None) for p in sim.users],
                                 dtype="datetime64[us]")})
        entries["holdout"] = guards.holdout_mask(journey.key, entries["u"], journey.holdout)
        steps = [(s.id, s.users) for s in sim.steps]
        actions, suppressed = dict(sim.actions), dict(sim.suppressed)
        notes += sim.notes
        if sim.sends is not None and not sim.sends.empty:
            for (channel, outcome), n in sim.sends.groupby(["channel", "outcome"]).size().items():
                sends.setdefault(str(channel), {})[str(outcome)] = int(n)
    first = outcomes(backend, first_entries(entries), goal, goal_s, window, defs)
    held = first["holdout"].astype(bool).to_numpy() if len(first) else np.zeros(0, dtype=bool)
    t_arm, t_conv, t_rev = _arm(first[~held])
    c_arm, c_conv, c_rev = _arm(first[held])
    conversion = compare(c_conv, t_conv, variation="treated", alpha=alpha)
    revenue = compare(c_rev, t_rev, variation="treated", alpha=alpha)
    if c_arm.people < 30:
        notes.append(f"only {c_arm.people} people in the holdout: the interval is wide; widen the dates")
    cost, cost_notes = coupon_cost(store, settings, backend, journey)
    notes += cost_notes
    return JourneyReport(journey.key, used, date_from, date_to, tz, goal_label, window, journey.holdout,
                         t_arm, c_arm, conversion, revenue, cost, steps, live, sends, actions, suppressed, notes)


__all__ = ["Arm", "JourneyReport", "default_range", "effect_dict", "first_entries", "goal_of", "live_counts", "live_graph",
           "outcomes", "report", "sends_by_channel"]
