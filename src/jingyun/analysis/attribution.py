"""Multi-touch attribution (多触点归因): which marketing channels earned the conversions.

A conversion is an order (``placed_orders``: not cancelled; ``real_people``) or,
with ``conversion="event"``, an occurrence of a named event. Its *path* is the
person's touches (table ``touches``) at or before the conversion and at most
``lookback`` before it, ordered by time (ties by channel name, so results are
deterministic). Each conversion looks back on its own, as in GA4: a touch that
precedes two orders inside the window counts toward both.

Rule-based models give each touch a weight; weights of one conversion sum to 1:

* ``first_touch`` 首次触点 — all to the first touch; ``last_touch`` 末次触点 — all to the last.
* ``linear`` 线性 — 1/n to each of the n touches.
* ``time_decay`` 时间衰减 — proportional to 2^(−age/half_life), age = conversion time − touch
  time; touches at identical times get identical weights.
* ``position`` 位置(U型) — 40 % first, 40 % last, 20 % shared by the middle touches
  (n = 1: 100 %; n = 2: 50 %/50 %). The 40/20/40 split is a parameter.

The data-driven model ``markov`` 马尔可夫 fits a first-order Markov chain on the
touch sequences: converting paths end in ``(conversion)``; the touches inside
the date range that belong to no conversion's window form one non-converting path
per person, ending in ``(null)``. The removal effect of channel c is
RE_c = 1 − P(conversion | c removed) / P(conversion), where removing c sends every
transition into c to ``(null)``; conversions and revenue are shared in proportion
to RE_c / Σ RE.

Conversions with no touch in their window are credited to ``(none)`` (无触点/直接), so
every model's credits sum to the number of conversions and to their revenue —
which :func:`run_attribution` asserts. SQL computes the weights and the
transition counts; Python only solves the small Markov chain.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from jingyun.analysis.common import check_event, check_range, check_timezone, parse_date, parse_duration, rows
from jingyun.config import DEFAULT_TIMEZONE
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED, real_people
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import quote, ts_literal, utc_start, with_ctes

Model = Literal["first_touch", "last_touch", "linear", "time_decay", "position", "markov"]
MODELS: tuple[str, ...] = ("first_touch", "last_touch", "linear", "time_decay", "position", "markov")
RULE_MODELS: tuple[str, ...] = MODELS[:5]
NONE_CHANNEL = "(none)"
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
# Orders that never happened are not conversions; refunds/returns were still conversions.


@dataclass(frozen=True)
class AttributionParams:
    model: Model = "last_touch"
    lookback_s: int = 30 * 86400
    half_life_s: int = 7 * 86400
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)
    conversion: Literal["order", "event"] = "order"
    conversion_event: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    timezone: str = DEFAULT_TIMEZONE
    include_test: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise JingyunError("bad_model", f"unknown model {self.model!r}; use one of {', '.join(MODELS)}", "model")
        if not isinstance(self.lookback_s, int) or self.lookback_s <= 0:
            raise JingyunError("bad_lookback", "lookback must be a positive duration, e.g. 30d", "lookback")
        if not isinstance(self.half_life_s, int) or self.half_life_s <= 0:
            raise JingyunError("bad_half_life", "half-life must be a positive duration, e.g. 7d", "half_life")
        w = self.position_weights
        if len(w) != 3 or any(x < 0 for x in w) or not math.isclose(sum(w), 1.0, abs_tol=1e-9) or w[0] + w[2] <= 0:
            raise JingyunError("bad_weights", "position weights must be three non-negative shares summing to 1, "
                               "e.g. 0.4,0.2,0.4", "position_weights")
        if self.conversion not in ("order", "event"):
            raise JingyunError("bad_conversion", "conversion must be order or event", "conversion")
        if self.conversion == "event":
            if not self.conversion_event:
                raise JingyunError("bad_conversion", "an event conversion needs the event name", "conversion_event")
            check_event(self.conversion_event, "conversion_event")
        check_range(self.date_from, self.date_to)
        check_timezone(self.timezone)

    @classmethod
    def create(
        cls,
        model: str = "last_touch",
        *,
        lookback: str | int = "30d",
        half_life: str | int = "7d",
        position_weights: tuple[float, float, float] | str = (0.4, 0.2, 0.4),
        conversion_event: str | None = None,
        date_from: str | dt.date | None = None,
        date_to: str | dt.date | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        include_test: bool = False,
    ) -> AttributionParams:
        if isinstance(position_weights, str):
            try:
                parts = tuple(float(x) for x in position_weights.split(","))
            except ValueError:
                raise JingyunError("bad_weights", "write position weights as first,middle,last, e.g. 0.4,0.2,0.4",
                                   "position_weights") from None
            if len(parts) != 3:
                raise JingyunError("bad_weights", "position weights need exactly three numbers", "position_weights")
            position_weights = (parts[0], parts[1], parts[2])
        return cls(
            model=model.replace("-", "_"),  # type: ignore[arg-type]
            lookback_s=parse_duration(lookback, "lookback"),
            half_life_s=parse_duration(half_life, "half_life"),
            position_weights=position_weights,
            conversion="event" if conversion_event else "order",
            conversion_event=conversion_event,
            date_from=parse_date(date_from, "from"),
            date_to=parse_date(date_to, "to"),
            timezone=timezone,
            include_test=include_test,
        )


def not_test(include_test: bool, alias: str = "") -> str:
    """The real_people definition (``alias`` written with its dot, as ``"o."``)."""
    return real_people(alias.rstrip("."), include_test=include_test)


def time_range(column: str, date_from: dt.date | None, date_to: dt.date | None, timezone: str,
               pad_s: int = 0) -> str:
    """``column`` inside the local days [from, to]; the lower bound moved back ``pad_s`` seconds."""
    parts = ["TRUE"]
    if date_from:
        parts.append(f"{column} >= {ts_literal(utc_start(date_from, timezone) - dt.timedelta(seconds=pad_s))}")
    if date_to:
        parts.append(f"{column} < {ts_literal(utc_start(date_to + dt.timedelta(days=1), timezone))}")
    return " AND ".join(parts)


def _ctes(p: AttributionParams, conv_sql: str | None = None) -> list[tuple[str, str]]:
    if conv_sql is not None:  # another analysis defines the conversions (channels: first orders)
        conv = conv_sql
    elif p.conversion == "order":
        conv = (f"SELECT order_id AS conv_id, person_id, ts AS cts, CAST(amount AS DOUBLE) AS value FROM orders "
                f"WHERE person_id IS NOT NULL AND {not_test(p.include_test)} "
                f"AND {SHIPPED.placed_orders.where()} AND {time_range('ts', p.date_from, p.date_to, p.timezone)}")
    else:
        conv = (f"SELECT event_id AS conv_id, person_id, ts AS cts, CAST(0 AS DOUBLE) AS value FROM events "
                f"WHERE person_id IS NOT NULL AND event = {quote(p.conversion_event)} AND {not_test(p.include_test)} "
                f"AND {time_range('ts', p.date_from, p.date_to, p.timezone)}")
    touch = (f"SELECT person_id, ts, channel, coalesce(campaign_id, '') AS camp FROM touches "
             f"WHERE person_id IS NOT NULL AND channel IS NOT NULL AND {not_test(p.include_test)} "
             f"AND {time_range('ts', p.date_from, p.date_to, p.timezone, p.lookback_s)}")
    # Touch age in seconds; touches after the conversion or beyond the lookback are not on its path.
    pairs = ("SELECT c.conv_id, c.value, t.person_id, t.ts, t.channel, t.camp, "
             "date_diff('second', t.ts, c.cts) AS age FROM conv c JOIN t ON t.person_id = c.person_id")
    path = ("SELECT conv_id, value, person_id, ts, channel, camp, age, "
            "row_number() OVER (PARTITION BY conv_id ORDER BY ts, channel, camp) AS rn, "
            "count(*) OVER (PARTITION BY conv_id) AS n, min(age) OVER (PARTITION BY conv_id) AS min_age "
            f"FROM pairs WHERE age >= 0 AND age <= {p.lookback_s}")
    return [("conv", conv), ("t", touch), ("pairs", pairs), ("ct", path)]


def build_rule_sql(p: AttributionParams, conv_sql: str | None = None) -> str:
    """Credits per channel for every rule-based model at once (columns ``<model>_conv`` and ``<model>_rev``),
    plus the untouched conversions as channel ``(none)``."""
    f, m, last = p.position_weights
    half_life = float(p.half_life_s)
    weights = {
        "first_touch": "CASE WHEN rn = 1 THEN 1.0 ELSE 0.0 END",
        "last_touch": "CASE WHEN rn = n THEN 1.0 ELSE 0.0 END",
        "linear": "1.0 / n",
        # With no middle touches the middle share goes to the ends in proportion to their weights.
        "position": (f"CASE WHEN n = 1 THEN 1.0 "
                     f"WHEN n = 2 THEN CASE WHEN rn = 1 THEN {f / (f + last)!r} ELSE {last / (f + last)!r} END "
                     f"WHEN rn = 1 THEN {f!r} WHEN rn = n THEN {last!r} ELSE {m!r} / (n - 2) END"),
        # Relative to the youngest touch of the path, so old paths never underflow to 0/0.
        "time_decay": "dw / sum(dw) OVER (PARTITION BY conv_id)",
    }
    wcols = ", ".join(f"{w} AS w_{name}" for name, w in weights.items())
    ctes = [
        *_ctes(p, conv_sql),
        ("cw", f"SELECT conv_id, value, channel, rn, n, exp(-{math.log(2)!r} * (age - min_age) / {half_life!r}) AS dw "
               "FROM ct"),
        ("w", f"SELECT conv_id, value, channel, {wcols} FROM cw"),
        ("touched", "SELECT DISTINCT conv_id FROM ct"),
    ]
    sums = ", ".join(f"sum(w_{name}) AS {name}_conv, sum(w_{name} * value) AS {name}_rev" for name in weights)
    none = ", ".join(f"count(*) AS {name}_conv, sum(value) AS {name}_rev" for name in weights)
    body = (f"SELECT channel, {sums} FROM w GROUP BY channel\n"
            f"UNION ALL SELECT {quote(NONE_CHANNEL)} AS channel, {none} FROM conv "
            "WHERE NOT EXISTS (SELECT 1 FROM touched WHERE touched.conv_id = conv.conv_id)\n"
            "ORDER BY channel")
    return with_ctes(ctes, body)


def build_totals_sql(p: AttributionParams, conv_sql: str | None = None) -> str:
    """Conversions and revenue in range, and how many of them had a touch."""
    body = ("SELECT count(*) AS conversions, sum(value) AS revenue, "
            "sum(CASE WHEN conv_id IN (SELECT conv_id FROM ct) THEN 1 ELSE 0 END) AS touched, "
            "sum(CASE WHEN conv_id IN (SELECT conv_id FROM ct) THEN value ELSE 0 END) AS touched_revenue FROM conv")
    return with_ctes(_ctes(p, conv_sql), body)


def build_transitions_sql(p: AttributionParams, conv_sql: str | None = None) -> str:
    """Transition counts (src, dst, n) of the converting and non-converting touch paths."""
    ctes = [
        *_ctes(p, conv_sql),
        # Touches in range that lie on no conversion's path: one non-converting path per person.
        ("used", "SELECT DISTINCT person_id, ts, channel, camp FROM ct"),
        ("free", "SELECT t.person_id, t.ts, t.channel, t.camp FROM t WHERE "
                 f"{time_range('t.ts', p.date_from, p.date_to, p.timezone)} AND NOT EXISTS (SELECT 1 FROM used u "
                 "WHERE u.person_id = t.person_id AND u.ts = t.ts AND u.channel = t.channel AND u.camp = t.camp)"),
        ("fseq", "SELECT person_id, channel, "
                 "row_number() OVER (PARTITION BY person_id ORDER BY ts, channel, camp) AS rn, "
                 "count(*) OVER (PARTITION BY person_id) AS n FROM free"),
        ("steps",
         f"SELECT coalesce(lag(channel) OVER (PARTITION BY conv_id ORDER BY rn), {quote(START)}) AS src, "
         "channel AS dst FROM ct "
         f"UNION ALL SELECT channel AS src, {quote(CONVERSION)} AS dst FROM ct WHERE rn = n "
         f"UNION ALL SELECT coalesce(lag(channel) OVER (PARTITION BY person_id ORDER BY rn), {quote(START)}) AS src, "
         "channel AS dst FROM fseq "
         f"UNION ALL SELECT channel AS src, {quote(NULL)} AS dst FROM fseq WHERE rn = n"),
    ]
    return with_ctes(ctes, "SELECT src, dst, count(*) AS n FROM steps GROUP BY src, dst ORDER BY src, dst")


def conversion_probability(counts: dict[tuple[str, str], float], removed: str | None = None) -> float:
    """P(reaching ``(conversion)`` from ``(start)``) of the absorbing chain the counts define;
    with ``removed``, every transition into that channel goes to ``(null)`` instead."""
    states = sorted({s for s, _ in counts} - {CONVERSION, NULL})
    if START not in states:
        return 0.0
    index = {s: i for i, s in enumerate(states)}
    out = np.zeros(len(states))
    for (src, _), n in counts.items():
        out[index[src]] += n
    q = np.zeros((len(states), len(states)))
    r = np.zeros(len(states))
    for (src, dst), n in counts.items():
        if out[index[src]] == 0 or src == removed:
            continue
        prob = n / out[index[src]]
        if dst == CONVERSION:
            r[index[src]] += prob
        elif dst in index and dst != removed:
            q[index[src], index[dst]] += prob
        # Transitions to (null), to the removed channel or to unknown states are absorbed as failures.
    # x = Q x + r: the conversion probability of each transient state.
    x = np.linalg.lstsq(np.eye(len(states)) - q, r, rcond=None)[0]
    return float(x[index[START]])


def removal_effects(counts: dict[tuple[str, str], float]) -> dict[str, float]:
    base = conversion_probability(counts)
    channels = sorted({s for s, _ in counts} | {d for _, d in counts})
    channels = [c for c in channels if c not in (START, CONVERSION, NULL)]
    if base <= 0:
        return {c: 0.0 for c in channels}
    return {c: max(0.0, 1.0 - conversion_probability(counts, c) / base) for c in channels}


@dataclass
class ChannelCredit:
    channel: str
    conversions: float
    revenue: float
    share: float  # of all conversions
    removal_effect: float | None = None  # markov only


@dataclass
class AttributionResult:
    model: str
    conversions: int
    revenue: float
    touched_conversions: int
    channels: list[ChannelCredit]
    lookback_s: int
    half_life_s: int | None = None
    sql: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_sums(model: str, credits: list[ChannelCredit], conversions: int, revenue: float) -> None:
    got_c = sum(c.conversions for c in credits)
    got_r = sum(c.revenue for c in credits)
    tol = 1e-6 * max(1.0, conversions)
    if abs(got_c - conversions) > tol or abs(got_r - revenue) > 1e-6 * max(1.0, abs(revenue)):
        raise AssertionError(f"{model} credits sum to {got_c}/{got_r}, expected {conversions}/{revenue}")


def _result(p: AttributionParams, model: str, by_channel: dict[str, tuple[float, float]], totals: dict[str, Any],
            effects: dict[str, float] | None, sql: list[str]) -> AttributionResult:
    conversions = int(totals["conversions"] or 0)
    revenue = float(totals["revenue"] or 0.0)
    credits = [
        ChannelCredit(ch, c, r, c / conversions if conversions else 0.0,
                      None if effects is None else (effects.get(ch) if ch != NONE_CHANNEL else None))
        for ch, (c, r) in by_channel.items() if c or r or (effects and effects.get(ch))
    ]
    credits.sort(key=lambda c: (-c.conversions, c.channel))
    _check_sums(model, credits, conversions, revenue)
    return AttributionResult(model, conversions, revenue, int(totals["touched"] or 0), credits, p.lookback_s,
                             p.half_life_s if model == "time_decay" else None, sql)


def run_attribution(backend: Backend, p: AttributionParams) -> AttributionResult:
    """Conversions and revenue credited per channel by ``p.model``."""
    return run_models(backend, p, (p.model,))[p.model]


def run_models(backend: Backend, p: AttributionParams, models: tuple[str, ...] = MODELS,
               conv_sql: str | None = None) -> dict[str, AttributionResult]:
    """Several models over the same conversions (one query for all rule-based models).

    ``conv_sql`` replaces the conversions: a portable query with columns
    ``conv_id, person_id, cts, value`` (used by the channel report).
    """
    for m in models:
        if m not in MODELS:
            raise JingyunError("bad_model", f"unknown model {m!r}; use one of {', '.join(MODELS)}", "model")
    tsql = build_totals_sql(p, conv_sql)
    totals = rows(backend, tsql)[0]
    out: dict[str, AttributionResult] = {}
    rule = [m for m in models if m in RULE_MODELS]
    none: tuple[float, float] = (0.0, 0.0)
    if rule or "markov" in models:
        rsql = build_rule_sql(p, conv_sql)
        got = rows(backend, rsql)
        for r in got:
            if r["channel"] == NONE_CHANNEL:
                none = (float(r["linear_conv"] or 0), float(r["linear_rev"] or 0))
        for m in rule:
            credit = {str(r["channel"]): (float(r[f"{m}_conv"] or 0), float(r[f"{m}_rev"] or 0)) for r in got}
            out[m] = _result(p, m, credit, totals, None, [tsql, rsql])
    if "markov" in models:
        msql = build_transitions_sql(p, conv_sql)
        counts = {(str(r["src"]), str(r["dst"])): float(r["n"]) for r in rows(backend, msql)}
        effects = removal_effects(counts)
        total_re = sum(effects.values())
        touched, touched_rev = float(totals["touched"] or 0), float(totals["touched_revenue"] or 0)
        credit = {}
        for ch, re in effects.items():
            share = re / total_re if total_re else 0.0
            credit[ch] = (touched * share, touched_rev * share)
        # Any touched conversion makes RE > 0 for the channels on its path, so the shares sum to 1.
        credit[NONE_CHANNEL] = none
        out["markov"] = _result(p, "markov", credit, totals, effects, [tsql, rsql, msql])
    return {m: out[m] for m in models}
