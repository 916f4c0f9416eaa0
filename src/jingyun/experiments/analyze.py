"""One engine for experiments in the warehouse and for the summary calculator.

:func:`compare_arms` turns per-variation summaries into results (fixed-horizon
or sequential, CUPED when the summaries carry a covariate, Bayesian chance to
win and expected loss); :func:`analyze_experiment` adds the warehouse query,
SRM, multiple-comparison correction, results over time and the verdict.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from jingyun.errors import JingyunError
from jingyun.experiments.bayes import beta_chance_and_loss, gaussian_chance_and_loss
from jingyun.experiments.cuped import RegressionAdjustedStatistic, cuped_compare, pooled_theta
from jingyun.experiments.definition import Experiment
from jingyun.experiments.results import (
    DEFAULT_OPTIONS,
    AnalysisOptions,
    Correction,
    DailyPoint,
    ExperimentResult,
    MetricResult,
    Role,
)
from jingyun.experiments.sequential import make_sequential
from jingyun.experiments.srm import srm_check
from jingyun.experiments.stats import EffectResult, ProportionStatistic, Statistic, adjust_pvalues, compare
from jingyun.experiments.verdict import verdict_text
from jingyun.experiments.warehouse import (
    DayAggregate,
    MetricDef,
    build_query,
    fetch_aggregates,
    metric_def,
    statistic,
)
from jingyun.warehouse.backends import Source, engine_of, require

AnyStat = Statistic | RegressionAdjustedStatistic


def compare_arms(
    arms: Mapping[str, AnyStat], control: str, options: AnalysisOptions = DEFAULT_OPTIONS
) -> list[EffectResult]:
    """Each non-control arm against ``control``; p-values not yet corrected."""
    if control not in arms:
        raise JingyunError("no_control", f"control variation {control!r} has no data", "control")
    c = arms[control]
    theta = None
    if isinstance(c, RegressionAdjustedStatistic):
        theta = pooled_theta([a for a in arms.values() if isinstance(a, RegressionAdjustedStatistic)])
    out = []
    for name, t in arms.items():
        if name == control:
            continue
        if isinstance(c, RegressionAdjustedStatistic) and isinstance(t, RegressionAdjustedStatistic):
            r = cuped_compare(c, t, theta=theta, variation=name, alpha=options.alpha)
        elif isinstance(c, RegressionAdjustedStatistic) or isinstance(t, RegressionAdjustedStatistic):
            raise TypeError("mixing CUPED and plain statistics")
        else:
            r = compare(c, t, variation=name, alpha=options.alpha)
        if isinstance(c, ProportionStatistic) and isinstance(t, ProportionStatistic) and c.n and t.n:
            chance, loss = beta_chance_and_loss(c.n, c.sum, t.n, t.sum)
        else:
            chance, loss = gaussian_chance_and_loss(r.uplift_abs, r.se_abs)
        r = r.with_bayes(chance, loss)
        if options.sequential:
            r = make_sequential(r, alpha=options.alpha, n_star=options.n_star)
        out.append(r)
    return out


def correct(results: Sequence[Sequence[EffectResult]], method: Correction) -> list[list[EffectResult]]:
    """Adjust p-values across every (metric, variation) comparison given, together."""
    flat = [r.p_value for group in results for r in group]
    adjusted = iter(adjust_pvalues(flat, method))
    return [[replace(r, p_value_adjusted=next(adjusted)) for r in group] for group in results]


def _totals(aggs: Sequence[DayAggregate]) -> dict[str, DayAggregate]:
    totals: dict[str, DayAggregate] = {}
    for a in aggs:
        totals[a.variation] = totals[a.variation] + a if a.variation in totals else a
    return totals


def _over_time(
    aggs: Sequence[DayAggregate], metric: MetricDef, exp: Experiment, options: AnalysisOptions
) -> list[DailyPoint]:
    days = sorted({a.day for a in aggs if a.day is not None})
    names = [v.name for v in exp.variations]
    running: dict[str, DayAggregate] = {}
    points = []
    for day in days:
        for a in aggs:
            if a.day == day:
                running[a.variation] = running[a.variation] + a if a.variation in running else a
        if exp.control not in running:
            continue
        arms = {n: statistic(running[n], metric, cuped=options.cuped and metric.kind != "ratio") for n in names if n in running}
        for r in compare_arms(arms, exp.control, options):
            points.append(DailyPoint(str(day), r.variation, r.n_control, r.n_treatment, r.uplift_abs, r.uplift_rel, r.ci_rel, r.p_value))
    return points


def analyze_experiment(source: Source, exp: Experiment, options: AnalysisOptions = DEFAULT_OPTIONS) -> ExperimentResult:
    """Read exposures and outcomes from the warehouse and analyse every metric."""
    options.validate()
    started = time.perf_counter()
    roles: list[tuple[str, Role]] = [(exp.primary_metric, "primary")]
    roles += [(m, "secondary") for m in exp.secondary_metrics if m != exp.primary_metric]
    roles += [(m, "guardrail") for m in exp.guardrail_metrics]
    defs = [metric_def(m, exp.conversion_event) for m, _ in roles]
    engine = engine_of(source)
    if exp.targeting.segment is not None:
        require(engine, "derived_tables")  # the query reads segment_members
    sql = build_query(exp, defs, engine.settings.timezone)
    aggs = fetch_aggregates(engine, sql)
    totals = _totals(aggs)
    names = [v.name for v in exp.variations]
    unknown = sorted(set(totals) - set(names))
    if unknown:
        raise JingyunError(
            "unknown_variation", f"exposures name variations {unknown} not in the experiment definition", "variations"
        )
    counts = {n: totals[n].n if n in totals else 0 for n in names}
    srm = srm_check([counts[n] for n in names], list(exp.weights))
    groups: list[list[EffectResult]] = []
    for m in defs:
        use_cuped = options.cuped and m.kind != "ratio"
        arms = {n: statistic(totals[n], m, cuped=use_cuped) for n in names if n in totals}
        groups.append(compare_arms(arms, exp.control, options) if exp.control in arms else [])
    # Three families, each corrected on its own: the primary metric across variations,
    # secondaries across variations × metrics, guardrails likewise. Pooling all of them
    # would let a long list of secondary metrics erase a real primary effect.
    for family in ("primary", "secondary", "guardrail"):
        idx = [i for i, (_, role) in enumerate(roles) if role == family]
        fixed = correct([groups[i] for i in idx], options.correction)
        for i, g in zip(idx, fixed, strict=True):
            groups[i] = g
    metrics = tuple(
        MetricResult(m.name, role, m.kind, m.label_en, m.label_zh, options.cuped and m.kind != "ratio", tuple(g))
        for m, (_, role), g in zip(defs, roles, groups, strict=True)
    )
    over_time = tuple(_over_time(aggs, defs[0], exp, options))
    verdict = verdict_text(metrics, srm, options.alpha)
    return ExperimentResult(
        exp.key, exp.control, counts, srm, metrics, over_time, verdict, options, sql, time.perf_counter() - started
    )
