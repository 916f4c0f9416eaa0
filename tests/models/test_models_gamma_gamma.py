"""Gamma-Gamma: likelihood and conditional spend against integrals and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from clv_reference import CDNOW_GG
from scipy import integrate, stats
from scipy.optimize import approx_fprime

from jingyun.models import gamma_gamma
from jingyun.models.gamma_gamma import GammaGammaParams

CASES = [(1, 35.0), (3, 12.5), (10, 80.0), (25, 5.0)]


def _integral(params: GammaGammaParams, x: int, m: float, moment: bool) -> float:
    """∫ f(m | x, ν) · [p/ν if moment] · Gamma(ν; q, γ) dν — the model, integrated numerically."""
    prior = stats.gamma(params.q, scale=1 / params.gamma)

    def f(nu: float) -> float:
        # x·m | ν ~ Gamma(p·x, ν), so m has density x · gamma_pdf(x·m)
        dens = x * stats.gamma.pdf(x * m, params.p * x, scale=1 / nu)
        return float(dens * prior.pdf(nu) * (params.p / nu if moment else 1.0))

    value, _ = integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-10, limit=200)
    return float(value)


@pytest.mark.parametrize("params", [CDNOW_GG, GammaGammaParams(p=1.5, q=5.0, gamma=40.0)])
def test_likelihood_matches_integral(params: GammaGammaParams) -> None:
    x, m = (np.array(v, dtype=float) for v in zip(*CASES, strict=True))
    closed = gamma_gamma.log_likelihood(params, x, m)
    for i, (xi, mi) in enumerate(CASES):
        assert closed[i] == pytest.approx(math.log(_integral(params, xi, mi, moment=False)), abs=1e-6)


@pytest.mark.parametrize("params", [CDNOW_GG, GammaGammaParams(p=1.5, q=5.0, gamma=40.0)])
def test_conditional_spend_matches_posterior_mean(params: GammaGammaParams) -> None:
    for x, m in CASES:
        expected = _integral(params, x, m, moment=True) / _integral(params, x, m, moment=False)
        assert gamma_gamma.conditional_expected_spend(params, x, m)[0] == pytest.approx(expected, rel=1e-7)
    # the closed form is a credibility-weighted mean of population mean and own mean
    x, m = 4.0, 30.0
    w = params.p * x / (params.p * x + params.q - 1)
    assert gamma_gamma.conditional_expected_spend(params, x, m)[0] == pytest.approx(
        (1 - w) * params.population_mean_spend + w * m, rel=1e-12
    )
    assert gamma_gamma.conditional_expected_spend(params, 0, 0)[0] == pytest.approx(params.population_mean_spend)


def test_conditional_spend_matches_simulation(rng: np.random.Generator) -> None:
    n = 300_000
    x = rng.integers(1, 8, n)
    m, true_mean = gamma_gamma.simulate(CDNOW_GG, x, rng)
    pred = gamma_gamma.conditional_expected_spend(CDNOW_GG, x, m)
    bins = np.digitize(m, np.quantile(m, [0.2, 0.4, 0.6, 0.8]))
    for k in range(1, 8):
        for j in range(5):
            sel = (x == k) & (bins == j)
            diff = true_mean[sel] - pred[sel]
            assert abs(diff.mean()) < 4.5 * diff.std() / math.sqrt(sel.sum())


def test_gradient_and_recovery(rng: np.random.Generator) -> None:
    x = rng.poisson(2.0, 100_000)
    m, _ = gamma_gamma.simulate(CDNOW_GG, x, rng)
    keep = x > 0
    xs, ms, w = x[keep].astype(float), m[keep] / 20, np.ones(int(keep.sum()))
    theta = np.log([5.0, 3.0, 1.5])
    _, grad = gamma_gamma._neg_ll_grad(theta, xs, ms, w)
    numeric = approx_fprime(theta, lambda th: gamma_gamma._neg_ll_grad(th, xs, ms, w)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4)
    fit = gamma_gamma.fit(x, m)
    for name, true in zip(("p", "q", "gamma"), CDNOW_GG.as_tuple(), strict=True):
        assert getattr(fit.params, name) == pytest.approx(true, rel=0.15), name
    assert fit.customers == int(keep.sum())
    ll_true = float(gamma_gamma.log_likelihood(CDNOW_GG, x[keep], m[keep]).sum())
    ll_fit = float(gamma_gamma.log_likelihood(fit.params, x[keep], m[keep]).sum())
    assert ll_true < fit.log_likelihood == pytest.approx(ll_fit, rel=1e-9)
