"""`analyze` on the warehouse: exact aggregates on planted data, the demo's planted lift."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from exp_planting import Planted

from jingyun.config import Settings, load_settings
from jingyun.experiments.analyze import AnalysisOptions, analyze_experiment
from jingyun.experiments.assignment import assign
from jingyun.experiments.definition import Experiment
from jingyun.experiments.stats import ProportionStatistic, SampleMeanStatistic, compare
from jingyun.experiments.warehouse import build_query, fetch_aggregates, metric_def, write_exposures
from jingyun.warehouse import Warehouse
from jingyun.warehouse.portable import lint

EXP = Experiment(
    "checkout_copy_v2", secondary_metrics=("revenue", "aov"), guardrail_metrics=("event:refund",)
).validate()


def test_aggregates_equal_python_truth(wh: Warehouse, planted_factory: Callable[..., Planted]) -> None:
    truth = planted_factory(wh, EXP, 3000, 0.10, 0.10)
    res = analyze_experiment(wh, EXP, AnalysisOptions(cuped=False, correction="none"))
    for name in ("control", "treatment"):
        m = truth.variation == name
        assert res.counts[name] == int(m.sum())
    conv = next(x for x in res.metrics if x.metric == "conversion").variations[0]
    rev = next(x for x in res.metrics if x.metric == "revenue").variations[0]
    c, t = truth.variation == "control", truth.variation == "treatment"
    assert conv.control_mean == pytest.approx(truth.conv[c].mean(), abs=1e-12)
    assert conv.treatment_mean == pytest.approx(truth.conv[t].mean(), abs=1e-12)
    # the same engine on Python-computed sums gives the same result
    ref = compare(ProportionStatistic(int(c.sum()), truth.conv[c].sum()), ProportionStatistic(int(t.sum()), truth.conv[t].sum()))
    assert conv.p_value == pytest.approx(ref.p_value, abs=1e-12)
    assert rev.control_mean == pytest.approx(truth.rev[c].mean(), rel=1e-9)  # cancelled orders excluded
    ref_rev = compare(
        SampleMeanStatistic(int(c.sum()), truth.rev[c].sum(), (truth.rev[c] ** 2).sum()),
        SampleMeanStatistic(int(t.sum()), truth.rev[t].sum(), (truth.rev[t] ** 2).sum()),
    )
    assert rev.p_value == pytest.approx(ref_rev.p_value, abs=1e-9)
    aov = next(x for x in res.metrics if x.metric == "aov").variations[0]
    assert aov.control_mean == pytest.approx(truth.rev[c].sum() / truth.orders[c].sum(), rel=1e-9)
    # the cumulative series ends at the totals; days are local exposure dates
    last = res.over_time[-1]
    assert (last.n_control, last.n_treatment) == (int(c.sum()), int(t.sum()))
    assert [p.day for p in res.over_time] == sorted({str(d) for d in truth.day})
    assert not res.srm.alarm


def test_pre_period_covariate_is_the_same_metric_before_exposure(wh: Warehouse, planted_factory: Callable[..., Planted]) -> None:
    truth = planted_factory(wh, EXP, 2000, 0.10, 0.0)
    aggs = fetch_aggregates(wh, build_query(EXP, [metric_def("conversion")], "Asia/Shanghai"))
    xs = sum(a.sums["conv_xs"] for a in aggs)
    xys = sum(a.sums["conv_xys"] for a in aggs)
    assert xs == truth.pre_conv.sum()
    assert xys == (truth.pre_conv * truth.conv).sum()


def test_planted_lift_inside_interval_and_cuped_narrower(wh: Warehouse, planted_factory: Callable[..., Planted]) -> None:
    planted_factory(wh, EXP, 20_000, 0.10, 0.15, seed=3)
    plain = analyze_experiment(wh, EXP, AnalysisOptions(cuped=False))
    cuped = analyze_experiment(wh, EXP, AnalysisOptions(cuped=True))
    p = plain.metrics[0].variations[0]
    q = cuped.metrics[0].variations[0]
    assert p.ci_rel[0] < 0.15 < p.ci_rel[1]
    assert q.ci_rel[0] < 0.15 < q.ci_rel[1]
    assert q.se_abs < p.se_abs
    # the primary metric is its own correction family: secondaries and guardrails do not dilute it
    assert q.p_value_adjusted == q.p_value
    assert "raises conversion" in cuped.verdict.en and "提升" in cuped.verdict.zh
    assert cuped.verdict.recommendation == "ship"
    assert "refund" in cuped.verdict.en  # the guardrail is reported (no refund data here)
    seq = analyze_experiment(wh, EXP, AnalysisOptions(sequential=True))
    s = seq.metrics[0].variations[0]
    assert s.ci_rel[1] - s.ci_rel[0] > q.ci_rel[1] - q.ci_rel[0]  # always-valid costs width


def test_srm_fires_when_treatment_exposures_are_lost(wh: Warehouse, planted_factory: Callable[..., Planted]) -> None:
    planted_factory(wh, EXP, 6000, 0.10, 0.0)
    # drop the first exposures of 15% of treatment users (e.g. a logging bug on one arm)
    wh.con.execute(
        "DELETE FROM events WHERE event = 'exp_exposure' AND json_extract_string(properties, '$.variation') = 'treatment' "
        "AND hash(person_id) % 100 < 15"
    )
    res = analyze_experiment(wh, EXP)
    assert res.srm.alarm
    assert res.verdict.recommendation == "fix_srm" and res.verdict.en.startswith("Sample ratio mismatch")


def test_query_is_portable() -> None:
    sql = build_query(EXP, [metric_def(m) for m in ("conversion", "revenue", "aov", "event:refund")], "Asia/Shanghai")
    assert lint(sql) == []


def test_sdk_exposures_round_trip(wh: Warehouse) -> None:
    logged: list[dict[str, Any]] = []
    ts = dt.datetime(2026, 5, 1, 4, 0)
    for i in range(400):
        assign(f"v{i}", EXP, log=lambda e: logged.append({**e, "ts": ts}))
    assert write_exposures(wh, logged) == 400
    res = analyze_experiment(wh, EXP)
    expected = {name: sum(1 for e in logged if e["properties"]["variation"] == name) for name in ("control", "treatment")}
    assert res.counts == expected
    assert res.metrics[0].variations[0].message is not None  # nobody converted: a message, not an error


# -- the demo business's planted lift ------------------------------------------
@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, Any]]:
    from jingyun.demo.build import build
    from jingyun.demo.params import DemoParams

    home = tmp_path_factory.mktemp("exp_demo")
    settings = load_settings(home)
    build(settings, DemoParams(users=8000, days=60, seed=5))
    truth = json.loads((Path(home) / "demo" / "ground_truth.json").read_text(encoding="utf-8"))
    return settings, truth["ab_test"]


def test_demo_analyze_finds_planted_lift(demo_home: tuple[Settings, dict[str, Any]]) -> None:
    settings, ab = demo_home
    exp = Experiment("checkout_copy_v2").validate()
    with Warehouse.open(settings, read_only=True) as wh:
        plain = analyze_experiment(wh, exp, AnalysisOptions(cuped=False))
        cuped = analyze_experiment(wh, exp)
    realized = ab["realized"]
    # exposures and conversions recomputed from the warehouse equal the generator's own count
    for name in ("control", "treatment"):
        assert plain.counts[name] == realized[name]["users"]
    conv = plain.metrics[0].variations[0]
    assert conv.control_mean == pytest.approx(realized["control"]["rate"], abs=1e-6)
    assert conv.treatment_mean == pytest.approx(realized["treatment"]["rate"], abs=1e-6)
    planted = ab["planted"]["relative_lift"]
    for res in (plain, cuped):
        lo, hi = res.metrics[0].variations[0].ci_rel
        assert lo < planted < hi
    assert not plain.srm.alarm
    assert np.isfinite(cuped.metrics[0].variations[0].se_abs)
