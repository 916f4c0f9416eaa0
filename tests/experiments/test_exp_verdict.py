"""Verdicts in English and Chinese, and the correction families."""

from __future__ import annotations

import pytest
from statsmodels.stats.multitest import multipletests

from jingyun.experiments.analyze import AnalysisOptions, MetricResult, compare_arms, correct
from jingyun.experiments.srm import srm_check
from jingyun.experiments.stats import ProportionStatistic
from jingyun.experiments.verdict import verdict_text

OK_SRM = srm_check([10_000, 10_000], [0.5, 0.5])


def metric(name: str, role: str, c: tuple[int, int], *arms: tuple[int, int]) -> MetricResult:
    stats = {"control": ProportionStatistic(*c)} | {f"t{i}": ProportionStatistic(*a) for i, a in enumerate(arms)}
    results = compare_arms(stats, "control", AnalysisOptions())
    return MetricResult(name, role, "proportion", name, {"conversion": "转化率", "refund": "退款率"}[name], False, tuple(results))


def test_winner_with_flat_guardrail() -> None:
    v = verdict_text(
        [metric("conversion", "primary", (10_000, 1000), (10_000, 1100)),
         metric("refund", "guardrail", (10_000, 200), (10_000, 201))], OK_SRM, 0.05)
    assert v.en.startswith("t0 raises conversion by 10.0% ± 8.9%")
    assert "98.9% chance to beat control" in v.en and v.en.endswith("guardrail refund unchanged.")
    assert v.zh.startswith("t0 使转化率提升 10.0% ± 8.9%") and "护栏指标退款率无显著变化" in v.zh
    assert v.recommendation == "ship"


def test_loser_and_broken_guardrail() -> None:
    lose = verdict_text([metric("conversion", "primary", (10_000, 1100), (10_000, 1000))], OK_SRM, 0.05)
    assert "t0 lowers conversion" in lose.en and "降低" in lose.zh and lose.recommendation == "rollback"
    hurt = verdict_text(
        [metric("conversion", "primary", (10_000, 1000), (10_000, 1100)),
         metric("refund", "guardrail", (10_000, 200), (10_000, 300))], OK_SRM, 0.05)
    assert "guardrail refund moved for t0" in hurt.en and hurt.recommendation == "keep_running"


def test_srm_comes_first() -> None:
    v = verdict_text([metric("conversion", "primary", (10_400, 1000), (9_600, 1100))], srm_check([10_400, 9_600], [1, 1]), 0.05)
    assert v.en.startswith("Sample ratio mismatch") and v.zh.startswith("样本比例失衡") and v.recommendation == "fix_srm"


def test_holm_across_variations_of_a_family() -> None:
    m = metric("conversion", "primary", (10_000, 1000), (10_000, 1100), (10_000, 1040), (10_000, 990))
    raw = [r.p_value for r in m.variations]
    (adjusted,) = correct([list(m.variations)], "holm")
    assert [r.p_value_adjusted for r in adjusted] == pytest.approx(list(multipletests(raw, method="holm")[1]))
