"""Inference agrees with independent references (statsmodels, SciPy, bootstrap, Monte Carlo)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest

from jingyun.errors import JingyunError
from jingyun.experiments.bayes import beta_chance_and_loss, gaussian_chance_and_loss
from jingyun.experiments.power import sample_size_mean, sample_size_proportion
from jingyun.experiments.srm import srm_check
from jingyun.experiments.stats import (
    ZERO_N,
    ProportionStatistic,
    RatioStatistic,
    SampleMeanStatistic,
    adjust_pvalues,
    compare,
    two_proportion_ztest,
    welch_ttest,
)


def mean_stat(x: np.ndarray) -> SampleMeanStatistic:
    return SampleMeanStatistic(len(x), float(x.sum()), float((x * x).sum()))


@pytest.mark.parametrize(
    ("nc", "xc", "nt", "xt"),
    [(10000, 1000, 10000, 1100), (523, 17, 611, 31), (200000, 30500, 199000, 30100), (50, 0, 60, 3)],
)
def test_ztest_equals_statsmodels(nc: int, xc: int, nt: int, xt: int) -> None:
    z, p = two_proportion_ztest(ProportionStatistic(nc, xc), ProportionStatistic(nt, xt))
    z_ref, p_ref = proportions_ztest([xt, xc], [nt, nc])
    assert z == pytest.approx(z_ref, abs=1e-9)
    assert p == pytest.approx(p_ref, abs=1e-9)
    r = compare(ProportionStatistic(nc, xc), ProportionStatistic(nt, xt))
    assert r.p_value == pytest.approx(p_ref, abs=1e-9)
    # the interval is the unpooled Wald interval around t - c
    se = math.sqrt(xc / nc * (1 - xc / nc) / nc + xt / nt * (1 - xt / nt) / nt)
    assert r.ci_abs[0] == pytest.approx(r.uplift_abs - 1.959963984540054 * se, abs=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_welch_equals_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(3, 1, 700)
    b = rng.lognormal(3.1, 1.2, 900)
    t, df, p = welch_ttest(mean_stat(a), mean_stat(b))
    ref = sps.ttest_ind(b, a, equal_var=False)
    assert t == pytest.approx(ref.statistic, abs=1e-9)
    assert p == pytest.approx(ref.pvalue, abs=1e-9)
    assert df == pytest.approx(ref.df, rel=1e-9)
    r = compare(mean_stat(a), mean_stat(b))
    ci = ref.confidence_interval(0.95)
    assert r.ci_abs[0] == pytest.approx(ci.low, abs=1e-9)
    assert r.ci_abs[1] == pytest.approx(ci.high, abs=1e-9)


def test_delta_method_ratio_matches_bootstrap() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    orders = rng.poisson(1.2, n) + 1
    revenue = np.array([rng.gamma(3, 40, k).sum() for k in orders])
    stat = RatioStatistic(
        n, revenue.sum(), (revenue**2).sum(), orders.sum(), (orders**2).sum(), (revenue * orders).sum()
    )
    assert stat.mean == pytest.approx(revenue.sum() / orders.sum())
    idx = rng.integers(0, n, (2000, n))
    boots = revenue[idx].sum(axis=1) / orders[idx].sum(axis=1)
    assert math.sqrt(stat.variance / n) == pytest.approx(boots.std(ddof=1), rel=0.06)


def test_ratio_denominator_is_orders_not_users() -> None:
    # 2 users: one with 3 orders worth 300, one with 1 order worth 20 → AOV 80, not mean(100, 20)
    stat = RatioStatistic(2, 320, 300**2 + 20**2, 4, 10, 300 * 3 + 20 * 1)
    assert stat.mean == 80


@pytest.mark.parametrize(("nc", "xc", "nt", "xt"), [(10000, 1000, 10000, 1100), (120, 12, 130, 11)])
def test_beta_chance_and_loss_match_monte_carlo(nc: int, xc: int, nt: int, xt: int) -> None:
    chance, loss = beta_chance_and_loss(nc, xc, nt, xt)
    rng = np.random.default_rng(5)
    c = rng.beta(1 + xc, 1 + nc - xc, 2_000_000)
    t = rng.beta(1 + xt, 1 + nt - xt, 2_000_000)
    assert chance == pytest.approx((t > c).mean(), abs=2e-3)
    assert loss == pytest.approx(np.maximum(c - t, 0).mean(), rel=0.02)


def test_gaussian_chance_and_loss_match_monte_carlo() -> None:
    chance, loss = gaussian_chance_and_loss(0.4, 0.5)
    d = np.random.default_rng(3).normal(0.4, 0.5, 2_000_000)
    assert chance == pytest.approx((d > 0).mean(), abs=2e-3)
    assert loss == pytest.approx(np.maximum(-d, 0).mean(), rel=0.01)


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_corrections_equal_statsmodels(method: str) -> None:
    p = [0.001, 0.04, 0.03, 0.2, 0.012, 0.5]
    ref = multipletests(p, method={"holm": "holm", "bh": "fdr_bh"}[method])[1]
    assert adjust_pvalues(p, method) == pytest.approx(list(ref), abs=1e-12)  # type: ignore[arg-type]


def test_srm_fires_on_52_48_not_on_50_50() -> None:
    bad = srm_check([52_000, 48_000], [0.5, 0.5])
    assert bad.alarm and bad.p_value < 1e-30
    ref = sps.chisquare([52_000, 48_000], [50_000, 50_000])
    assert bad.chi2 == pytest.approx(ref.statistic) and bad.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    # a real 50/50 split at 100k users: binomial noise only
    rng = np.random.default_rng(0)
    heads = int((rng.random(100_000) < 0.5).sum())
    ok = srm_check([heads, 100_000 - heads], [0.5, 0.5])
    assert not ok.alarm
    assert not srm_check([10_100, 89_900], [0.1, 0.9]).alarm


@pytest.mark.parametrize(
    ("baseline", "mde", "alpha", "power", "relative"),
    [(0.10, 0.01, 0.05, 0.8, False), (0.03, 0.10, 0.05, 0.9, True), (0.5, -0.02, 0.01, 0.8, False)],
)
def test_sample_size_equals_statsmodels(baseline: float, mde: float, alpha: float, power: float, relative: bool) -> None:
    r = sample_size_proportion(baseline, mde, alpha=alpha, power=power, relative=relative)
    target = baseline * (1 + mde) if relative else baseline + mde
    ref = NormalIndPower().solve_power(proportion_effectsize(target, baseline), alpha=alpha, power=power, ratio=1.0)
    assert r.n_exact == pytest.approx(ref, rel=1e-8)
    assert r.n_per_arm == math.ceil(ref)


def test_sample_size_known_value_and_duration() -> None:
    r = sample_size_proportion(0.10, 0.01, daily_traffic=2000)
    assert r.n_per_arm == 14745 and r.days == math.ceil(2 * 14745 / 2000)
    m = sample_size_mean(100.0, 40.0, 0.05, relative=True)
    ref = NormalIndPower().solve_power(5.0 / 40.0, alpha=0.05, power=0.8)
    assert m.n_per_arm == math.ceil(ref)
    with pytest.raises(JingyunError) as err:
        sample_size_proportion(0.95, 0.1)
    assert err.value.field == "mde"


def test_degenerate_results_carry_a_message() -> None:
    r = compare(ProportionStatistic(0, 0), ProportionStatistic(10, 1))
    assert r.message == ZERO_N and r.p_value == 1.0
    with pytest.raises(JingyunError):
        compare(ProportionStatistic(10, 1), ProportionStatistic(10, 2), alpha=1.5)


def test_beta_chance_closed_form_at_zero_conversions() -> None:
    # Beta(1, 1+nc) vs Beta(1, 1+nt): P(p_t > p_c) = (1+nc) / (2+nc+nt), exactly
    chance, _ = beta_chance_and_loss(50, 0, 60, 0)
    assert chance == pytest.approx(51 / 112, abs=1e-6)
    chance, _ = beta_chance_and_loss(50, 50, 60, 60)
    assert chance == pytest.approx(1 - 51 / 112, abs=1e-6)
