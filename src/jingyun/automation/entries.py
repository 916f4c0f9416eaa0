"""Who enters a journey, and when, on history: each trigger as one portable query (plus pandas for dates).

Entries are people (:func:`jingyun.metrics.definitions.people_sql`: real persons with a users row or an
order — test accounts never enter, anonymous visitors cannot be reached) keyed by ``person_id``.
Every query returns ``(u, fire)``: the person and the naive-UTC instant the trigger fires.

The absence rule in SQL: trigger rows (``k = 1``) and cancelling rows (``k = 0``) of one person in one
stream ordered by ``(ts, k)``, so a cancelling row at the trigger's own instant sorts *before* it;
the first cancelling row strictly after the trigger is ``min(...) OVER (... ROWS BETWEEN 1 FOLLOWING
AND UNBOUNDED FOLLOWING)``. The trigger fires at ``ts + W`` unless that row is ``<= ts + W``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from apscheduler.triggers.cron import CronTrigger

from jingyun.automation.rules import (
    DateTrigger,
    EventMatch,
    EventTrigger,
    MetricTrigger,
    ScheduleTrigger,
    SegmentTrigger,
)
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import Definitions, people_sql, real_people
from jingyun.schema.tables import ORDERS
from jingyun.warehouse.personal import BIRTH_DATE_SQL
from jingyun.warehouse.sqltext import json_key, quote, ts_literal

ORDER_DEFINITION = "placed_orders"  # "placed an order" is an order not cancelled: the activity definition
_ORDER_COLUMNS = {c.name for c in ORDERS.columns}
Run = Callable[[str], pd.DataFrame]
Rows = Callable[[EventMatch, dt.datetime, dt.datetime], pd.DataFrame]  # (u, ts) of a match in [lo, hi)


def match_sql(m: EventMatch, lo: dt.datetime, hi: dt.datetime, defs: Definitions) -> str:
    """Rows ``(u, ts)`` of one event match in ``[lo, hi)``: an event, or (``event: order``) an order."""
    if m.is_order:
        conds = [defs.order_rows(ORDER_DEFINITION)]
        for f in m.where:
            conds.append(f.sql(f.field) if f.field in _ORDER_COLUMNS
                         else f.json_sql(f"json_extract_string(attributes, '$.{json_key(f.field)}')"))
        table = "orders"
    else:
        conds = [real_people()] + ([f"event = {quote(m.event)}"] if m.event != "*" else [])
        conds += [f.json_sql(f"json_extract_string(properties, '$.{json_key(f.field)}')") for f in m.where]
        table = "events"
    conds += ["person_id IS NOT NULL", f"ts >= {ts_literal(lo)}", f"ts < {ts_literal(hi)}"]
    return f"SELECT person_id AS u, ts FROM {table} WHERE " + " AND ".join(conds)


def _people(sql: str, cols: str = "u, fire") -> str:
    return f"SELECT {cols} FROM ({sql}) q WHERE u IN ({people_sql()})"


def event_sql(trig: EventTrigger, start: dt.datetime, end: dt.datetime, defs: Definitions) -> str:
    if trig.absent is None:
        return _people(f"SELECT u, ts AS fire FROM ({match_sql(trig.match, start, end, defs)}) t")
    w = trig.absent.within_s
    shift = dt.timedelta(seconds=w)
    fire = f"ts + INTERVAL '{w}' SECOND"
    if trig.absent.any_of == (trig.match,):
        # Inactivity (the trigger is its own cancel: "N days with no event / order"): one pass over the rows,
        # equal instants grouped (``n`` of them, each a candidate) so the next *later* instant is lead(ts).
        rows = match_sql(trig.match, start - shift, end, defs)
        return _people(
            f"SELECT u, {fire} AS fire, n FROM (SELECT u, ts, n, lead(ts) OVER (PARTITION BY u ORDER BY ts) AS nc "
            f"FROM (SELECT u, ts, count(*) AS n FROM ({rows}) r GROUP BY u, ts) g) x WHERE ts < "
            f"{ts_literal(end - shift)} AND (nc IS NULL OR nc > {fire})", "u, fire, n")
    trig_rows = match_sql(trig.match, start - shift, end - shift, defs)
    cancels = " UNION ALL ".join(f"SELECT u, ts, 0 AS k FROM ({match_sql(m, start - shift, end, defs)}) c{i}"
                                 for i, m in enumerate(trig.absent.any_of))
    return _people(
        f"SELECT u, {fire} AS fire FROM (SELECT u, ts, k, min(CASE WHEN k = 0 THEN ts END) OVER (PARTITION BY u "
        f"ORDER BY ts, k ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS nc FROM (SELECT u, ts, 1 AS k FROM "
        f"({trig_rows}) t UNION ALL {cancels}) a) n WHERE k = 1 AND (nc IS NULL OR nc > {fire})")


@dataclass(frozen=True)
class Entries:
    """Candidate entries ``(u, fire)`` and a query for the people who may be among them (for semi-joins)."""

    frame: pd.DataFrame
    people: str
    sql: tuple[str, ...]


def candidates(trigger: object, start: dt.datetime, end: dt.datetime, *, run: Run, defs: Definitions,
               tz_of: Callable[[pd.Series], pd.Series], workspace_tz: str, has_table: Callable[[str], bool],
               rows: Rows | None = None) -> Entries:
    """The entries a trigger makes with fire times in ``[start, end)`` (naive UTC).

    ``rows`` (the simulation's shared scan of a match, covering the span asked for) lets an inactivity
    rule be found from rows already read instead of a window over the whole events table."""
    if isinstance(trigger, EventTrigger):
        sql = event_sql(trigger, start, end, defs)
        return Entries(_event_frame(trigger, start, end, sql, run, rows), f"SELECT u FROM ({sql}) e", (sql,))
    if isinstance(trigger, DateTrigger):
        as_event = trigger.as_event()
        if as_event is not None:
            lo = start - dt.timedelta(days=1)
            sql = event_sql(as_event, lo, end, defs)
            frame = _event_frame(as_event, lo, end, sql, run, rows)
            frame["fire"] = _align(frame, trigger.at, tz_of)
            frame = frame[(frame["fire"] >= start) & (frame["fire"] < end)]
            return Entries(frame.reset_index(drop=True), f"SELECT u FROM ({sql}) e", (sql,))
        return _calendar(trigger, start, end, run=run, tz_of=tz_of, workspace_tz=workspace_tz)
    if isinstance(trigger, SegmentTrigger):
        if not has_table("segment_changes"):
            return Entries(pd.DataFrame({"u": pd.Series(dtype=str), "fire": pd.Series(dtype="datetime64[us]")}),
                           "SELECT NULL AS u", ())
        sql = _people(f"SELECT person_id AS u, changed_at AS fire FROM segment_changes WHERE segment = "
                      f"{quote(trigger.segment)} AND change = {quote(trigger.on)} AND changed_at >= "
                      f"{ts_literal(start)} AND changed_at < {ts_literal(end)}")
        return Entries(run(sql), f"SELECT u FROM ({sql}) e", (sql,))
    if isinstance(trigger, ScheduleTrigger):
        return _schedule(trigger, start, end, run=run, workspace_tz=workspace_tz, has_table=has_table)
    if isinstance(trigger, MetricTrigger):
        raise JingyunError("not_simulable", "a metric condition has no per-person history to replay; the live "
                           "runtime checks it on its cron", "trigger.type")
    raise JingyunError("bad_journey", f"unknown trigger {trigger!r}", "trigger")  # pragma: no cover


def _event_frame(trig: EventTrigger, start: dt.datetime, end: dt.datetime, sql: str, run: Run,
                 rows: Rows | None) -> pd.DataFrame:
    if rows is None or trig.absent is None or trig.absent.any_of != (trig.match,):
        return _repeat(run(sql))
    shift = dt.timedelta(seconds=trig.absent.within_s)
    found = inactive(rows(trig.match, start - shift, end), start - shift, end - shift, trig.absent.within_s)
    people = set(run(f"SELECT person_id AS u FROM ({people_sql()}) p")["u"])
    return found[found["u"].isin(people)].reset_index(drop=True)


def inactive(rows: pd.DataFrame, lo: dt.datetime, hi: dt.datetime, within_s: int) -> pd.DataFrame:
    """``(u, fire)`` of every row with ``lo <= ts < hi`` whose person has no row in ``(ts, ts + within]``
    (fire = ts + within), on sorted arrays: the same answer as the lead() query, rows at one instant each
    a candidate. ``rows`` must hold every row of ``[lo, hi + within)``."""
    if rows.empty:
        return pd.DataFrame({"u": pd.Series(dtype=object), "fire": pd.Series(dtype="datetime64[us]")})
    codes = pd.factorize(rows["u"])[0]
    t = rows["ts"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    order = np.lexsort((t, codes))
    c, t = codes[order], t[order]
    n = len(c)
    new_run = np.r_[True, (c[1:] != c[:-1]) | (t[1:] != t[:-1])]
    run_id = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    nxt = np.append(starts[1:], n)[run_id]  # the first row at a later instant (or n)
    has_next = nxt < n
    has_next[has_next] = c[nxt[has_next]] == c[has_next]
    w = within_s * 1_000_000
    nc = np.where(has_next, t[np.minimum(nxt, n - 1)], np.iinfo(np.int64).max)
    lo_us, hi_us = (np.datetime64(x, "us").astype(np.int64) for x in (lo, hi))
    fires = (t >= lo_us) & (t < hi_us) & (nc > t + w)
    picked = order[fires]
    return pd.DataFrame({"u": rows["u"].to_numpy(dtype=object)[picked],
                         "fire": (t[fires] + w).astype("datetime64[us]")})


def _repeat(frame: pd.DataFrame) -> pd.DataFrame:
    """A grouped result (``n`` candidates at one instant) back to one row per candidate."""
    if "n" not in frame.columns:
        return frame
    counts = frame["n"].to_numpy()
    frame = frame.drop(columns="n")
    if len(counts) and int(counts.max()) > 1:
        frame = frame.loc[frame.index.repeat(counts)]
    return frame.reset_index(drop=True)


def wall_to_utc(wall: pd.Series, tz: pd.Series) -> pd.Series:
    """Local wall-clock times (naive) in each row's zone → naive UTC (a nonexistent time moves forward)."""
    out = pd.Series(pd.NaT, index=wall.index, dtype="datetime64[us]")
    for zone, idx in wall.groupby(tz).groups.items():
        part = wall.loc[idx].dt.tz_localize(ZoneInfo(str(zone)), nonexistent="shift_forward", ambiguous=False)
        out.loc[idx] = part.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    return out


def utc_to_wall(at: pd.Series, tz: pd.Series) -> pd.Series:
    out = pd.Series(pd.NaT, index=at.index, dtype="datetime64[us]")
    for zone, idx in at.groupby(tz).groups.items():
        part = at.loc[idx].dt.tz_localize("UTC").dt.tz_convert(ZoneInfo(str(zone)))
        out.loc[idx] = part.dt.tz_localize(None).astype("datetime64[us]")
    return out


def _clock(text: str) -> pd.Timedelta:
    h, m = text.split(":")
    return pd.Timedelta(hours=int(h), minutes=int(m))


def _align(frame: pd.DataFrame, at: str, tz_of: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Each fire time moved to the first local ``at`` clock at or after it, in the person's zone."""
    if frame.empty:
        return frame["fire"]
    tz = tz_of(frame["u"])
    wall = utc_to_wall(frame["fire"], tz)
    target = wall.dt.normalize() + _clock(at)
    target = target.where(target >= wall, target + pd.Timedelta(days=1))
    return wall_to_utc(target, tz)


def _calendar(trigger: DateTrigger, start: dt.datetime, end: dt.datetime, *, run: Run,
              tz_of: Callable[[pd.Series], pd.Series], workspace_tz: str) -> Entries:
    """Birthdays and registration anniversaries: the day's ``at`` in the person's zone; 29 February
    counts on 28 February in other years."""
    if trigger.date == "birthday":
        people = (f"SELECT person_id AS u, max({BIRTH_DATE_SQL}) AS d FROM users WHERE person_id IS NOT NULL AND "
                  f"{real_people()} GROUP BY person_id")
    else:
        people = (f"SELECT person_id AS u, min(registered_at) AS d FROM users WHERE person_id IS NOT NULL AND "
                  f"{real_people()} GROUP BY person_id")
    sql = f"SELECT u, d FROM ({people}) p WHERE d IS NOT NULL AND u IN ({people_sql()})"
    base = run(sql)
    frames = []
    if not base.empty:
        tz = tz_of(base["u"])
        d = pd.to_datetime(base["d"])
        if trigger.date == "registration_anniversary":
            d = utc_to_wall(d.astype("datetime64[us]"), tz)
        first_year = (start - dt.timedelta(days=1)).year
        for year in range(first_year, end.year + 1):
            leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
            day = d.dt.day.where(~((d.dt.month == 2) & (d.dt.day == 29)) | leap, 28)
            local = pd.to_datetime(pd.DataFrame({"year": year, "month": d.dt.month, "day": day})) + _clock(trigger.at)
            keep = d.dt.year < year if trigger.date == "registration_anniversary" else pd.Series(True, index=d.index)
            at = wall_to_utc(local.astype("datetime64[us]"), tz)
            frames.append(pd.DataFrame({"u": base["u"], "fire": at})[keep])
    frame = pd.concat(frames) if frames else pd.DataFrame({"u": pd.Series(dtype=str),
                                                           "fire": pd.Series(dtype="datetime64[us]")})
    frame = frame[(frame["fire"] >= start) & (frame["fire"] < end)].reset_index(drop=True)
    return Entries(frame, f"SELECT u FROM ({sql}) e", (sql,))


def cron_fires(cron_text: str, start: dt.datetime, end: dt.datetime, workspace_tz: str) -> list[dt.datetime]:
    """Every fire of a cron (read in the workspace zone) in ``[start, end)``, naive UTC."""
    cron = CronTrigger.from_crontab(cron_text, timezone=ZoneInfo(workspace_tz))
    fires: list[dt.datetime] = []
    prev = None
    now = start.replace(tzinfo=dt.UTC)
    while True:
        nxt = cron.get_next_fire_time(prev, now)
        if nxt is None or nxt.astimezone(dt.UTC).replace(tzinfo=None) >= end:
            break
        fires.append(nxt.astimezone(dt.UTC).replace(tzinfo=None))
        prev, now = nxt, nxt + dt.timedelta(microseconds=1)
    return fires


def _schedule(trigger: ScheduleTrigger, start: dt.datetime, end: dt.datetime, *, run: Run, workspace_tz: str,
              has_table: Callable[[str], bool]) -> Entries:
    """Every fire of the cron in ``[start, end)`` (workspace zone), for the segment's current members (its
    membership history is not replayed) or for every person."""
    fires = cron_fires(trigger.cron, start, end, workspace_tz)
    if trigger.segment is not None:
        members = (f"SELECT person_id AS u FROM segment_members WHERE segment = {quote(trigger.segment)}"
                   if has_table("segment_members") else "SELECT CAST(NULL AS VARCHAR) AS u FROM users WHERE FALSE")
        sql = f"SELECT u FROM ({members}) m WHERE u IN ({people_sql()})"
    else:
        sql = f"SELECT person_id AS u FROM ({people_sql()}) p"
    who = run(sql)
    frame = who.merge(pd.DataFrame({"fire": pd.Series(fires, dtype="datetime64[us]")}), how="cross")
    return Entries(frame, sql, (sql,))


__all__ = ["ORDER_DEFINITION", "Entries", "candidates", "cron_fires", "event_sql", "inactive", "match_sql", "utc_to_wall", "wall_to_utc"]
