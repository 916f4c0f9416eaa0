"""KPI targets and balanced scorecards (KPI目标与平衡计分卡).

A target says: metric, threshold (``>=`` higher is better, ``<=`` lower is
better), the value, its weight, owner, balanced-scorecard perspective and the
period it applies to (every ``month``, or one named period such as ``2026-10``).
``grain: day`` puts the target on the daily average (e.g. daily new users ≥ 500);
the default ``total`` on the metric over the whole period.

Attainment (达成率) is actual/target for ``>=`` and target/actual for ``<=``
(an actual of 0 or below on a ``<=`` target counts as the cap). Status bands
are configurable (default green ≥ 100%, yellow ≥ 90%, else red). The composite
score is the weighted mean of attainment clipped to [0, cap] (default cap
120%), so one runaway KPI cannot hide the others. Weights that do not sum to
100% are **normalised** (the score divides by their total) and a warning says
so; a target with no data scores 0 and shows ``no_data`` — missing numbers are
a failure to report, not a pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from jingyun.config import DEFAULT_TIMEZONE, Settings
from jingyun.errors import JingyunError, yaml_problem
from jingyun.metrics.compute import ComputeParams, build_query, data_starts, values_over
from jingyun.metrics.model import PERSPECTIVES, Dictionary
from jingyun.metrics.periods import Period, parse_period
from jingyun.warehouse.backends import Backend

EXAMPLE_PATH = Path(__file__).with_name("kpi_targets.yaml")
Op = Literal[">=", "<="]
Status = Literal["green", "yellow", "red", "no_data"]
PERSPECTIVE_NAMES = {"financial": "财务", "customer": "客户", "process": "内部流程", "learning": "学习与成长"}
_PERIOD_KINDS = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class Bands:
    green: float = 1.0
    yellow: float = 0.9

    def status(self, attainment: float | None) -> Status:
        if attainment is None:
            return "no_data"
        if attainment >= self.green:
            return "green"
        return "yellow" if attainment >= self.yellow else "red"


@dataclass(frozen=True)
class Target:
    id: str
    metric: str
    op: Op
    value: float
    weight: float  # a fraction: 20% → 0.2
    owner: str
    perspective: str
    period: str  # a period kind ("month") or one period's label ("2026-10")
    grain: str = "total"
    name_zh: str = ""
    name_en: str = ""

    def attainment(self, actual: float | None, cap: float) -> float | None:
        if actual is None:
            return None
        if self.op == ">=":
            return actual / self.value
        return self.value / actual if actual > 0 else cap


@dataclass(frozen=True)
class TargetSet:
    targets: tuple[Target, ...]
    bands: Bands = Bands()
    cap: float = 1.2
    origin: str = ""

    def for_period(self, period: Period) -> list[Target]:
        """Targets for one period: a target named for the period replaces a recurring one with the same id."""
        chosen: dict[str, Target] = {}
        for t in self.targets:
            if t.period == period.kind and t.id not in chosen:
                chosen[t.id] = t
        for t in self.targets:
            if t.period == period.label:
                chosen[t.id] = t
        return list(chosen.values())


# -- reading targets ----------------------------------------------------------
def _fail(origin: str, path: str, message: str) -> JingyunError:
    return JingyunError("bad_target", f"{origin}: {path}: {message}", path)


def _number(origin: str, value: Any, path: str, *, percent_points: bool = False) -> float:
    """``3%`` → 0.03; bare numbers as written (weights: bare numbers are percentage points)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise _fail(origin, path, f"cannot read {value!r} as a number or percentage") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(origin, path, f"must be a number or a percentage such as 30%, got {value!r}")
    return float(value) / 100 if percent_points else float(value)


def parse_targets(data: Any, d: Dictionary, origin: str) -> TargetSet:
    if not isinstance(data, dict):
        raise _fail(origin, "(top level)", "must be a mapping with targets (and optional bands, score_cap)")
    for key in data:
        if key not in ("targets", "bands", "score_cap"):
            raise _fail(origin, key, "unknown field; allowed: targets, bands, score_cap")
    bands_raw = data.get("bands") or {}
    if not isinstance(bands_raw, dict):
        raise _fail(origin, "bands", "must be a mapping like {green: 100%, yellow: 90%}")
    green = _number(origin, bands_raw.get("green", 1.0), "bands.green")
    yellow = _number(origin, bands_raw.get("yellow", 0.9), "bands.yellow")
    if not 0 <= yellow <= green:
        raise _fail(origin, "bands.yellow", f"must be between 0 and the green band ({green:.0%})")
    cap = _number(origin, data.get("score_cap", 1.2), "score_cap")
    if cap < 1:
        raise _fail(origin, "score_cap", "must be at least 100%")
    raw = data.get("targets")
    if not isinstance(raw, list) or not raw:
        raise _fail(origin, "targets", "must be a non-empty list of targets")
    targets = [_target(origin, item, i, d) for i, item in enumerate(raw)]
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(targets):
        if (t.id, t.period) in seen:
            raise _fail(origin, f"targets[{i}].id", f"target {t.id!r} is set twice for period {t.period}")
        seen.add((t.id, t.period))
    return TargetSet(tuple(targets), Bands(green, yellow), cap, origin)


_TARGET_FIELDS = {"id", "metric", "op", "target", "weight", "owner", "perspective", "period", "grain", "name"}


def _target(origin: str, item: Any, i: int, d: Dictionary) -> Target:
    path = f"targets[{i}]"
    if not isinstance(item, dict):
        raise _fail(origin, path, "must be a mapping")
    for key in item:
        if key not in _TARGET_FIELDS:
            raise _fail(origin, f"{path}.{key}", f"unknown field; allowed: {', '.join(sorted(_TARGET_FIELDS))}")
    name = item.get("metric")
    if not isinstance(name, str) or name not in d.metrics:
        raise _fail(origin, f"{path}.metric", f"unknown metric {name!r}; see `jingyun metrics list`")
    metric = d.metrics[name]
    op_raw = str(item.get("op", ">=" if metric.direction == "higher" else "<=")).strip()
    op = {"higher": ">=", "lower": "<=", "≥": ">=", "≤": "<="}.get(op_raw, op_raw)
    if op not in (">=", "<="):
        raise _fail(origin, f"{path}.op", f"must be >= (higher is better) or <= (lower is better), got {op_raw!r}")
    if "target" not in item:
        raise _fail(origin, f"{path}.target", "is required")
    value = _number(origin, item["target"], f"{path}.target")
    if value <= 0:
        raise _fail(origin, f"{path}.target", "must be above 0 (attainment is a ratio to the target)")
    if "weight" not in item:
        raise _fail(origin, f"{path}.weight", "is required, e.g. 20%")
    weight = _number(origin, item["weight"], f"{path}.weight", percent_points=True)
    if weight <= 0:
        raise _fail(origin, f"{path}.weight", "must be above 0")
    period = str(item.get("period", "month")).strip()
    if period not in _PERIOD_KINDS:
        try:
            period = parse_period(period, f"{path}.period").label
        except JingyunError:
            raise _fail(origin, f"{path}.period", f"write a kind ({', '.join(_PERIOD_KINDS)}) or one period "
                        "such as 2026-10, 2026-Q4, 2026-W41") from None
    grain = str(item.get("grain", "total"))
    try:
        build_query(d, ComputeParams.create(name, "2026-01-01", "2026-12-31", grain=grain))
    except JingyunError as exc:
        raise _fail(origin, f"{path}.grain", exc.message) from None
    perspective = str(item.get("perspective", metric.perspective))
    if perspective not in PERSPECTIVES:
        raise _fail(origin, f"{path}.perspective", f"must be one of {', '.join(PERSPECTIVES)}")
    names = item.get("name") or {}
    if not isinstance(names, dict):
        raise _fail(origin, f"{path}.name", "must be {zh: ..., en: ...}")
    owner = item.get("owner", metric.owner)
    if not isinstance(owner, str) or not owner.strip():
        raise _fail(origin, f"{path}.owner", "must be a non-empty string")
    return Target(
        id=str(item.get("id", name)), metric=name, op=op, value=value, weight=weight,  # type: ignore[arg-type]
        owner=owner.strip(), perspective=perspective, period=period, grain=grain,
        name_zh=str(names.get("zh", metric.zh)), name_en=str(names.get("en", metric.en)),
    )


def targets_path(settings: Settings) -> Path:
    """``$JINGYUN_HOME/kpi_targets.yaml``, else the shipped example for the demo business."""
    own = settings.home / "kpi_targets.yaml"
    return own if own.exists() else EXAMPLE_PATH


def load_targets(d: Dictionary, path: Path) -> TargetSet:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JingyunError("bad_target", f"cannot read {path}: {exc.strerror}", "targets") from None
    except yaml.YAMLError as exc:
        raise JingyunError("bad_target", f"{path}: not valid YAML: {yaml_problem(exc)}", "targets") from None
    return parse_targets(data, d, str(path))


# -- scorecard ------------------------------------------------------------------
@dataclass
class Comparison:
    """The same target's metric in another period; ``value`` None when there is no data for it."""

    period: str
    value: float | None
    change: float | None
    change_pct: float | None


@dataclass
class TargetResult:
    target: Target
    unit: str
    actual: float | None
    attainment: float | None
    status: Status
    score: float  # attainment clipped to [0, cap]; 0 without data
    gap: float | None  # actual - target
    previous: Comparison
    year_ago: Comparison


@dataclass
class PerspectiveResult:
    perspective: str
    weight: float
    score: float | None
    status: Status
    targets: list[TargetResult] = field(default_factory=list)


@dataclass
class Scorecard:
    period: Period
    score: float | None
    status: Status
    weight_total: float
    normalised: bool
    bands: Bands
    cap: float
    perspectives: list[PerspectiveResult]
    warnings: list[str]
    targets_file: str


def _compare(current: float | None, period: Period, other: float | None) -> Comparison:
    change = None if current is None or other is None else current - other
    pct = None if change is None or not other else change / abs(other)
    return Comparison(period.label, other, change, pct)


def _weighted(results: list[TargetResult]) -> tuple[float, float | None]:
    total = sum(r.target.weight for r in results)
    return total, (sum(r.target.weight * r.score for r in results) / total if total else None)


def scorecard(backend: Backend, d: Dictionary, targets: TargetSet, period: Period,
              timezone: str = DEFAULT_TIMEZONE) -> Scorecard:
    chosen = targets.for_period(period)
    if not chosen:
        kinds = sorted({t.period for t in targets.targets})
        raise JingyunError("no_targets", f"no targets apply to {period.label}; the targets are set for "
                           f"{', '.join(kinds)} (in {targets.origin})", "period")
    prev, ago = period.previous(), period.year_ago()
    # Every target's metric over the three periods in one query (not three per target): the
    # cockpit shows the card on its first view after each ingestion.
    starts = data_starts(backend, d, list(dict.fromkeys(t.metric for t in chosen)), timezone)
    windows = [(p.start, p.end) for p in (period, prev, ago)]
    values = values_over(backend, d, list(dict.fromkeys((t.metric, t.grain) for t in chosen)), windows,
                         timezone=timezone)
    results: list[TargetResult] = []
    for t in chosen:
        first = starts[t.metric]

        def measure(p: Period, t: Target = t, first: dt.date | None = first) -> float | None:
            # A period that begins before the metric's data does is missing, not zero.
            if first is None or p.start < first:
                return None
            return values[(t.metric, t.grain)][(p.start, p.end)]

        actual = measure(period)
        att = t.attainment(actual, targets.cap)
        results.append(TargetResult(
            target=t, unit=d.metrics[t.metric].unit, actual=actual, attainment=att,
            status=targets.bands.status(att), score=0.0 if att is None else min(max(att, 0.0), targets.cap),
            gap=None if actual is None else actual - t.value,
            previous=_compare(actual, prev, measure(prev)), year_ago=_compare(actual, ago, measure(ago)),
        ))
    perspectives = []
    for name in PERSPECTIVES:
        group = [r for r in results if r.target.perspective == name]
        if group:
            w, s = _weighted(group)
            perspectives.append(PerspectiveResult(name, w, s, targets.bands.status(s), group))
    total, score = _weighted(results)
    warnings = [f"{r.target.id}: no data for {period.label}; scored 0" for r in results if r.actual is None]
    normalised = abs(total - 1.0) > 1e-9
    if normalised:
        warnings.insert(0, f"weights sum to {total:.0%}, not 100%; the score is normalised by their total")
    return Scorecard(period, score, targets.bands.status(score), total, normalised, targets.bands, targets.cap,
                     perspectives, warnings, targets.origin)


# -- JSON ---------------------------------------------------------------------------
def _r(x: float | None) -> float | None:
    # Exact values in JSON: rounding is for the table view only.
    return x


def target_dict(t: Target) -> dict[str, Any]:
    return {"id": t.id, "metric": t.metric, "name": {"zh": t.name_zh, "en": t.name_en}, "op": t.op,
            "target": t.value, "weight": t.weight, "owner": t.owner, "perspective": t.perspective,
            "period": t.period, "grain": t.grain}


def _cmp_dict(c: Comparison) -> dict[str, Any]:
    return {"period": c.period, "value": _r(c.value), "change": _r(c.change), "change_pct": _r(c.change_pct)}


def scorecard_dict(card: Scorecard) -> dict[str, Any]:
    def result(r: TargetResult) -> dict[str, Any]:
        return {**target_dict(r.target), "unit": r.unit, "actual": _r(r.actual), "attainment": _r(r.attainment),
                "status": r.status, "score": _r(r.score), "gap": _r(r.gap),
                "previous": _cmp_dict(r.previous), "year_ago": _cmp_dict(r.year_ago)}

    return {
        "period": card.period.label, "from": card.period.start.isoformat(), "to": card.period.end.isoformat(),
        "score": _r(card.score), "status": card.status, "weight_total": _r(card.weight_total),
        "weights_normalised": card.normalised, "bands": {"green": card.bands.green, "yellow": card.bands.yellow},
        "score_cap": card.cap,
        "perspectives": [{"perspective": p.perspective, "zh": PERSPECTIVE_NAMES[p.perspective],
                          "weight": _r(p.weight), "score": _r(p.score), "status": p.status,
                          "targets": [result(r) for r in p.targets]} for p in card.perspectives],
        "warnings": card.warnings, "targets_file": card.targets_file,
    }


# -- a KPI card for any date range (the cockpit) -----------------------------------
_ADDITIVE_KINDS = ("count", "sum")


@dataclass
class KpiCard:
    """One target's metric over a range and the range before it, with the target prorated to the range.

    ``actual``/``previous`` are the dictionary's metric (:func:`jingyun.metrics.compute.compute`),
    never a number of the card's own; ``days``/``values`` are the daily series from the
    previous range's first day on (the sparkline).
    """

    target: Target
    unit: str
    direction: str
    goal: float
    actual: float | None
    previous: float | None
    attainment: float | None
    status: Status
    change: float | None
    days: list[dt.date]
    values: list[float | None]
    applicable: bool = True


def target_for_range(d: Dictionary, t: Target, date_from: dt.date, date_to: dt.date) -> float:
    """A whole-period target of an additive metric (amounts, counts) prorated by days; others as set."""
    from jingyun.metrics.model import Leaf
    from jingyun.metrics.periods import period_of

    formula = d.metric(t.metric).formula
    if t.grain != "total" or not isinstance(formula, Leaf) or formula.kind not in _ADDITIVE_KINDS:
        return t.value
    days = (date_to - date_from).days + 1
    period = period_of(t.period, date_to) if t.period in _PERIOD_KINDS else None  # type: ignore[arg-type]
    return t.value * days / (period.days if period else days)


def _values(backend: Backend, d: Dictionary, metric: str, lo: dt.date, hi: dt.date, grain: str, timezone: str,
            by: str | None, value: str | None) -> tuple[list[dt.date], list[float | None]] | None:
    from jingyun.metrics.compute import compute

    try:
        res = compute(backend, d, ComputeParams(metric, lo, hi, grain, by if value else None, timezone))
    except JingyunError as exc:
        if exc.code == "bad_dimension":
            return None
        raise
    pts = [p for p in res.points if not value or p.by_value == value]
    return [p.bucket for p in pts], [p.value for p in pts]


def kpi_card(backend: Backend, d: Dictionary, targets: TargetSet, t: Target, date_from: dt.date,
             date_to: dt.date, *, timezone: str = DEFAULT_TIMEZONE, by: str | None = None,
             value: str | None = None, compare: tuple[dt.date, dt.date] | None = None) -> KpiCard:
    """The card of target ``t`` over [date_from, date_to] against the same number of days before it
    (or against ``compare``, e.g. the same days a year earlier), optionally for one value of a breakdown
    (``by`` = ``value``)."""
    days = (date_to - date_from).days + 1
    prev_to = date_from - dt.timedelta(days=1)
    prev_from = prev_to - dt.timedelta(days=days - 1)
    if compare is not None:
        prev_from, prev_to = compare
    metric = d.metric(t.metric)
    try:
        daily = _values(backend, d, t.metric, min(prev_from, date_from), max(prev_to, date_to), "day", timezone,
                        by, value)
        applicable = daily is not None
    except JingyunError as exc:
        if exc.code != "bad_grain":
            raise
        daily, applicable = None, True  # counted per week or month: no daily sparkline, the totals still hold
    spark_days, spark = daily or ([], [])

    def measure(lo: dt.date, hi: dt.date) -> float | None:
        if not applicable:
            return None
        if t.grain == "day" and daily is not None:  # the mean of the daily values, as a day-grain target is set
            vals = [v for day, v in zip(spark_days, spark, strict=True) if lo <= day <= hi and v is not None]
            return sum(vals) / len(vals) if vals else None
        # Any other grain: the metric over the whole range (a month-grain target over a custom range).
        got = _values(backend, d, t.metric, lo, hi, "total", timezone, by, value)
        return got[1][0] if got and got[1] else None

    actual, before = measure(date_from, date_to), measure(prev_from, prev_to)
    goal = target_for_range(d, t, date_from, date_to)
    att = dataclasses.replace(t, value=goal).attainment(actual, targets.cap)
    change = None if actual is None or before is None or not before else (actual - before) / abs(before)
    shown = [(day, v) for day, v in zip(spark_days, spark, strict=True) if day >= date_from]
    return KpiCard(t, metric.unit, metric.direction, goal, actual, before, att, targets.bands.status(att), change,
                   [s[0] for s in shown], [s[1] for s in shown], applicable)
