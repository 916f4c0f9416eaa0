"""Gamma-Gamma: spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV" note).

Each transaction value of a customer is z ~ Gamma(shape p, rate ν); across
customers ν ~ Gamma(shape q, rate γ). The mean m of a customer's x repeat
transactions is what we observe: x·m | ν ~ Gamma(p·x, ν), and integrating ν
out gives the per-customer density fitted here. It assumes spend is
independent of purchase frequency (check the correlation before trusting it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from jingyun.errors import JingyunError
from jingyun.models._optim import minimise

FloatArray = NDArray[np.float64]
NAMES = ("p", "q", "gamma")


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.p, self.q, self.gamma)

    @property
    def population_mean_spend(self) -> float:
        """E[Z] = pγ/(q-1); infinite when q <= 1 (the spend tail is too heavy)."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float
    customers: int  # customers used: x >= 1 and m > 0
    iterations: int
    evaluations: int


def _arrays(x: ArrayLike, m: ArrayLike) -> tuple[FloatArray, FloatArray]:
    xa, ma = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, m))
    xa, ma = np.broadcast_arrays(xa, ma)
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ma))):
        raise JingyunError("bad_rfm", "frequency and monetary value must be finite numbers", "monetary")
    if np.any(xa < 0) or np.any(ma < 0):
        raise JingyunError("bad_rfm", "frequency and monetary value must be non-negative", "monetary")
    return xa, ma


def log_likelihood(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> FloatArray:
    """ln f(m | p, q, γ, x) for customers with x >= 1 and mean repeat spend m > 0."""
    xa, ma = _arrays(x, m)
    p, q, g = params.as_tuple()
    px = p * xa
    out: FloatArray = (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
        + (px - 1) * np.log(ma) + px * np.log(xa) - (px + q) * np.log(g + ma * xa)
    )
    return out


def _neg_ll_grad(theta: FloatArray, x: FloatArray, m: FloatArray, w: FloatArray) -> tuple[float, FloatArray]:
    p, q, g = np.exp(theta)
    px = p * x
    log_m, log_x = np.log(m), np.log(x)
    log_gmx = np.log(g + m * x)
    dig_pxq = digamma(px + q)
    ll = gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g) + (px - 1) * log_m + px * log_x - (px + q) * log_gmx
    g_p = np.dot(w, x * (dig_pxq - digamma(px) + log_m + log_x - log_gmx))
    g_q = np.dot(w, dig_pxq - digamma(q) + np.log(g) - log_gmx)
    g_g = np.dot(w, q / g - (px + q) / (g + m * x))
    tw = float(w.sum())
    grad = np.array([g_p * p, g_q * q, g_g * g]) / tw
    return -float(np.dot(w, ll)) / tw, -grad


def fit(
    x: ArrayLike, m: ArrayLike, *, weights: ArrayLike | None = None, analytic_gradient: bool = True
) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma fit on customers with x >= 1 and m > 0 (others are skipped)."""
    xa, ma = _arrays(x, m)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)
    # Zero-repeat customers carry no spend information beyond the first order,
    # which FHL exclude (it is often atypical); zero spend has no log.
    keep = (xa >= 1) & (ma > 0) & (w > 0)
    xa, ma, w = xa[keep], ma[keep], w[keep]
    n = float(w.sum())
    if n < 2:
        raise JingyunError(
            "clv_no_repeats",
            f"Gamma-Gamma needs at least 2 customers with a paid repeat purchase (got {n:g}); "
            "use a later calibration end or more data",
            "monetary",
        )
    if np.ptp(ma) == 0:
        raise JingyunError(
            "clv_not_identified",
            "every repeat customer has the same mean spend; the spend distribution cannot be estimated",
            "monetary",
        )
    # Rescale money so mean spend is 1 (γ is in money units); map γ and LL back.
    scale = 1.0 / float(np.average(ma, weights=w))
    ms = ma * scale
    start = np.array([0.0, np.log(2.0), 0.0])
    if analytic_gradient:
        res = minimise(lambda th: _neg_ll_grad(th, xa, ms, w), start, names=NAMES, model="Gamma-Gamma")
    else:
        res = minimise(
            lambda th: _neg_ll_grad(th, xa, ms, w)[0], start, names=NAMES, model="Gamma-Gamma",
            analytic_gradient=False,
        )
    p, q, g_s = np.exp(res.log_params)
    # f is a density in m: f(m) = s · f_s(s·m), so each customer adds ln s.
    ll = -res.mean_neg_ll * n + n * np.log(scale)
    return GammaGammaFit(
        params=GammaGammaParams(float(p), float(q), float(g_s / scale)),
        log_likelihood=float(ll),
        customers=round(n),
        iterations=res.iterations,
        evaluations=res.evaluations,
    )


def conditional_expected_spend(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> FloatArray:
    """E[Z | x, m] = p(γ + x·m)/(p·x + q - 1): a weighted mean of the population mean and m.

    For x = 0 this is the population mean pγ/(q-1), which needs q > 1.
    """
    xa, ma = _arrays(x, m)
    p, q, g = params.as_tuple()
    denom = p * xa + q - 1
    if np.any(denom <= 0):
        raise JingyunError(
            "clv_heavy_tail",
            f"fitted Gamma-Gamma q = {q:.3g} <= 1 means mean spend is unbounded for customers without "
            "repeat purchases; CLV cannot be computed for them",
            "gamma_gamma.q",
        )
    ma = np.where(xa > 0, ma, 0.0)
    out: FloatArray = p * (g + xa * ma) / denom
    return out


def simulate(
    params: GammaGammaParams, x: ArrayLike, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Mean spend m over x transactions per customer, and each customer's true mean p/ν."""
    xa = np.asarray(x, dtype=np.int64)
    nu = rng.gamma(params.q, 1.0 / params.gamma, size=xa.size)
    # The sum of x Gamma(p, ν) draws is Gamma(p·x, ν): one draw per customer.
    total = np.where(xa > 0, rng.gamma(np.maximum(params.p * xa, 1e-12), 1.0 / nu), 0.0)
    m = np.where(xa > 0, total / np.maximum(xa, 1), 0.0)
    return m, params.p / nu
