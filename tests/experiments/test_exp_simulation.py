"""Seeded simulations: error rates of the fixed, peeking and sequential tests; CUPED.

Data are generated vectorised (daily binomial counts for 1,000 experiments at
once); the inference under test is the library's own.
"""

from __future__ import annotations

import numpy as np
import pytest

from jingyun.experiments.analyze import AnalysisOptions, compare_arms
from jingyun.experiments.cuped import RegressionAdjustedStatistic, cuped_compare
from jingyun.experiments.sequential import make_sequential
from jingyun.experiments.stats import ProportionStatistic, SampleMeanStatistic, compare

N_EXP, DAYS, DAILY, P = 1000, 14, 400, 0.10


@pytest.fixture(scope="module")
def aa_pvalues() -> tuple[np.ndarray, np.ndarray]:
    """Daily cumulative fixed and always-valid p-values for 1,000 A/A tests."""
    rng = np.random.default_rng(20260601)
    conv = rng.binomial(DAILY, P, size=(N_EXP, DAYS, 2)).cumsum(axis=1)
    fixed = np.empty((N_EXP, DAYS))
    seq = np.empty((N_EXP, DAYS))
    for e in range(N_EXP):
        for d in range(DAYS):
            n = DAILY * (d + 1)
            c = ProportionStatistic(n, float(conv[e, d, 0]))
            t = ProportionStatistic(n, float(conv[e, d, 1]))
            r = compare(c, t)
            fixed[e, d] = r.p_value
            seq[e, d] = make_sequential(r).p_value
    return fixed, seq


def test_fixed_horizon_false_positive_rate(aa_pvalues: tuple[np.ndarray, np.ndarray]) -> None:
    fixed, _ = aa_pvalues
    assert abs((fixed[:, -1] < 0.05).mean() - 0.05) <= 0.015


def test_naive_peeking_inflates_but_sequential_does_not(aa_pvalues: tuple[np.ndarray, np.ndarray]) -> None:
    fixed, seq = aa_pvalues
    naive = (fixed < 0.05).any(axis=1).mean()
    sequential = (seq < 0.05).any(axis=1).mean()
    assert naive > 0.05 + 0.03  # peeking daily at a fixed test: well above 5%
    assert sequential <= 0.05 + 0.01
    # and sequential still has power against a real effect
    assert sequential < naive


def test_sequential_detects_a_real_effect() -> None:
    rng = np.random.default_rng(9)
    c = rng.binomial(20_000, 0.10, 200)
    t = rng.binomial(20_000, 0.115, 200)
    opts = AnalysisOptions(sequential=True)
    hits = sum(
        compare_arms({"control": ProportionStatistic(20_000, float(a)), "treatment": ProportionStatistic(20_000, float(b))},
                     "control", opts)[0].p_value < 0.05
        for a, b in zip(c, t, strict=True)
    )
    assert hits / 200 > 0.8


def test_welch_false_positive_rate_on_skewed_means() -> None:
    rng = np.random.default_rng(77)
    x = rng.lognormal(3, 1, size=(N_EXP, 2, 2000))
    s, ss = x.sum(axis=2), (x * x).sum(axis=2)
    p = np.array([
        compare(SampleMeanStatistic(2000, s[e, 0], ss[e, 0]), SampleMeanStatistic(2000, s[e, 1], ss[e, 1])).p_value
        for e in range(N_EXP)
    ])
    assert abs((p < 0.05).mean() - 0.05) <= 0.015


def _cuped_arm(y: np.ndarray, x: np.ndarray) -> RegressionAdjustedStatistic:
    n = len(y)
    return RegressionAdjustedStatistic(
        n, SampleMeanStatistic(n, y.sum(), (y * y).sum()), SampleMeanStatistic(n, x.sum(), (x * x).sum()), (x * y).sum()
    )


def test_cuped_shrinks_interval_and_stays_unbiased() -> None:
    rng = np.random.default_rng(4)
    n = 5000
    widths_plain, widths_cuped, est = [], [], []
    for _ in range(200):
        base = rng.gamma(2.0, 50.0, (2, n))
        pre = base + rng.normal(0, 20, (2, n))
        post = base + rng.normal(0, 20, (2, n))
        post[1] += 3.0  # planted effect
        plain = compare(SampleMeanStatistic(n, post[0].sum(), (post[0] ** 2).sum()),
                        SampleMeanStatistic(n, post[1].sum(), (post[1] ** 2).sum()))
        cu = cuped_compare(_cuped_arm(post[0], pre[0]), _cuped_arm(post[1], pre[1]))
        widths_plain.append(plain.ci_abs[1] - plain.ci_abs[0])
        widths_cuped.append(cu.ci_abs[1] - cu.ci_abs[0])
        est.append(cu.uplift_abs)
    assert np.mean(widths_cuped) < 0.6 * np.mean(widths_plain)  # corr ≈ 0.92 → width × ~0.4
    assert abs(np.mean(est) - 3.0) < 3 * np.std(est) / np.sqrt(len(est))


def test_cuped_with_uncorrelated_covariate_changes_little() -> None:
    rng = np.random.default_rng(8)
    y = rng.normal(10, 3, (2, 4000))
    x = rng.normal(0, 1, (2, 4000))
    cu = cuped_compare(_cuped_arm(y[0], x[0]), _cuped_arm(y[1], x[1]))
    plain = compare(SampleMeanStatistic(4000, y[0].sum(), (y[0] ** 2).sum()),
                    SampleMeanStatistic(4000, y[1].sum(), (y[1] ** 2).sum()))
    assert cu.se_abs == pytest.approx(plain.se_abs, rel=0.01)
