"""BG/NBD: likelihood, expectations and fit against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from clv_reference import CDNOW, bgnbd_integral
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from jingyun.models import bgnbd
from jingyun.models.bgnbd import BGNBDParams

PARAM_SETS = [CDNOW, BGNBDParams(r=2.5, alpha=6.0, a=1.8, b=3.2), BGNBDParams(r=0.8, alpha=1.5, a=0.4, b=6.0)]
CUSTOMERS = [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 35.0, 38.0), (1, 2.0, 50.0)]


@pytest.mark.parametrize("params", PARAM_SETS)
def test_individual_likelihood_matches_double_integral(params: BGNBDParams) -> None:
    x, t_x, T = (np.array(v) for v in zip(*CUSTOMERS, strict=True))
    closed = bgnbd.log_likelihood(params, x, t_x, T)
    for i, (xi, ti, Ti) in enumerate(CUSTOMERS):
        assert closed[i] == pytest.approx(math.log(bgnbd_integral(params, xi, ti, Ti)), abs=1e-6)


@pytest.mark.parametrize("params", PARAM_SETS)
def test_p_alive_matches_double_integral(params: BGNBDParams) -> None:
    for x, t_x, T in CUSTOMERS:
        expected = bgnbd_integral(params, x, t_x, T, alive_only=True) / bgnbd_integral(params, x, t_x, T)
        assert bgnbd.p_alive(params, x, t_x, T)[0] == pytest.approx(expected, rel=1e-6)
    assert bgnbd.p_alive(params, 0, 0, 10)[0] == 1.0  # nobody drops out before a repeat purchase


@pytest.mark.parametrize("params", PARAM_SETS[:2])
def test_conditional_expectation_matches_double_integral(params: BGNBDParams) -> None:
    t = 13.0
    for x, t_x, T in CUSTOMERS:
        # alive with rate λ and drop-out p: E[purchases in t] = (1 - exp(-λ p t)) / p
        num = bgnbd_integral(params, x, t_x, T, extra=lambda lam, p: -math.expm1(-lam * p * t) / p, alive_only=True)
        expected = num / bgnbd_integral(params, x, t_x, T)
        got = bgnbd.conditional_expected_purchases(params, t, x, t_x, T)[0]
        assert got == pytest.approx(expected, rel=1e-5)


def test_pfaff_form_equals_papers_form() -> None:
    # FHL eq. 7 and eq. 10 as printed, at moderate values where they are still accurate.
    r, alpha, a, b = CDNOW.as_tuple()
    t = np.array([1.0, 10.0, 39.0, 78.0])
    paper = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    np.testing.assert_allclose(bgnbd.expected_purchases(CDNOW, t), paper, rtol=1e-10)
    x, t_x, T, tt = 3, 20.0, 38.0, 39.0
    c = a + b + x - 1
    head = c / (a - 1) * (1 - ((alpha + T) / (alpha + T + tt)) ** (r + x) * hyp2f1(r + x, b + x, c, tt / (alpha + T + tt)))
    paper_cond = head / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    assert bgnbd.conditional_expected_purchases(CDNOW, tt, x, t_x, T)[0] == pytest.approx(paper_cond, rel=1e-10)


@pytest.mark.parametrize("params", PARAM_SETS)
def test_unconditional_expectation_matches_simulation(params: BGNBDParams, rng: np.random.Generator) -> None:
    n, t = 200_000, 39.0
    sim = bgnbd.simulate(params, np.full(n, t), rng)
    se = sim.x.std() / math.sqrt(n)
    assert abs(sim.x.mean() - bgnbd.expected_purchases(params, t)) < 4 * se


def test_p_alive_and_holdout_match_simulation(rng: np.random.Generator) -> None:
    # Tower property: within any group defined by the data, the mean of the
    # conditional prediction equals the simulated truth.
    n = 200_000
    sim = bgnbd.simulate(CDNOW, rng.uniform(27, 39, n), rng, horizon=39.0)
    alive = bgnbd.p_alive(CDNOW, sim.x, sim.t_x, sim.T)
    pred = bgnbd.conditional_expected_purchases(CDNOW, 39.0, sim.x, sim.t_x, sim.T)
    groups = np.minimum(sim.x, 5)
    for k in range(6):
        sel = groups == k
        m = int(sel.sum())
        assert m > 1000
        truth = sim.alive[sel].astype(float)
        assert abs(truth.mean() - alive[sel].mean()) < 4 * math.sqrt(max(truth.var(), 1e-4) / m)
        actual = sim.holdout[sel]
        assert abs(actual.mean() - pred[sel].mean()) < 4 * actual.std() / math.sqrt(m)


def test_analytic_gradient_matches_finite_differences(rng: np.random.Generator) -> None:
    sim = bgnbd.simulate(CDNOW, rng.uniform(27, 39, 5000), rng)
    data = bgnbd._Data(sim.x, sim.t_x / 33, sim.T / 33, rng.integers(1, 4, sim.x.size).astype(float))
    for theta in (np.log([0.3, 0.2, 0.9, 2.0]), np.log([2.0, 5.0, 0.1, 40.0])):
        _, grad = bgnbd._neg_ll_grad(theta, data)
        numeric = approx_fprime(theta, lambda th: bgnbd._neg_ll_grad(th, data)[0], 1e-7)
        np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-7)


def test_fit_recovers_cdnow_parameters(rng: np.random.Generator) -> None:
    # We have no CDNOW file here, so simulate a CDNOW-like cohort (T 27–39 weeks
    # for the calibration half) from the published estimates at 40x the size.
    n = 100_000
    sim = bgnbd.simulate(CDNOW, rng.uniform(27, 39, n), rng)
    fit = bgnbd.fit(sim.x, sim.t_x, sim.T)
    for name, true in zip(("r", "alpha", "a", "b"), CDNOW.as_tuple(), strict=True):
        assert getattr(fit.params, name) == pytest.approx(true, rel=0.15), name
    ll_true = float(bgnbd.log_likelihood(CDNOW, sim.x, sim.t_x, sim.T).sum())
    assert ll_true < fit.log_likelihood
    # the reported LL is the LL at the reported parameters, in weeks (not the rescaled units)
    ll_at_fit = float(bgnbd.log_likelihood(fit.params, sim.x, sim.t_x, sim.T).sum())
    assert fit.log_likelihood == pytest.approx(ll_at_fit, rel=1e-9)
    assert fit.customers == n and fit.repeat_customers == int((sim.x > 0).sum())


def test_weights_and_numeric_gradient_give_the_same_fit(rng: np.random.Generator) -> None:
    sim = bgnbd.simulate(CDNOW, np.round(rng.uniform(27, 39, 8_000)), rng)
    x, t_x, T = sim.x, np.round(sim.t_x), sim.T  # whole weeks: many identical rows
    plain = bgnbd.fit(x, t_x, T)
    rows, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    weighted = bgnbd.fit(rows[:, 0], rows[:, 1], rows[:, 2], weights=counts)
    numeric = bgnbd.fit(x, t_x, T, analytic_gradient=False)
    np.testing.assert_allclose(weighted.params.as_tuple(), plain.params.as_tuple(), rtol=1e-5)
    np.testing.assert_allclose(numeric.params.as_tuple(), plain.params.as_tuple(), rtol=1e-3)
    assert weighted.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-9)
    assert weighted.evaluations < numeric.evaluations
