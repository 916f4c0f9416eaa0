"""Funnels (漏斗分析): ordered steps within a conversion window.

Default semantics equal ClickHouse ``windowFunnel(window)``: a chain starts at
any occurrence of step 1 inside [from, to] (local dates); each later step must
occur at or after the previous step's time (equal timestamps allowed) and at
most ``window`` seconds after the chain's first step (inclusive); a person
reaches step k if any chain does. As in ClickHouse, one event that matches two
steps (``view, view``) fills both.

The SQL follows ClickHouse's greedy scan, expressed with window functions: per
person, rows (event, step it matches) ordered by (ts, step); ``a_i`` is the
running maximum of the starts of chains that reached step i. A step-(i+1) row
extends the latest such chain when ``a_i >= ts - window``. Keeping the latest
start is optimal (later starts leave more of the window), so the running max
equals "any chain reaches step i". One window pass per step, each over two steps' rows only, no self-joins.
Without exclusions the same quantity is computed with hash joins on (person, time bucket) instead
(``_join_ctes``): a window pass sorts every funnel row, which alone cost about what chdb's whole
``windowFunnel`` costs; the joins touch each row a bounded number of times. With exclusions the window
passes remain (the latest exclusion before each row is a running max as well). The breakdown value at a
person's first step-1 instant comes from one ``min`` of the instant and the value's rank packed into a BIGINT
(``_first_touch_packed``), with the join form as the exact fallback.

``strict``: the steps must be consecutive among the person's funnel events
(events matching a step or an exclusion); any chain of consecutive events
counts. (ClickHouse's ``strict_order`` instead stops scanning a person at the
first interruption.) ``any``: steps 1..k all occur, in any order, within one
window that starts at one of them inside [from, to].
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from jingyun.analysis.common import (
    Dimension,
    Step,
    as_step,
    check_range,
    check_timezone,
    parse_date,
    parse_duration,
    ratio,
    rows,
)
from jingyun.config import DEFAULT_TIMEZONE
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import real_people
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import local_day, quote, ts_literal, utc_start, with_ctes

Mode = Literal["default", "strict", "any"]
Period = Literal["day", "week"]
MAX_STEPS = 20
# Time-to-convert buckets (upper bounds in seconds, exclusive); the last is open.
TTC_EDGES: tuple[tuple[str, int], ...] = (
    ("<1m", 60), ("1-5m", 300), ("5-15m", 900), ("15-60m", 3600), ("1-4h", 14400),
    ("4-24h", 86400), ("1-3d", 259200), ("3-7d", 604800),
)


@dataclass(frozen=True)
class FunnelParams:
    """A funnel definition. Build with :meth:`create` to parse loose input."""

    steps: tuple[Step, ...]
    window: int = 86400
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    mode: Mode = "default"
    exclusions: tuple[Step, ...] = ()
    by: Dimension | None = None
    period: Period = "day"
    timezone: str = DEFAULT_TIMEZONE
    include_test: bool = False

    def __post_init__(self) -> None:
        if len(self.steps) < 2:
            raise JingyunError("bad_funnel", "a funnel needs at least 2 steps", "steps")
        if len(self.steps) > MAX_STEPS:
            raise JingyunError("bad_funnel", f"a funnel has at most {MAX_STEPS} steps, got {len(self.steps)}", "steps")
        for i, step in enumerate(self.steps):
            step.validate(f"steps[{i}]")
        for i, step in enumerate(self.exclusions):
            step.validate(f"exclusions[{i}]")
        if not isinstance(self.window, int) or self.window <= 0:
            raise JingyunError("bad_window", f"window must be > 0 seconds, got {self.window!r}", "window")
        if self.mode not in ("default", "strict", "any"):
            raise JingyunError("bad_mode", f"mode must be default, strict or any, got {self.mode!r}", "mode")
        if self.mode == "any" and self.exclusions:
            raise JingyunError("bad_mode", "exclusion steps need an order; use mode default or strict", "exclusions")
        if self.period not in ("day", "week"):
            raise JingyunError("bad_period", f"period must be day or week, got {self.period!r}", "period")
        check_range(self.date_from, self.date_to)
        check_timezone(self.timezone)

    @classmethod
    def create(
        cls,
        steps: list[Step | str] | tuple[Step | str, ...],
        window: str | int = "24h",
        date_from: str | dt.date | None = None,
        date_to: str | dt.date | None = None,
        mode: str = "default",
        exclusions: list[Step | str] | tuple[Step | str, ...] = (),
        by: str | Dimension | None = None,
        period: str = "day",
        timezone: str = DEFAULT_TIMEZONE,
        include_test: bool = False,
    ) -> FunnelParams:
        return cls(
            steps=tuple(as_step(s) for s in steps),
            window=parse_duration(window, "window"),
            date_from=parse_date(date_from, "from"),
            date_to=parse_date(date_to, "to"),
            mode=mode,  # type: ignore[arg-type]
            exclusions=tuple(as_step(s) for s in exclusions),
            by=Dimension.parse(by) if isinstance(by, str) else by,
            period=period,  # type: ignore[arg-type]
            timezone=timezone,
            include_test=include_test,
        )

    def previous(self) -> FunnelParams | None:
        """The period of equal length just before this one (needs both dates)."""
        if self.date_from is None or self.date_to is None:
            return None
        days = (self.date_to - self.date_from).days + 1
        return dataclasses.replace(
            self, date_from=self.date_from - dt.timedelta(days=days), date_to=self.date_from - dt.timedelta(days=1)
        )


# -- SQL ------------------------------------------------------------------------------------------
def _bounds(p: FunnelParams) -> tuple[str | None, str | None, str | None]:
    """UTC bounds, computed once in Python: chain starts in [lo, hi); any step before hi + window."""
    lo = ts_literal(utc_start(p.date_from, p.timezone)) if p.date_from else None
    hi_dt = utc_start(p.date_to + dt.timedelta(days=1), p.timezone) if p.date_to else None
    hi = ts_literal(hi_dt) if hi_dt else None
    reach = ts_literal(hi_dt + dt.timedelta(seconds=p.window)) if hi_dt else None
    return lo, hi, reach


def _start_range(p: FunnelParams, column: str = "ts") -> str:
    lo, hi, _ = _bounds(p)
    parts = [f"{column} >= {lo}" if lo else "", f"{column} < {hi}" if hi else ""]
    return " AND ".join(x for x in parts if x) or "TRUE"


def _event_filters(p: FunnelParams) -> list[str]:
    """Row filters every funnel query shares: test traffic, missing persons, and the time range of any step."""
    lo, _, reach = _bounds(p)
    where = ["person_id IS NOT NULL"]
    if not p.include_test:
        where.append(real_people())
    if lo:
        where.append(f"ts >= {lo}")
    if reach:
        where.append(f"ts <= {reach}")
    return where


def _events_cte(p: FunnelParams) -> str:
    names = sorted({s.event for s in (*p.steps, *p.exclusions)})
    where = [f"event IN ({', '.join(quote(n) for n in names)})", *_event_filters(p)]
    bv = p.by.event_sql() if p.by else "CAST(NULL AS VARCHAR)"
    return (
        f"SELECT person_id, ts, event_id, event, properties, {bv} AS bv FROM events WHERE " + " AND ".join(where)
    )


_ORDER = "PARTITION BY person_id ORDER BY ts, step ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"


def _step_rows(p: FunnelParams) -> tuple[str, bool]:
    """One row per (event, step it matches); exclusions are step 0; step 1 only inside [from, to].

    Returns the SQL and whether it reads a CTE named ``ev`` (the events of the funnel)."""
    start = f"{p.steps[0].sql()} AND {_start_range(p)}"
    conds = [start, *(s.sql() for s in p.steps[1:])]
    names = [s.event for s in (*p.steps, *p.exclusions)]
    if len(set(names)) == len(names):
        # Distinct event names: an event matches at most one step, so the step number comes from a join with a
        # small (event, step) table. A CASE over the names costs string comparisons per row, and DuckDB
        # evaluates it again in the filter it pushes down from the consumers (``step = 1 OR step = 2 ...``);
        # the join filters and numbers the rows in one hash probe (measured: bench/results/notes.md).
        numbered = [*((s, i) for i, s in enumerate(p.steps, 1)), *((e, 0) for e in p.exclusions)]
        values = ", ".join(f"({quote(s.event)}, {i})" for s, i in numbered)
        # The (event name, step) table's columns are named apart from the events table's, so the shared
        # expressions (filters on properties, the dimension) need no table prefix.
        where = _event_filters(p)
        start_range = _start_range(p)
        for s, i in numbered:
            extra = s.filter_sql() + ([start_range] if i == 1 and start_range != "TRUE" else [])
            if extra:
                # Filters and the start range apply to their own step's rows only.
                where.append(f"(step <> {i} OR ({' AND '.join(extra)}))")
        bv = p.by.event_sql() if p.by else "CAST(NULL AS VARCHAR)"
        return (f"SELECT person_id, ts, step, {bv} AS bv FROM events JOIN (VALUES {values}) m(step_event, step) "
                f"ON event = step_event WHERE " + " AND ".join(where)), False
    arms = [f"SELECT person_id, ts, {i} AS step, bv FROM ev WHERE {c}" for i, c in enumerate(conds, 1)]
    arms += [f"SELECT person_id, ts, 0 AS step, bv FROM ev WHERE {e.sql()}" for e in p.exclusions]
    return "\n  UNION ALL ".join(arms), True


# Day buckets for the join formulation: at most this many earlier buckets are probed per row.
_MAX_PROBES = 32


def _bucket_seconds(window: int) -> int:
    """Width of the time buckets the join formulation keys on: the window itself up to a day, then wider
    buckets so that a row probes at most ``_MAX_PROBES`` earlier ones."""
    return max(min(window, 86400), -(-window // _MAX_PROBES))


def _join_ctes(p: FunnelParams, first: FirstTouch) -> list[tuple[str, str]]:
    """Default mode without exclusions, with hash joins instead of window sorts.

    ``q{i}`` holds (person, time of a step-i event, b): b is the latest start of a chain that reaches step i
    at that event. A step-(i+1) event at ts extends the chain with the latest b among the step-i rows at or
    before ts with b >= ts - window (the same quantity as the window formulation's running max: every such
    row lies in [ts - window, ts]). Rows are keyed on (person, time bucket): candidates in the same bucket and
    the one before are compared pairwise; each bucket further back contributes only its largest b (if that
    one is out of reach, all of them are). No sort of all funnel rows, which is what a window pass costs.

    The step-i side is the one copied once per bucket it can reach (bk, bk + 1, ...), and the step-(i+1)
    rows are the ones looked up: the hash table is then built on the later step, which is the smaller side
    in any real funnel (step 1 is most of the rows), and step 1 flows through the join without being
    gathered into a table of its own. With views first this took the funnel's largest join from about 1.0
    to 0.5 s of CPU on 10M events.
    """
    n, w = len(p.steps), p.window
    width = _bucket_seconds(w)
    probes = -(-w // width)
    rows, uses_ev = _step_rows(p)
    bucket = f"CAST(floor(date_diff('second', {_EPOCH}, ts) / {width}) AS BIGINT)"
    ctes = [("ev", _events_cte(p))] if uses_ev else []
    ctes.append(("s", f"SELECT person_id, ts, step, bv, {bucket} AS bk FROM ({rows}) s0"))
    reach = f"INTERVAL '{w}' SECOND"
    for i in range(1, n):
        # Step 1's rows are read from s in place (a CTE of them would be one more copy of most of the rows).
        prev = "SELECT person_id, ts, ts AS b, bk FROM s WHERE step = 1" if i == 1 else f"SELECT person_id, ts, b, bk FROM q{i}"
        cur = f"SELECT person_id, ts, bk FROM s WHERE step = {i + 1}"
        # The row's own bucket and the one after are compared pairwise (one window's worth of candidates at
        # most); buckets 2..probes after (windows over a day) by their largest b only. Duplicate rows (same
        # person and time) would only repeat candidates: no DISTINCT, which costs a hash table.
        if i == 1:
            # A step-1 row's chain start is its own time: the probe rows carry no copy of it through the
            # union and the join (bench/results/notes.md).
            near = " UNION ALL ".join(f"SELECT person_id, ts, bk + {k} AS pk FROM s WHERE step = 1" for k in (0, 1))
            b = "q.ts"
        else:
            near = " UNION ALL ".join(f"SELECT person_id, ts, b, bk + {k} AS pk FROM ({prev}) p{k}" for k in (0, 1))
            b = "q.b"
        arms = [f"SELECT t.person_id, t.ts, t.bk, {b} AS b FROM ({cur}) t JOIN ({near}) q ON q.person_id = t.person_id "
                f"AND q.pk = t.bk WHERE q.ts <= t.ts AND {b} >= t.ts - {reach}"]
        if probes > 1:
            ctes.append((f"m{i}", f"SELECT person_id, bk, max(b) AS b FROM ({prev}) p GROUP BY person_id, bk"))
            far = " UNION ALL ".join(f"SELECT person_id, b, bk + {k} AS pk FROM m{i}" for k in range(2, probes + 1))
            arms.append(f"SELECT t.person_id, t.ts, t.bk, m.b FROM ({cur}) t JOIN ({far}) m ON m.person_id = t.person_id "
                        f"AND m.pk = t.bk WHERE m.b >= t.ts - {reach}")
        ctes.append((f"q{i + 1}", f"SELECT person_id, ts, bk, max(b) AS b FROM ({' UNION ALL '.join(arms)}) c "
                                  "GROUP BY person_id, ts, bk"))
    ctes.extend(_levels_ctes(p, first))
    return ctes


# The breakdown value's code is packed below the first instant's microseconds since 2000: codes < _CODES, and
# the instant within _PACK_FROM.._PACK_TO (140 years either side: |microseconds| * _CODES stays below 2**62).
_CODES = 1024
_PACK_FROM, _PACK_TO = ts_literal(dt.datetime(1860, 1, 1)), ts_literal(dt.datetime(2140, 1, 1))
_EPOCH = ts_literal(dt.datetime(2000, 1, 1))
# How pu's first touch is found: "none" (no breakdown read), "join" (the step-1 rows at the first instant,
# joined back), "packed" (one min per person of the packed instant and value code; see _first_touch_packed).
FirstTouch = Literal["none", "join", "packed"]


def _micros(column: str) -> str:
    return f"date_diff('microsecond', {_EPOCH}, {column})"


def _first_touch_packed() -> list[tuple[str, str]]:
    """``bc`` (breakdown value -> code), ``r1`` (first instant per person, code of its value), ``pk_ok``.

    The first touch is the step-1 row at the person's earliest instant; of several there, the smallest value
    (NULL last, as ``min``). Coding the values in their order (a DISTINCT of a few values) and packing the code
    below the instant's microseconds makes one ``min`` per person give both, instead of a ``min(ts)`` and a
    join of every step-1 row back to it. ``pk_ok`` says whether the pack was exact (at most _CODES values,
    every first instant in range); where it is not, :func:`run_funnel` runs the join form instead."""
    code = "row_number() OVER (ORDER BY bv NULLS LAST) - 1"
    # Out of range the pack is NULL (and pk_ok false) rather than an overflow.
    pack = f"CASE WHEN s.ts >= {_PACK_FROM} AND s.ts < {_PACK_TO} THEN {_micros('s.ts')} * {_CODES} + bc.code END"
    return [
        ("bc", f"SELECT bv, {code} AS code FROM (SELECT DISTINCT bv FROM s WHERE step = 1) d"),
        ("fa", f"SELECT s.person_id, min(s.ts) AS f1, min({pack}) AS fk FROM s JOIN bc ON s.bv IS NOT DISTINCT FROM bc.bv "
               "WHERE s.step = 1 GROUP BY s.person_id"),
        ("pk_ok", f"SELECT (SELECT count(*) FROM bc) <= {_CODES} AND coalesce(min(f1) >= {_PACK_FROM} "
                  f"AND max(f1) < {_PACK_TO}, TRUE) AS ok FROM fa"),
        ("r1", f"SELECT person_id, 1 AS lv, f1, fk - {_micros('f1')} * {_CODES} AS bv, CAST(NULL AS BIGINT) AS ttc FROM fa"),
    ]


def _levels_ctes(p: FunnelParams, first: FirstTouch) -> list[tuple[str, str]]:
    """From ``s`` (step rows) and ``q2..qn`` (rows reaching each step, with their chain start b) to ``pu``.

    pu's bv: the breakdown value at the first touch ("join"), its code ("packed", decoded through ``bc``), or
    NULL ("none": no breakdown, a user dimension joined later, or a query that reads no breakdown)."""
    n = len(p.steps)
    bv_type = "VARCHAR"
    if first == "packed":
        ctes = _first_touch_packed()
        bv_type = "BIGINT"
    else:
        ctes = [("f", "SELECT person_id, min(ts) AS f1 FROM s WHERE step = 1 GROUP BY person_id")]
        ctes.append((
            "r1",
            # Every step-1 row at the first instant (several when they tie): pu's min(bv) picks among them, so
            # no GROUP BY of its own here.
            "SELECT f.person_id, 1 AS lv, f.f1, s.bv, CAST(NULL AS BIGINT) AS ttc FROM f "
            "JOIN s ON s.person_id = f.person_id AND s.ts = f.f1 AND s.step = 1"
            if first == "join" else
            "SELECT person_id, 1 AS lv, f1, CAST(NULL AS VARCHAR) AS bv, CAST(NULL AS BIGINT) AS ttc FROM f",
        ))
    reached = ["SELECT * FROM r1"]
    for i in range(2, n + 1):
        ttc = "date_diff('second', b, ts)" if i == n else "CAST(NULL AS BIGINT)"
        reached.append(f"SELECT person_id, {i} AS lv, CAST(NULL AS TIMESTAMP) AS f1, CAST(NULL AS {bv_type}) AS bv, "
                       f"{ttc} AS ttc FROM q{i}")
    ctes.append((
        "pu",
        "SELECT person_id, max(lv) AS level, min(f1) AS f1, min(bv) AS bv, min(ttc) AS ttc FROM (\n  "
        + "\n  UNION ALL ".join(reached) + ") r GROUP BY person_id",
    ))
    return ctes


def _default_ctes(p: FunnelParams, first: FirstTouch) -> list[tuple[str, str]]:
    if not p.exclusions:
        return _join_ctes(p, first)
    n = len(p.steps)
    rows, uses_ev = _step_rows(p)
    ctes = [("ev", _events_cte(p)), ("s", rows)] if uses_ev else [("s", rows)]
    # Level by level, each window sees only two steps: the rows that reached step i (with their chain start b)
    # and the raw step-(i+1) rows (plus exclusions). The running max of b is the latest chain start at step i.
    excl_rows = " OR step = 0" if p.exclusions else ""
    excl = f", max(CASE WHEN step = 0 THEN ts END) OVER ({_ORDER}) AS x" if p.exclusions else ""
    x_ok = " AND (x IS NULL OR a > x)" if p.exclusions else ""
    for i in range(1, n):
        if i == 1:
            src = f"SELECT person_id, ts, step, CASE WHEN step = 1 THEN ts END AS b FROM s WHERE step <= 2{excl_rows}"
        else:
            src = (f"SELECT person_id, ts, {i} AS step, b FROM q{i}\n  UNION ALL SELECT person_id, ts, step, "
                   f"CAST(NULL AS TIMESTAMP) AS b FROM s WHERE step = {i + 1}{excl_rows}")
        ctes.append((f"c{i}", f"SELECT person_id, ts, step, max(b) OVER ({_ORDER}) AS a{excl} FROM ({src}) u"))
        # A step-(i+1) row extends the latest chain at step i when it is within the window of that chain's start
        # (and, with exclusions, the chain started after the last exclusion event).
        ctes.append((
            f"q{i + 1}",
            f"SELECT person_id, ts, a AS b FROM c{i} WHERE step = {i + 1} AND a >= ts - INTERVAL '{p.window}' SECOND{x_ok}",
        ))
    ctes.extend(_levels_ctes(p, first))
    return ctes


def _strict_ctes(p: FunnelParams) -> list[tuple[str, str]]:
    n = len(p.steps)
    flags = ", ".join(f"CASE WHEN {s.sql()} THEN 1 ELSE 0 END AS m{i + 1}" for i, s in enumerate(p.steps))
    # Ties at one instant are ordered by the lowest step the event matches, the order that lets it convert.
    order_key = "CASE " + " ".join(f"WHEN {s.sql()} THEN {i + 1}" for i, s in enumerate(p.steps)) + " ELSE 0 END"
    seq = (
        f"SELECT person_id, ts, event_id, bv, {flags}, {order_key} AS k, "
        f"CASE WHEN {p.steps[0].sql()} AND {_start_range(p)} THEN 1 ELSE 0 END AS ok1 FROM ev"
    )
    w = "OVER (PARTITION BY person_id ORDER BY ts, k, event_id)"
    reach: list[str] = []
    for L in range(2, n + 1):
        # Reaching step L at this row: the L-1 rows before it matched steps 1..L-1, in order, with the
        # first one a valid start inside the window.
        conds = [f"lag(ok1, {L - 1}) {w} = 1"]
        conds += [f"lag(m{i}, {L - i}) {w} = 1" for i in range(2, L)]
        conds += [f"m{L} = 1", f"lag(ts, {L - 1}) {w} >= ts - INTERVAL '{p.window}' SECOND"]
        reach.append(" AND ".join(conds))
    cols = ", ".join(f"CASE WHEN {c} THEN 1 ELSE 0 END AS r{L}" for L, c in enumerate(reach, 2))
    ttc = f"CASE WHEN {reach[-1]} THEN date_diff('second', lag(ts, {n - 1}) {w}, ts) END AS ttc"
    first = ", min(CASE WHEN ok1 = 1 THEN ts END) OVER (PARTITION BY person_id) AS f1" if p.by else ""
    lagged = f"SELECT person_id, ts, bv, ok1{first}, ok1 AS r1, {cols}, {ttc} FROM seq"
    level = "CASE " + " ".join(f"WHEN max(r{i}) = 1 THEN {i}" for i in range(n, 0, -1)) + " ELSE 0 END"
    bsel = "min(CASE WHEN ok1 = 1 AND ts = f1 THEN bv END)" if p.by else "CAST(NULL AS VARCHAR)"
    pu = (
        f"SELECT person_id, {level} AS level, min(CASE WHEN ok1 = 1 THEN ts END) AS f1, {bsel} AS bv, "
        "min(ttc) AS ttc FROM lg GROUP BY person_id"
    )
    return [("ev", _events_cte(p)), ("seq", seq), ("lg", lagged), ("pu", pu)]


def _any_ctes(p: FunnelParams) -> list[tuple[str, str]]:
    n = len(p.steps)
    flags = ", ".join(f"CASE WHEN {s.sql()} THEN 1 ELSE 0 END AS m{i + 1}" for i, s in enumerate(p.steps))
    low = "CASE " + " ".join(f"WHEN {s.sql()} THEN {i + 1}" for i, s in enumerate(p.steps)) + " ELSE 0 END"
    seq = (
        f"SELECT person_id, ts, bv, {flags}, {low} AS low, "
        f"CASE WHEN {_start_range(p)} THEN 1 ELSE 0 END AS inr FROM ev"
    )
    # Every funnel event is a candidate start; h_i says whether step i occurs in [ts, ts + window].
    frame = f"OVER (PARTITION BY person_id ORDER BY ts RANGE BETWEEN CURRENT ROW AND INTERVAL '{p.window}' SECOND FOLLOWING)"
    hs = ", ".join(f"max(m{i}) {frame} AS h{i}" for i in range(1, n + 1))
    win = f"SELECT person_id, ts, bv, low, inr, {hs} FROM seq"
    # A start reaches k when steps 1..k are all in its window and the start itself is one of them.
    lv = "CASE " + " ".join(
        f"WHEN inr = 1 AND low BETWEEN 1 AND {k} AND " + " AND ".join(f"h{i} = 1" for i in range(1, k + 1)) + f" THEN {k}"
        for k in range(n, 0, -1)
    ) + " ELSE 0 END"
    first = ", min(CASE WHEN lv >= 1 THEN ts END) OVER (PARTITION BY person_id) AS f1" if p.by else ""
    starts = f"SELECT person_id, ts, bv, lv{first} FROM (SELECT person_id, ts, bv, {lv} AS lv FROM hw) z"
    bsel = "min(CASE WHEN lv >= 1 AND ts = f1 THEN bv END)" if p.by else "CAST(NULL AS VARCHAR)"
    pu = (
        f"SELECT person_id, max(lv) AS level, min(CASE WHEN lv >= 1 THEN ts END) AS f1, {bsel} AS bv, "
        "CAST(NULL AS BIGINT) AS ttc FROM st GROUP BY person_id"
    )
    return [("ev", _events_cte(p)), ("seq", seq), ("hw", win), ("st", starts), ("pu", pu)]


def _first_touch(p: FunnelParams, breakdown: bool, packed: bool) -> FirstTouch:
    """How the default mode finds the first touch: a breakdown by an event value packed (or joined) with it."""
    if not breakdown or p.by is None or p.by.kind == "user":
        return "none"
    return "packed" if packed else "join"


def _person_ctes(p: FunnelParams, breakdown: bool = True, packed: bool = True) -> list[tuple[str, str]]:
    """CTEs ending in ``pb``: one row per person with level (steps reached), f1 (first start), bv, ttc.

    ``breakdown=False``: the caller reads no bv (time to convert, dropped persons), so the first touch is a
    bare ``min(ts)``. In the default mode with a breakdown by an event value, bv is the value's code
    (``bc.code``) unless ``packed=False``."""
    if p.mode == "default":
        ctes = _default_ctes(p, _first_touch(p, breakdown, packed))
    else:
        ctes = {"strict": _strict_ctes, "any": _any_ctes}[p.mode](p)
    if p.by is not None and p.by.kind == "user":
        ctes.append(("ud", p.by.user_cte()))
        ctes.append((
            "pb",
            "SELECT pu.person_id, pu.level, pu.f1, ud.bvalue AS bv, pu.ttc FROM pu LEFT JOIN ud ON ud.person_id = pu.person_id",
        ))
    else:
        ctes.append(("pb", "SELECT person_id, level, f1, bv, ttc FROM pu"))
    return ctes


def build_funnel_sql(p: FunnelParams, packed: bool = True) -> str:
    """Users per (breakdown value, entry period, level reached): the counts everything else derives from.

    Where the breakdown is packed (see :func:`_first_touch_packed`), every row also carries ``packed``: false
    when the pack could not be exact, and the rows must then be read again with ``packed=False``."""
    period = local_day("f1", p.timezone)
    if p.period == "week":
        period = f"CAST(date_trunc('week', {period}) AS DATE)"
    if p.mode == "default" and _first_touch(p, True, packed) == "packed":
        # Grouped by the code; the few result rows are decoded.
        counts = f"SELECT bv, {period} AS period, level, count(*) AS users FROM pb WHERE level >= 1 GROUP BY bv, {period}, level"
        body = (f"SELECT bc.bv AS bvalue, g.period, g.level, g.users, (SELECT ok FROM pk_ok) AS packed FROM ({counts}) g "
                "LEFT JOIN bc ON bc.code = g.bv ORDER BY bvalue, period, level")
    else:
        body = (f"SELECT bv AS bvalue, {period} AS period, level, count(*) AS users FROM pb WHERE level >= 1 "
                f"GROUP BY bv, {period}, level ORDER BY bvalue, period, level")
    return with_ctes(_person_ctes(p, packed=packed), body)


def build_ttc_sql(p: FunnelParams) -> str:
    """Time to convert (first step to last) of converted persons: shortest completing chain each."""
    buckets, lower = [], 0
    for i, (_, upper) in enumerate(TTC_EDGES):
        buckets.append(f"sum(CASE WHEN ttc >= {lower} AND ttc < {upper} THEN 1 ELSE 0 END) AS b{i}")
        lower = upper
    buckets.append(f"sum(CASE WHEN ttc >= {lower} THEN 1 ELSE 0 END) AS b{len(TTC_EDGES)}")
    body = (
        f"SELECT count(ttc) AS users, median(ttc) AS median_s, avg(ttc) AS mean_s, {', '.join(buckets)} "
        f"FROM pb WHERE level = {len(p.steps)} AND ttc IS NOT NULL"
    )
    return with_ctes(_person_ctes(p, breakdown=False), body)


def build_dropped_sql(p: FunnelParams, step: int) -> str:
    """Persons who reached step ``step - 1`` (1-based) but not ``step``."""
    if not 2 <= step <= len(p.steps):
        raise JingyunError("bad_step", f"step must be between 2 and {len(p.steps)}, got {step}", "step")
    return with_ctes(_person_ctes(p, breakdown=False), f"SELECT person_id FROM pb WHERE level = {step - 1} ORDER BY person_id")


# -- results --------------------------------------------------------------------------------------
@dataclass
class FunnelStep:
    name: str
    users: int
    conversion: float  # users / users at step 1
    step_conversion: float  # users / users at the previous step (1.0 for step 1)
    drop_off: int  # users at the previous step who did not reach this one (0 for step 1)


@dataclass
class BreakdownGroup:
    value: str
    steps: list[FunnelStep]


@dataclass
class TrendPoint:
    period: str  # first day of the period, local date, in which persons first entered the funnel
    users: list[int]
    conversion: list[float]


@dataclass
class TtcBucket:
    label: str
    users: int


@dataclass
class TimeToConvert:
    users: int
    median_seconds: float | None
    mean_seconds: float | None
    buckets: list[TtcBucket]


@dataclass
class PreviousPeriod:
    date_from: str
    date_to: str
    steps: list[FunnelStep]


@dataclass
class StepLoss:
    """The weakest step: the lowest step conversion (ties: the larger drop-off)."""

    step: str
    index: int  # 1-based; always >= 2 (step 1 has no step conversion)
    step_conversion: float
    drop_off: int


@dataclass
class StepChange:
    """The step whose step conversion moved most against the previous period."""

    step: str
    index: int  # 1-based, >= 2
    step_conversion: float
    previous_step_conversion: float
    change: float  # step_conversion - previous_step_conversion


@dataclass
class Bottleneck:
    """The weakest step (lowest step conversion) and the step that moved most vs the previous period."""

    largest_loss: StepLoss
    largest_change: StepChange | None


@dataclass
class FunnelResult:
    mode: str
    window_seconds: int
    date_from: str | None
    date_to: str | None
    steps: list[FunnelStep]
    bottleneck: Bottleneck
    breakdown: list[BreakdownGroup] = field(default_factory=list)
    breakdown_by: str | None = None
    trend: list[TrendPoint] = field(default_factory=list)
    time_to_convert: TimeToConvert | None = None
    previous: PreviousPeriod | None = None
    sql: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _steps(names: list[str], reached: list[int]) -> list[FunnelStep]:
    out = []
    for i, (name, users) in enumerate(zip(names, reached, strict=True)):
        prev = reached[i - 1] if i else users
        out.append(FunnelStep(
            name=name, users=users, conversion=ratio(users, reached[0]),
            step_conversion=ratio(users, prev) if i else 1.0, drop_off=prev - users,
        ))
    return out


def _reached(levels: dict[int, int], n: int) -> list[int]:
    """Persons at each step from persons per highest level reached (reaching k means reaching 1..k)."""
    return [sum(c for lv, c in levels.items() if lv >= k) for k in range(1, n + 1)]


def _bottleneck(steps: list[FunnelStep], previous: list[FunnelStep] | None) -> Bottleneck:
    later = steps[1:]
    worst = min(later, key=lambda s: (s.step_conversion, -s.drop_off))
    loss = StepLoss(step=worst.name, index=steps.index(worst) + 1, step_conversion=worst.step_conversion,
                    drop_off=worst.drop_off)
    change = None
    if previous is not None and previous[0].users:
        deltas = [(round(cur.step_conversion - old.step_conversion, 6), i, cur, old)
                  for i, (cur, old) in enumerate(zip(steps, previous, strict=True)) if i]
        delta, i, cur, old = max(deltas, key=lambda d: (abs(d[0]), -d[1]))
        change = StepChange(step=cur.name, index=i + 1, step_conversion=cur.step_conversion,
                            previous_step_conversion=old.step_conversion, change=delta)
    return Bottleneck(largest_loss=loss, largest_change=change)


def check_steps_exist(backend: Backend, p: FunnelParams) -> None:
    names = sorted({s.event for s in p.steps})
    found = {r["event"] for r in rows(backend, f"SELECT DISTINCT event FROM events WHERE event IN "
                                               f"({', '.join(quote(n) for n in names)})")}
    for i, step in enumerate(p.steps):
        if step.event not in found:
            raise JingyunError("unknown_step", f"no events named {step.event!r} in the warehouse", f"steps[{i}]")


def run_funnel(backend: Backend, p: FunnelParams, *, compare: bool = True, ttc: bool = True,
               validate_steps: bool = True) -> FunnelResult:
    """Run a funnel: counts per step, breakdown, trend, time to convert, previous period, bottleneck."""
    if validate_steps:
        check_steps_exist(backend, p)
    n, names = len(p.steps), [s.event for s in p.steps]
    sql = build_funnel_sql(p)
    counts = rows(backend, sql)
    ran = [sql]
    if not all(r.get("packed", True) for r in counts):
        # Too many breakdown values, or a first touch out of the pack's range: the exact join form instead.
        sql = build_funnel_sql(p, packed=False)
        counts = rows(backend, sql)
        ran.append(sql)
    total: dict[int, int] = {}
    by_value: dict[str, dict[int, int]] = {}
    by_period: dict[str, dict[int, int]] = {}
    for r in counts:
        lv, users = int(r["level"]), int(r["users"])
        total[lv] = total.get(lv, 0) + users
        bucket = by_value.setdefault("(none)" if r["bvalue"] is None else str(r["bvalue"]), {})
        bucket[lv] = bucket.get(lv, 0) + users
        per = by_period.setdefault(str(r["period"]), {})
        per[lv] = per.get(lv, 0) + users
    steps = _steps(names, _reached(total, n))
    breakdown = [BreakdownGroup(v, _steps(names, _reached(lvs, n))) for v, lvs in sorted(by_value.items())] if p.by else []
    trend = []
    for period, plv in sorted(by_period.items()):
        reached = _reached(plv, n)
        trend.append(TrendPoint(period, reached, [ratio(x, reached[0]) for x in reached]))
    time_to_convert = None
    if ttc and p.mode != "any":
        tsql = build_ttc_sql(p)
        t = rows(backend, tsql)[0]
        ran.append(tsql)
        labels = [label for label, _ in TTC_EDGES] + [f">={TTC_EDGES[-1][0].split('-')[-1]}"]
        time_to_convert = TimeToConvert(
            users=int(t["users"] or 0),
            median_seconds=None if t["median_s"] is None else float(t["median_s"]),
            mean_seconds=None if t["mean_s"] is None else round(float(t["mean_s"]), 3),
            buckets=[TtcBucket(lb, int(t[f"b{i}"] or 0)) for i, lb in enumerate(labels)],
        )
    previous = None
    prev_p = p.previous() if compare else None
    if prev_p is not None:
        psql = build_funnel_sql(dataclasses.replace(prev_p, by=None))
        plevels: dict[int, int] = {}
        for r in rows(backend, psql):
            plevels[int(r["level"])] = plevels.get(int(r["level"]), 0) + int(r["users"])
        ran.append(psql)
        previous = PreviousPeriod(str(prev_p.date_from), str(prev_p.date_to), _steps(names, _reached(plevels, n)))
    return FunnelResult(
        mode=p.mode, window_seconds=p.window,
        date_from=str(p.date_from) if p.date_from else None, date_to=str(p.date_to) if p.date_to else None,
        steps=steps, bottleneck=_bottleneck(steps, previous.steps if previous else None),
        breakdown=breakdown, breakdown_by=p.by.label if p.by else None, trend=trend,
        time_to_convert=time_to_convert, previous=previous, sql=ran,
    )


def dropped_users(backend: Backend, p: FunnelParams, step: int) -> list[str]:
    """Person ids who reached step ``step - 1`` but not ``step`` (1-based), e.g. to save as a segment."""
    return [str(r["person_id"]) for r in rows(backend, build_dropped_sql(p, step))]
