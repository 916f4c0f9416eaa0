"""Experiment aggregation in the warehouse: SQL does sums, Python does inference.

Semantics (one place, stated once):

* exposure = an ``exp_exposure`` event whose properties name the experiment;
  the *first* exposure per person counts (its variation and time t0; ties on
  time broken by variation name so the result is deterministic);
* the analysis window is ``[t0, t0 + N days)``; the CUPED pre-period is the
  same metric over ``[t0 - N days, t0)``;
* conversion = the person has a conversion event (default ``pay``) in the
  window; revenue = sum of ``orders.amount`` over ``valid_orders`` (metrics/definitions.py);
  orders = number of such orders; AOV = revenue / orders with the *user* as
  the unit (delta method), so the denominator is orders, not users;
* ``event:<name>`` = the person has event ``<name>`` in the window (e.g. a
  guardrail ``event:refund``);
* ``person_id`` is the user; rows with ``is_test`` are excluded.

The query (portable subset, no QUALIFY) returns one row per variation and
local exposure day with n, sums, sums of squares and cross-products; days are
summed in Python, giving both totals and the cumulative series.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from jingyun.errors import JingyunError
from jingyun.experiments.cuped import RegressionAdjustedStatistic
from jingyun.experiments.definition import Experiment
from jingyun.experiments.stats import ProportionStatistic, RatioStatistic, SampleMeanStatistic, Statistic
from jingyun.metrics.definitions import SHIPPED, real_people
from jingyun.warehouse.backends import Source, engine_of, require, writer
from jingyun.warehouse.sqltext import local_date, quote

Kind = Literal["proportion", "mean", "ratio"]
_EVENT = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: Kind
    column: str  # per-user value column (numerator for ratios)
    denominator: str | None = None
    label_en: str = ""
    label_zh: str = ""


# Metric-dictionary names (jingyun.metrics) an experiment may use, and the per-user
# form each takes in an experiment (measured in the window after first exposure).
DICTIONARY_METRICS: dict[str, str] = {
    "conversion_rate": "conversion", "gmv": "revenue", "revenue": "revenue", "orders": "orders", "aov": "aov",
}


def metric_def(name: str, conversion_event: str = "pay") -> MetricDef:
    if name in DICTIONARY_METRICS and DICTIONARY_METRICS[name] != name:
        base = metric_def(DICTIONARY_METRICS[name], conversion_event)
        return MetricDef(name, base.kind, base.column, base.denominator, base.label_en, base.label_zh)
    if name == "conversion":
        return MetricDef(name, "proportion", "conv", None, f"conversion ({conversion_event})", f"转化率({conversion_event})")
    if name == "revenue":
        return MetricDef(name, "mean", "rev", None, "revenue per user", "人均收入")
    if name == "orders":
        return MetricDef(name, "mean", "ord", None, "orders per user", "人均订单数")
    if name == "aov":
        return MetricDef(name, "ratio", "rev", "ord", "average order value", "客单价")
    if name.startswith("event:") and _EVENT.match(name[6:]):
        ev = name[6:]
        return MetricDef(name, "proportion", f"ev_{_col(ev)}", None, f"{ev} rate", f"{ev} 发生率")
    raise JingyunError(
        "unknown_metric",
        f"unknown metric {name!r}; use conversion, revenue, orders, aov, event:<name> or a metric-dictionary name "
        f"({', '.join(DICTIONARY_METRICS)})", "metric",
    )


def _col(event: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", event)


def _name(value: str) -> str:
    """A metric or event name as a literal: names are checked first, so a bad one is refused, not quoted."""
    if not _EVENT.match(value):
        raise JingyunError("bad_name", f"{value!r} is not a valid name", "metric")
    return quote(value)


def _segment_filter(exp: Experiment) -> str:
    """Targeted at a saved segment: only its members' exposures count (the segments
    capability keeps membership in the warehouse table ``segment_members``)."""
    if exp.targeting.segment is None:
        return ""
    return f"\n    AND person_id IN (SELECT person_id FROM segment_members WHERE segment = {quote(exp.targeting.segment)})"


def segment_memberships(source: Source, user_id: str) -> list[str]:
    """Saved segments a user's person belongs to, for segment targeting at assignment
    time (none when membership was never computed)."""
    engine = engine_of(source)
    require(engine, "derived_tables")
    if not (engine.has_table("segment_members") and engine.has_table("identities")):
        return []
    who = quote(user_id)
    rows = engine.rows(
        f"""SELECT segment FROM segment_members WHERE person_id = coalesce(
             (SELECT person_id FROM identities WHERE id_type = 'user_id' AND id_value = {who}), {who})""")
    return [str(r[0]) for r in rows]


def build_query(exp: Experiment, metrics: Sequence[MetricDef], timezone: str) -> str:
    """The aggregation query; runs nothing."""
    n = int(exp.window_days)
    win = f"INTERVAL '{n}' DAY"
    events = {exp.conversion_event: "conv"}
    for m in metrics:
        if m.name.startswith("event:"):
            events[m.name[6:]] = m.column
    ev_cols = []
    for name, col in events.items():
        post = f"e.event = {_name(name)} AND e.ts >= f.t0"
        pre = f"e.event = {_name(name)} AND e.ts < f.t0"
        ev_cols.append(f"max(CASE WHEN {post} THEN 1 ELSE 0 END) AS {col}_y")
        ev_cols.append(f"max(CASE WHEN {pre} THEN 1 ELSE 0 END) AS {col}_x")
    event_list = ", ".join(_name(e) for e in events)
    values = [c for c in events.values()] + ["rev", "ord"]
    per_user_cols = []
    for col in events.values():
        per_user_cols.append(f"CAST(coalesce(ev.{col}_y, 0) AS DOUBLE) AS {col}_y")
        per_user_cols.append(f"CAST(coalesce(ev.{col}_x, 0) AS DOUBLE) AS {col}_x")
    for col in ("rev", "ord"):
        per_user_cols.append(f"CAST(coalesce(od.{col}_y, 0) AS DOUBLE) AS {col}_y")
        per_user_cols.append(f"CAST(coalesce(od.{col}_x, 0) AS DOUBLE) AS {col}_x")
    aggs = ["count(*) AS n"]
    for col in values:
        aggs += [
            f"sum({col}_y) AS {col}_s", f"sum({col}_y * {col}_y) AS {col}_ss",
            f"sum({col}_x) AS {col}_xs", f"sum({col}_x * {col}_x) AS {col}_xss",
            f"sum({col}_x * {col}_y) AS {col}_xys",
        ]
    aggs.append("sum(rev_y * ord_y) AS rev_ord_ys")
    key = _name(exp.key)
    return f"""WITH exposures AS (
  SELECT person_id, ts, json_extract_string(properties, '$.variation') AS variation,
         row_number() OVER (PARTITION BY person_id
                            ORDER BY ts, json_extract_string(properties, '$.variation')) AS rn
  FROM events
  WHERE event = 'exp_exposure' AND json_extract_string(properties, '$.experiment') = {key}
    AND person_id IS NOT NULL AND {real_people()}{_segment_filter(exp)}
),
first_exp AS (SELECT person_id, variation, ts AS t0 FROM exposures WHERE rn = 1),
ev AS (
  SELECT f.person_id, {", ".join(ev_cols)}
  FROM first_exp f JOIN events e ON e.person_id = f.person_id
  WHERE e.event IN ({event_list}) AND {real_people('e')}
    AND e.ts >= f.t0 - {win} AND e.ts < f.t0 + {win}
  GROUP BY f.person_id
),
od AS (
  SELECT f.person_id,
    sum(CASE WHEN o.ts >= f.t0 THEN o.amount ELSE 0 END) AS rev_y,
    sum(CASE WHEN o.ts < f.t0 THEN o.amount ELSE 0 END) AS rev_x,
    sum(CASE WHEN o.ts >= f.t0 THEN 1 ELSE 0 END) AS ord_y,
    sum(CASE WHEN o.ts < f.t0 THEN 1 ELSE 0 END) AS ord_x
  FROM first_exp f JOIN orders o ON o.person_id = f.person_id
  WHERE {SHIPPED.order_rows('valid_orders', 'o')}
    AND o.ts >= f.t0 - {win} AND o.ts < f.t0 + {win}
  GROUP BY f.person_id
),
per_user AS (
  SELECT f.variation,
         {local_date("f.t0", timezone)} AS day,
         {", ".join(per_user_cols)}
  FROM first_exp f
  LEFT JOIN ev ON ev.person_id = f.person_id
  LEFT JOIN od ON od.person_id = f.person_id
)
SELECT variation, day, {", ".join(aggs)}
FROM per_user
GROUP BY variation, day
ORDER BY variation, day"""


@dataclass(frozen=True)
class DayAggregate:
    """Sums for one variation and exposure day (or a total, when ``day`` is None)."""

    variation: str
    day: dt.date | None
    n: int
    sums: dict[str, float]

    def __add__(self, other: DayAggregate) -> DayAggregate:
        keys = self.sums.keys() | other.sums.keys()
        return DayAggregate(
            self.variation, other.day, self.n + other.n,
            {k: self.sums.get(k, 0.0) + other.sums.get(k, 0.0) for k in keys},
        )


def fetch_aggregates(source: Source, sql: str) -> list[DayAggregate]:
    table = engine_of(source).run(sql)
    out = []
    for row in table.to_pylist():
        variation, day, n = row.pop("variation"), row.pop("day"), row.pop("n")
        out.append(DayAggregate(str(variation), day, int(n), {k: float(v or 0.0) for k, v in row.items()}))
    return out


def statistic(agg: DayAggregate, metric: MetricDef, *, cuped: bool) -> Statistic | RegressionAdjustedStatistic:
    s, c, n = agg.sums, metric.column, agg.n
    if metric.kind == "ratio":
        d = metric.denominator or "ord"
        return RatioStatistic(n, s[f"{c}_s"], s[f"{c}_ss"], s[f"{d}_s"], s[f"{d}_ss"], s["rev_ord_ys"])
    if cuped:
        post = SampleMeanStatistic(n, s[f"{c}_s"], s[f"{c}_ss"])
        pre = SampleMeanStatistic(n, s[f"{c}_xs"], s[f"{c}_xss"])
        return RegressionAdjustedStatistic(n, post, pre, s[f"{c}_xys"])
    if metric.kind == "proportion":
        return ProportionStatistic(n, s[f"{c}_s"])
    return SampleMeanStatistic(n, s[f"{c}_s"], s[f"{c}_ss"])


def write_exposures(source: Source, rows: Sequence[dict[str, Any]]) -> int:
    """Append exposure events (from :func:`assign`'s log) to ``events``.

    Until exposures arrive through the ingest service, ``person_id`` is the
    ``user_id`` (the SDK only sees logged-in ids) and rows go in as one Arrow batch.
    """
    wh = writer(engine_of(source))  # the warehouse of record: a declared gap on other engines
    if not rows:
        return 0
    batch = pa.table({
        "event_id": [r["event_id"] for r in rows],
        "user_id": [r["user_id"] for r in rows],
        "event": [r["event"] for r in rows],
        "ts": pa.array([r["ts"] for r in rows], pa.timestamp("us")),
        "properties": [json.dumps(r["properties"], ensure_ascii=False) for r in rows],
    })
    wh.con.register("_exp_batch", batch)
    try:
        wh.con.execute(
            "INSERT INTO events (event_id, user_id, event, ts, properties, person_id, is_test, _source) "
            "SELECT event_id, user_id, event, ts, CAST(properties AS JSON), user_id, false, 'experiments.sdk' "
            "FROM _exp_batch"
        )
    finally:
        wh.con.unregister("_exp_batch")
    return len(rows)
