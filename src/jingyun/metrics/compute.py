"""Compute a metric from the dictionary: one portable query, typed result.

:func:`build_query` turns (metric, range, grain, breakdown) into one portable
SQL query and runs nothing; :func:`compute` runs it on a backend (DuckDB or
Spark) and combines the parts in Python — per-period averages (DAU at month
grain is the mean daily count over the month's days in range), ratios and
formulas. A derived value is ``None`` when its denominator is zero or a part is
missing, never a silent 0.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from jingyun.config import DEFAULT_TIMEZONE
from jingyun.errors import JingyunError
from jingyun.metrics import periods
from jingyun.metrics.definitions import real_people
from jingyun.metrics.model import GRAINS, Derived, Dictionary, Leaf, Metric, Source
from jingyun.metrics.sqlgen import Frame, assemble, check_by, day_sql, leaf_sql, users_dim_cte
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import quote

MAX_BUCKETS = 5000
_ADDITIVE = ("count", "count_distinct", "sum")


@dataclass(frozen=True)
class ComputeParams:
    metric: str
    date_from: dt.date
    date_to: dt.date
    grain: str | None = None  # None: the metric's own grain
    by: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    include_test: bool = False

    @classmethod
    def create(cls, metric: str, date_from: str | dt.date, date_to: str | dt.date, *, grain: str | None = None,
               by: str | None = None, timezone: str = DEFAULT_TIMEZONE, include_test: bool = False) -> ComputeParams:
        lo, hi = _date(date_from, "from"), _date(date_to, "to")
        if lo > hi:
            raise JingyunError("bad_range", f"from ({lo}) is after to ({hi})", "from")
        if grain is not None and grain not in GRAINS:
            raise JingyunError("bad_grain", f"grain must be one of {', '.join(GRAINS)}, got {grain!r}", "grain")
        if by is not None and not by.strip():
            by = None
        return cls(metric, lo, hi, grain, by.strip() if by else None, timezone, include_test)


def _date(value: str | dt.date, field: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise JingyunError("bad_date", f"cannot read date {value!r}; write YYYY-MM-DD", field) from None


@dataclass(frozen=True)
class MetricQuery:
    """The compiled query; ``leaves`` maps the part prefix (``0``, ``1``…) to the leaf metric's name."""

    metric: Metric
    grain: str
    sql: str
    leaves: dict[str, str]
    frame: Frame


@dataclass
class Point:
    bucket: dt.date
    label: str
    by_value: str | None
    value: float | None
    parts: dict[str, float | None] = field(default_factory=dict)


@dataclass
class MetricResult:
    metric: Metric
    date_from: dt.date
    date_to: dt.date
    grain: str
    by: str | None
    timezone: str
    points: list[Point]
    sql: str

    def to_dict(self) -> dict[str, Any]:
        m = self.metric
        return {
            "metric": m.name, "name": {"zh": m.zh, "en": m.en}, "unit": m.unit, "direction": m.direction,
            "from": self.date_from.isoformat(), "to": self.date_to.isoformat(), "grain": self.grain,
            "by": self.by, "timezone": self.timezone,
            "points": [{"bucket": p.bucket.isoformat(), "label": p.label, "by_value": p.by_value,
                        "value": p.value, "parts": p.parts} for p in self.points],
            "sql": self.sql,
        }


def leaves_of(d: Dictionary, name: str, out: dict[str, Leaf] | None = None) -> dict[str, Leaf]:
    """The leaf metrics a metric is built from, in first-use order."""
    out = {} if out is None else out
    formula = d.metric(name).formula
    if isinstance(formula, Derived):
        for ref in formula.references:
            leaves_of(d, ref, out)
    else:
        out.setdefault(name, formula)
    return out


def build_query(d: Dictionary, p: ComputeParams) -> MetricQuery:
    """The one portable query for a metric at a grain and breakdown (runs nothing)."""
    metric = d.metric(p.metric)
    grain = p.grain or metric.grain
    if len(periods.buckets(p.date_from, p.date_to, grain)) > MAX_BUCKETS:
        raise JingyunError("too_many_buckets", f"more than {MAX_BUCKETS} {grain} buckets; use a coarser grain", "grain")
    frame = Frame(p.date_from, p.date_to, grain, p.by, p.timezone, p.include_test)
    ctes = users_dim_cte(p.by)
    selects: list[str] = []
    prefixes: dict[str, str] = {}
    for i, (name, leaf) in enumerate(leaves_of(d, p.metric).items()):
        if leaf.per:
            periods.check_per(leaf.per, grain, name if name == p.metric else f"{p.metric} (via {name})")
        if p.by is not None:
            check_by(d.sources[leaf.source], p.by, p.metric)
        leaf_ctes, leaf_selects = leaf_sql(i, leaf, d.sources, frame)
        ctes += leaf_ctes
        selects += leaf_selects
        prefixes[str(i)] = name
    return MetricQuery(metric, grain, assemble(ctes, selects), prefixes, frame)


def _num(value: Any) -> float:
    return float(value) if isinstance(value, Decimal | int | float) else float(str(value))


def _div(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return num / den


class _Evaluator:
    """Values per (bucket, breakdown) from the query's parts, following the metric's definition."""

    def __init__(self, d: Dictionary, frame: Frame, parts: dict[tuple[str, dt.date, str | None], dict[str, float]]):
        self.d, self.parts = d, parts
        # Windows have disjoint buckets (see _disjoint), so their per-period counts never collide.
        self.per_counts = {per: {b: n for a, z in frame.spans
                                 for b, n in periods.periods_per_bucket(a, z, frame.grain, per).items()}
                           for per in ("day", "week", "month")}

    def leaf(self, name: str, leaf: Leaf, b: dt.date, dv: str | None) -> float | None:
        got = self.parts.get((name, b, dv), {})
        if leaf.kind in _ADDITIVE:
            value = got.get("value", 0.0)
            return value / self.per_counts[leaf.per][b] if leaf.per else value
        if leaf.kind == "sql":
            return got.get("value")
        if leaf.kind in ("avg", "interval"):
            return _div(got.get("sum"), got.get("n"))
        if leaf.kind == "retention":
            return _div(got.get("retained", 0.0), got.get("cohort"))
        return _div(got.get("revenue", 0.0), got.get("cohort"))

    def value(self, name: str, b: dt.date, dv: str | None) -> float | None:
        formula = self.d.metric(name).formula
        if isinstance(formula, Leaf):
            return self.leaf(name, formula, b, dv)
        refs = {ref: self.value(ref, b, dv) for ref in formula.references}
        if formula.kind == "ratio":
            ratio = _div(refs[formula.references[0]], refs[formula.references[1]])
            return None if ratio is None else ratio * formula.scale
        return _eval(ast.parse(formula.expression, mode="eval").body, refs)

    def parts_of(self, name: str, b: dt.date, dv: str | None) -> dict[str, float | None]:
        formula = self.d.metric(name).formula
        if isinstance(formula, Derived):
            return {ref: self.value(ref, b, dv) for ref in formula.references}
        return dict(self.parts.get((name, b, dv), {}))


def _eval(node: ast.expr, refs: dict[str, float | None]) -> float | None:
    """Arithmetic validated by the dictionary (+ - * / numbers names); None propagates."""
    if isinstance(node, ast.Constant):
        return float(node.value) if isinstance(node.value, int | float) else None
    if isinstance(node, ast.Name):
        return refs[node.id]
    if isinstance(node, ast.UnaryOp):
        inner = _eval(node.operand, refs)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    assert isinstance(node, ast.BinOp)
    left, right = _eval(node.left, refs), _eval(node.right, refs)
    if left is None or right is None:
        return None
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    return _div(left, right)


def _read_parts(rows: list[dict[str, Any]], leaves: dict[str, Any]
                ) -> tuple[dict[Any, dict[tuple[str, dt.date, str | None], dict[str, float]]], set[str | None]]:
    """Rows of ``part, b, dv, v`` → parts per (key of the prefix) and (leaf, bucket, breakdown value)."""
    parts: dict[Any, dict[tuple[str, dt.date, str | None], dict[str, float]]] = {}
    dims: set[str | None] = set()
    for row in rows:
        prefix, part = str(row["part"]).split(":", 1)
        key, name = leaves[prefix]
        b = row["b"]
        bucket = b if isinstance(b, dt.date) and not isinstance(b, dt.datetime) else _date(str(b)[:10], "bucket")
        dv = row["dv"]
        if row["v"] is not None:
            parts.setdefault(key, {}).setdefault((name, bucket, dv), {})[part] = _num(row["v"])
        dims.add(dv)
    return parts, dims


def _points(d: Dictionary, metric: str, frame: Frame, ev: _Evaluator, dims: set[str | None]) -> list[Point]:
    return [
        Point(b, periods.bucket_label(b, frame.grain) if frame.grain != "total" else f"{lo}..{hi}", dv,
              ev.value(metric, b, dv), ev.parts_of(metric, b, dv))
        for dv in sorted(dims, key=lambda v: (v is None, v or ""))
        for lo, hi in frame.spans
        for b in periods.buckets(lo, hi, frame.grain)
    ]


def run_query(backend: Backend, d: Dictionary, q: MetricQuery) -> MetricResult:
    table = backend.run(q.sql)
    parts, dims = _read_parts(table.to_pylist(), {k: (None, v) for k, v in q.leaves.items()})
    f = q.frame
    if f.by is None:
        dims = {None}
    points = _points(d, q.metric.name, f, _Evaluator(d, f, parts.get(None, {})), dims)
    return MetricResult(q.metric, f.date_from, f.date_to, q.grain, f.by, f.timezone, points, q.sql)


def compute(backend: Backend, d: Dictionary, p: ComputeParams) -> MetricResult:
    """The metric per bucket (and breakdown value) over [from, to] in local calendar days."""
    return run_query(backend, d, build_query(d, p))


def value_over(backend: Backend, d: Dictionary, metric: str, date_from: dt.date, date_to: dt.date, *,
               grain: str = "total", timezone: str = DEFAULT_TIMEZONE) -> float | None:
    """One number for a period: the metric over the whole range (``total``), or the mean of its bucket values."""
    res = compute(backend, d, ComputeParams(metric, date_from, date_to, grain, None, timezone))
    values = [p.value for p in res.points if p.value is not None]
    if grain == "total":
        return res.points[0].value if res.points else None
    return sum(values) / len(values) if values else None


Window = tuple[dt.date, dt.date]


@dataclass(frozen=True)
class PeriodsQuery:
    """Several metrics over several periods in one query; ``leaves`` maps a part prefix to (grain, leaf)."""

    sql: str
    leaves: dict[str, tuple[str, str]]
    frames: dict[str, Frame]


def _disjoint(windows: tuple[Window, ...], grain: str) -> bool:
    """Windows share no day and no bucket, so one query can label each row with its window's bucket."""
    seen_days: set[dt.date] = set()
    seen_buckets: set[dt.date] = set()
    for lo, hi in windows:
        days = set(periods.days(lo, hi))
        bs = set(periods.buckets(lo, hi, grain)) if grain != "total" else {lo}
        if days & seen_days or bs & seen_buckets:
            return False
        seen_days |= days
        seen_buckets |= bs
    return True


def build_periods_query(d: Dictionary, metrics: list[tuple[str, str]], windows: tuple[Window, ...],
                        timezone: str = DEFAULT_TIMEZONE) -> PeriodsQuery:
    """One query (runs nothing) for (metric, grain) pairs over disjoint windows.

    Every row is read once per leaf for all windows (the range is the union, the bucket says
    which window); a leaf used by several metrics at the same grain (``orders`` in conversion
    and refund rate) is computed once.
    """
    for _, grain in metrics:
        if not _disjoint(windows, grain):
            raise JingyunError("bad_range", f"periods overlap at {grain} grain; compute them one by one", "period")
    lo, hi = min(w[0] for w in windows), max(w[1] for w in windows)
    frames: dict[str, Frame] = {}
    ctes: list[tuple[str, str]] = []
    selects: list[str] = []
    prefixes: dict[str, tuple[str, str]] = {}
    seen: set[tuple[str, str]] = set()
    texts: dict[str, str] = {}  # CTE text → name: leaves over the same rows (GMV, orders, buyers) share them
    for metric, grain in metrics:
        if sum(len(periods.buckets(a, z, grain)) for a, z in windows) > MAX_BUCKETS:
            raise JingyunError("too_many_buckets", f"more than {MAX_BUCKETS} {grain} buckets; use a coarser grain",
                               "grain")
        frame = frames.setdefault(grain, Frame(lo, hi, grain, None, timezone, False, windows))
        for name, leaf in leaves_of(d, metric).items():
            if (grain, name) in seen:
                continue
            seen.add((grain, name))
            if leaf.per:
                periods.check_per(leaf.per, grain, name if name == metric else f"{metric} (via {name})")
            i = len(prefixes)
            leaf_ctes, leaf_selects = leaf_sql(i, leaf, d.sources, frame)
            renames: dict[str, str] = {}
            for cte, sql in leaf_ctes:
                sql = _renamed(sql, renames)
                if sql in texts:
                    renames[cte] = texts[sql]  # the same rows already read for another leaf
                else:
                    texts[sql] = cte
                    ctes.append((cte, sql))
            selects += [_renamed(sel, renames) for sel in leaf_selects]
            prefixes[str(i)] = (grain, name)
    return PeriodsQuery(assemble(ctes, selects), prefixes, frames)


def _renamed(sql: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        sql = re.sub(rf"\b{old}\b", new, sql)
    return sql


def _period_value(ev: _Evaluator, metric: str, grain: str, lo: dt.date, hi: dt.date) -> float | None:
    # As value_over: the whole-period value, or the mean of the bucket values that exist.
    if grain == "total":
        return ev.value(metric, lo, None)
    values = [v for b in periods.buckets(lo, hi, grain) if (v := ev.value(metric, b, None)) is not None]
    return sum(values) / len(values) if values else None


def values_over(backend: Backend, d: Dictionary, metrics: list[tuple[str, str]], windows: list[Window], *,
                timezone: str = DEFAULT_TIMEZONE) -> dict[tuple[str, str], dict[Window, float | None]]:
    """:func:`value_over` for every (metric, grain) and window, in as few queries as the windows allow.

    Disjoint windows (a period, the one before, the one a year earlier) take one query for
    all metrics; windows whose buckets collide (two months sharing a week) fall back to one
    query per window, with the same values either way.
    """
    unique = tuple(dict.fromkeys(windows))
    out: dict[tuple[str, str], dict[Window, float | None]] = {m: {} for m in metrics}
    if not metrics or not unique:
        return out
    batched = [m for m in metrics if _disjoint(unique, m[1])]
    groups = [(batched, unique)] if batched else []
    groups += [([m], (w,)) for m in metrics if m not in batched for w in unique]
    for ms, ws in groups:
        q = build_periods_query(d, ms, ws, timezone)
        parts, _ = _read_parts(backend.run(q.sql).to_pylist(), q.leaves)
        for metric, grain in ms:
            ev = _Evaluator(d, q.frames[grain], parts.get(grain, {}))
            for lo, hi in ws:
                out[(metric, grain)][(lo, hi)] = _period_value(ev, metric, grain, lo, hi)
    return out


def _first_day_sql(i: int, name: str, src: Source, timezone: str) -> tuple[str, str]:
    """(CTE, SELECT) giving the source's first local day as ``s, d``."""
    live = real_people("t", column=src.test) if src.test else "TRUE"
    cte = f"SELECT t.{src.time} FROM {src.sql} t WHERE {live}"
    if src.time_type == "date":
        return cte, f"SELECT {quote(name)} AS s, min(x.{src.time}) AS d FROM _x{i} x"
    # Converting every row to a local day costs a full scan of time-zone arithmetic (half a second
    # on a million events); the first local day lies within a day of the first instant (zone
    # offsets move by hours), so only those rows are converted. The CTE is read twice: a dataset
    # with a join (order profit) is still computed once.
    return cte, (f"SELECT {quote(name)} AS s, min({day_sql(src, 'x', timezone)}) AS d FROM _x{i} x "
                 f"WHERE x.{src.time} <= (SELECT min(y.{src.time}) + INTERVAL 2 DAY FROM _x{i} y)")


def data_starts(backend: Backend, d: Dictionary, metrics: list[str], timezone: str) -> dict[str, dt.date | None]:
    """First local day on which every source a metric reads has data (None if one is empty), one query for all.

    Used to tell "no data for that period" (a missing comparison) from a true zero.
    """
    needs = {m: {d.sources[leaf.source].name for leaf in leaves_of(d, m).values()} for m in metrics}
    sources = {name: d.sources[name] for names in needs.values() for name in sorted(names)}
    if not sources:
        return {m: None for m in metrics}
    parts = [_first_day_sql(i, name, s, timezone) for i, (name, s) in enumerate(sources.items())]
    table = backend.run(assemble([(f"_x{i}", cte) for i, (cte, _) in enumerate(parts)], [sel for _, sel in parts]))
    firsts = {r["s"]: (None if r["d"] is None else r["d"] if isinstance(r["d"], dt.date) else _date(str(r["d"])[:10], "d"))
              for r in table.to_pylist()}
    out: dict[str, dt.date | None] = {}
    for m, names in needs.items():
        days = [firsts.get(n) for n in names]
        out[m] = None if not days or any(v is None for v in days) else max(v for v in days if v is not None)
    return out


def data_start(backend: Backend, d: Dictionary, metric: str, timezone: str) -> dt.date | None:
    """:func:`data_starts` for one metric."""
    return data_starts(backend, d, [metric], timezone)[metric]
