"""Evaluating alert rules for one as-of day (评估预警规则).

A rule judges **complete periods**: a day rule the as-of day itself, a week rule the ISO week
(Monday-Sunday) on its Sunday, a month rule the calendar month on its last day. On other days a
week or month rule is not due, so replaying history day by day raises a monthly alert exactly on
the day its month closes. Every number is a metric of the dictionary (``metrics.compute``), and the
rules of one period kind share one batched query per set of windows (``values_over``).

Levels, with "or more" inclusive (a drop of exactly 10 % is yellow):

* ``change``: the bad-way move against the previous period or the same period a year earlier,
  relative to it: ≥ ``red`` → red, ≥ ``yellow`` → yellow, ≥ ``blue`` (if set) → blue. The metric's
  direction says which way is bad: a refund rate that falls is good news, not an alert.
* ``threshold`` / ``stop_loss``: the value (or a target's attainment) crosses ``op value`` → the
  rule's level (stop-loss lines default to red and carry their response plan).
* ``consecutive``: the condition held in each of the last ``periods`` periods, this one included.
* ``anomaly``: the detector (analysis.anomaly) flags the as-of day on the bad side.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jingyun.analysis.anomaly import SERIES, AnomalyParams, detect
from jingyun.analysis.explain import METRICS as EXPLAIN_METRICS
from jingyun.analysis.explain import ExplainParams, Period, run_explain
from jingyun.calendar import WorkCalendar, workspace_calendar
from jingyun.config import DEFAULT_TIMEZONE
from jingyun.errors import JingyunError
from jingyun.metrics.compute import ComputeParams, compute, data_starts, values_over
from jingyun.metrics.kpi import TargetSet, target_for_range
from jingyun.metrics.model import Dictionary
from jingyun.ops.alerts.rules import SEVERITY, Rule, RuleSet
from jingyun.warehouse.backends import Backend

Window = tuple[dt.date, dt.date]
EPS = 1e-9  # float slack so that a drop of exactly 10 % (0.1 computed as 0.09999999999999998) is 10 %
# Daily series of a source outside the warehouse (approvals' timeout rate): day → value, or None if unknown.
SourceReader = Callable[[str, list[Window]], dict[Window, float | None] | None]


@dataclass
class Finding:
    rule: Rule
    level: str
    period: Window
    value: float | None
    reference: float | None  # the line, the comparison value or the target
    change: float | None = None  # relative move (change rules; + is up)
    comparison: Window | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    diagnosis: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.id, "kind": self.rule.kind, "subject": self.rule.subject, "metric": self.rule.metric,
                "level": self.level, "period": [d.isoformat() for d in self.period], "value": self.value,
                "reference": self.reference, "change": self.change,
                "comparison": [d.isoformat() for d in self.comparison] if self.comparison else None,
                "evidence": self.evidence, "diagnosis": self.diagnosis, "plan": self.rule.plan}


@dataclass
class Evaluation:
    as_of: dt.date
    findings: list[Finding]
    quiet: list[str]  # rules evaluated that raised nothing
    not_due: list[str]  # week/month rules on a day that closes no period
    skipped: dict[str, str]  # rule → why it could not be evaluated


# -- calendar ---------------------------------------------------------------------------------------
def closing_period(kind: str, day: dt.date) -> Window | None:
    """The complete period of ``kind`` that ends on ``day`` (None when ``day`` closes none)."""
    if kind == "day":
        return day, day
    if kind == "week":
        return (day - dt.timedelta(days=6), day) if day.weekday() == 6 else None
    if day.day != calendar.monthrange(day.year, day.month)[1]:
        return None
    return day.replace(day=1), day


def shift(kind: str, period: Window, n: int) -> Window:
    """The period ``n`` periods before (n > 0)."""
    lo, hi = period
    if kind == "day":
        return lo - dt.timedelta(days=n), hi - dt.timedelta(days=n)
    if kind == "week":
        return lo - dt.timedelta(weeks=n), hi - dt.timedelta(weeks=n)
    y, m = lo.year, lo.month - n
    while m < 1:
        y, m = y - 1, m + 12
    return dt.date(y, m, 1), dt.date(y, m, calendar.monthrange(y, m)[1])


def year_earlier(kind: str, period: Window) -> Window:
    """The same period a year earlier: the same date, the week 52 weeks back, the same month."""
    if kind == "week":
        return shift("week", period, 52)
    if kind == "month":
        return shift("month", period, 12)
    lo = period[0]
    try:
        day = lo.replace(year=lo.year - 1)
    except ValueError:  # 29 February
        day = lo.replace(year=lo.year - 1, day=28)
    return day, day


def comparison_of(rule: Rule, period: Window) -> Window:
    return year_earlier(rule.period, period) if rule.compare == "year" else shift(rule.period, period, 1)


def windows_of(rule: Rule, period: Window) -> list[Window]:
    """Every period the rule needs measured, the current one first."""
    if rule.kind == "change":
        return [period, comparison_of(rule, period)]
    if rule.kind == "consecutive":
        return [period] + [shift(rule.period, period, n) for n in range(1, rule.periods)]
    return [period]


# -- judging ------------------------------------------------------------------------------------------
def crosses(value: float, op: str, line: float) -> bool:
    if op == ">":
        return value > line + EPS
    if op == ">=":
        return value >= line - EPS
    if op == "<":
        return value < line - EPS
    return value <= line + EPS


def change_level(rule: Rule, current: float | None, before: float | None) -> tuple[str | None, float | None]:
    """(level or None, relative change) of a change rule."""
    if current is None or before is None or before == 0:
        return None, None
    change = (current - before) / abs(before)
    bad = -change if rule.direction == "higher" else change
    for level, line in (("red", rule.red), ("yellow", rule.yellow), ("blue", rule.blue)):
        if line is not None and bad >= line - EPS:
            return level, change
    return None, change


def _condition(rule: Rule) -> tuple[str, float]:
    if rule.value is None:  # a consecutive rule on a target: below target
        return "<", 1.0
    return rule.op, rule.value


# -- measuring ----------------------------------------------------------------------------------------
class _Measures:
    """Values of every (rule, window), in one batched query per period kind."""

    def __init__(self, backend: Backend, d: Dictionary, targets: TargetSet | None, timezone: str,
                 sources: SourceReader | None):
        self.backend, self.d, self.targets, self.tz, self.sources = backend, d, targets, timezone, sources
        self.values: dict[tuple[str, str], dict[Window, float | None]] = {}
        self.source_values: dict[str, dict[Window, float | None] | None] = {}
        self.starts: dict[str, dt.date | None] = {}

    def _target(self, rule: Rule) -> Any:
        assert self.targets is not None
        return next(t for t in self.targets.targets if t.id == rule.target)

    def grain(self, rule: Rule) -> str:
        return self._target(rule).grain if rule.target else "total"

    def load(self, needs: dict[str, list[tuple[Rule, list[Window]]]]) -> None:
        names = sorted({r.metric for items in needs.values() for r, _ in items if not r.source})
        # A period that starts before the metric has data is unknown, not zero: no alert on an empty July.
        self.starts = data_starts(self.backend, self.d, names, self.tz) if names else {}
        for _kind, items in needs.items():
            metrics: dict[tuple[str, str], None] = {}
            windows: dict[Window, None] = {}
            for rule, ws in items:
                if rule.source:
                    continue
                metrics[(rule.metric, self.grain(rule))] = None
                windows.update(dict.fromkeys(ws))
            if metrics:
                got = values_over(self.backend, self.d, list(metrics), list(windows), timezone=self.tz)
                for key, vals in got.items():
                    self.values.setdefault(key, {}).update(vals)
            for rule, ws in items:
                if rule.source and self.sources is not None:
                    self.source_values[rule.id] = self.sources(rule.source, ws)

    def value(self, rule: Rule, w: Window) -> float | None:
        if rule.source:
            vals = self.source_values.get(rule.id)
            return None if vals is None else vals.get(w)
        start = self.starts.get(rule.metric)
        if start is None or w[0] < start:
            return None
        actual = self.values.get((rule.metric, self.grain(rule)), {}).get(w)
        if not rule.target:
            return actual
        t = self._target(rule)
        goal = target_for_range(self.d, t, w[0], w[1])
        assert self.targets is not None
        return dataclasses.replace(t, value=goal).attainment(actual, self.targets.cap)

    def goal(self, rule: Rule, w: Window) -> float | None:
        return target_for_range(self.d, self._target(rule), w[0], w[1]) if rule.target else None


def _judge(rule: Rule, period: Window, m: _Measures) -> Finding | None:
    ws = windows_of(rule, period)
    if rule.kind == "change":
        cur, before = m.value(rule, ws[0]), m.value(rule, ws[1])
        level, change = change_level(rule, cur, before)
        return None if level is None else Finding(rule, level, period, cur, before, change, ws[1])
    if rule.kind in ("threshold", "stop_loss"):
        cur = m.value(rule, period)
        op, line = _condition(rule)
        if cur is None or not crosses(cur, op, line):
            return None
        return Finding(rule, rule.level, period, cur, line, evidence=[{"goal": m.goal(rule, period)}] if rule.target else [])
    # consecutive: every one of the last N periods
    op, line = _condition(rule)
    values = [(w, m.value(rule, w)) for w in ws]
    if any(v is None or not crosses(v, op, line) for _, v in values):
        return None
    evidence = [{"period": [w[0].isoformat(), w[1].isoformat()], "value": v} for w, v in reversed(values)]
    return Finding(rule, rule.level, period, values[0][1], line, evidence=evidence)


def _anomaly(backend: Backend, d: Dictionary, rule: Rule, day: dt.date, timezone: str,
             cache: dict[tuple[str, int, float], Any], work_calendar: WorkCalendar | None = None) -> Finding | None:
    # The daily series is the dictionary's metric at day grain (the detector's own series agree with it,
    # tests/channels); only the fit and the flags are the detector's.
    key = (rule.metric, rule.lookback, rule.threshold)
    if key not in cache:
        AnomalyParams.create(rule.metric, threshold=rule.threshold, timezone=timezone)  # validates
        lo = day - dt.timedelta(days=rule.lookback - 1)
        res = compute(backend, d, ComputeParams(rule.metric, lo, day, "day", None, timezone))
        got = {p.bucket: p.value for p in res.points}
        dates = [lo + dt.timedelta(days=i) for i in range(rule.lookback)]
        ratio = SERIES[rule.metric][1]
        values = np.array([got.get(x) if got.get(x) is not None else (np.nan if ratio else 0.0) for x in dates],
                          dtype=float)
        # festivals and holidays of the workspace calendar (双11, 春节) are expected, not alerts
        cal = work_calendar if work_calendar is not None else workspace_calendar(backend.settings)
        cache[key] = detect(dates, values, "stl", rule.threshold, effects=cal.expected_effects(dates))
    last = cache[key][-1] if cache[key] else None
    if last is None or not last.anomaly:
        return None
    bad = "low" if rule.direction == "higher" else "high"
    if last.direction != bad:
        return None
    return Finding(rule, rule.level, (day, day), last.value, last.expected,
                   (last.value - last.expected) / abs(last.expected) if last.value is not None and last.expected else None,
                   evidence=[{"z": last.z, "expected": last.expected}])


# -- diagnosis ----------------------------------------------------------------------------------------
def diagnose(backend: Backend, d: Dictionary, rule: Rule, period: Window, comparison: Window | None,
             timezone: str) -> dict[str, Any]:
    """What moved the metric (analysis.explain): the current period against the comparison one."""
    metric = rule.metric
    if metric not in EXPLAIN_METRICS:
        return {"available": False, "note": f"no driver breakdown for {metric}; drill into it in the console"}
    before = comparison or shift(rule.period, period, 1)
    try:
        p = ExplainParams.create(metric, Period(*period), Period(*before), by=rule.by, top=3, timezone=timezone)
        ex = run_explain(backend, p, d)
    except JingyunError as exc:
        return {"available": False, "note": exc.message}
    top = ex.drivers[0] if ex.drivers else None
    return {
        "available": True, "metric": metric, "by": list(ex.by), "current_period": ex.current_period,
        "previous_period": ex.previous_period, "current": ex.current, "previous": ex.previous,
        "change": ex.change, "change_pct": ex.change_pct,
        "top_driver": None if top is None else {"segment": top.segment, "values": top.values,
                                                 "contribution": top.contribution,
                                                 "share_of_change": top.share_of_change},
        "drivers": [{"segment": s.segment, "contribution": s.contribution, "share_of_change": s.share_of_change}
                    for s in ex.drivers],
    }


def evaluate(backend: Backend, d: Dictionary, rules: RuleSet, as_of: dt.date, *,
             targets: TargetSet | None = None, timezone: str = DEFAULT_TIMEZONE,
             sources: SourceReader | None = None, diagnose_findings: bool = True,
             only: set[str] | None = None, work_calendar: WorkCalendar | None = None) -> Evaluation:
    """Judge every enabled rule for ``as_of`` (a local day); the findings carry their diagnosis.

    ``work_calendar``: the days anomaly rules treat as expected effects (default: the backend's workspace
    calendar, :func:`jingyun.calendar.workspace_calendar`)."""
    due: dict[str, list[tuple[Rule, list[Window]]]] = {}
    periods: dict[str, Window] = {}
    not_due: list[str] = []
    skipped: dict[str, str] = {}
    anomaly_rules: list[Rule] = []
    for rule in rules.rules:
        if not rule.enabled or (only is not None and rule.id not in only):
            continue
        if rule.kind == "anomaly":
            anomaly_rules.append(rule)
            continue
        period = closing_period(rule.period, as_of)
        if period is None:
            not_due.append(rule.id)
            continue
        if rule.target and targets is None:
            skipped[rule.id] = "no KPI targets loaded"
            continue
        periods[rule.id] = period
        due.setdefault(rule.period, []).append((rule, windows_of(rule, period)))
    m = _Measures(backend, d, targets, timezone, sources)
    m.load(due)
    findings: list[Finding] = []
    quiet: list[str] = []
    for items in due.values():
        for rule, _ws in items:
            if rule.source and m.source_values.get(rule.id) is None:
                skipped[rule.id] = f"{rule.source} is not available (no approvals statistics yet)"
                continue
            got = _judge(rule, periods[rule.id], m)
            (findings.append(got) if got else quiet.append(rule.id))
    cache: dict[tuple[str, int, float], Any] = {}
    for rule in anomaly_rules:
        try:
            got = _anomaly(backend, d, rule, as_of, timezone, cache, work_calendar)
        except JingyunError as exc:
            skipped[rule.id] = exc.message
            continue
        (findings.append(got) if got else quiet.append(rule.id))
    if diagnose_findings:
        explained: dict[tuple[str, Window, Window | None, str], dict[str, Any]] = {}
        for f in findings:
            key = (f.rule.metric, f.period, f.comparison, f.rule.by)
            if key not in explained:
                explained[key] = diagnose(backend, d, f.rule, f.period, f.comparison, timezone)
            f.diagnosis = explained[key]
    findings.sort(key=lambda f: (-SEVERITY[f.level], f.rule.id))
    return Evaluation(as_of, findings, quiet, not_due, skipped)
