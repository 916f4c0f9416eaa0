"""BG/NBD: purchase frequency and "alive" probability (Fader, Hardie & Lee 2005).

The story: while alive, a customer buys as a Poisson process with rate
λ ~ Gamma(shape r, rate α); after each *repeat* purchase they drop out with
probability p ~ Beta(a, b). Data per customer: ``x`` repeat purchases, the
time ``t_x`` of the last one and the length ``T`` of observation, all measured
from the first purchase.

Everything is computed in log space: ``gammaln``/``betaln`` for the Gamma and
Beta functions and ``logaddexp`` for the two-term likelihood, so nothing
overflows at x in the thousands or T in the millions. Expectations use the
Pfaff transform of ₂F₁ (see :func:`_hyp_term`) for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from jingyun.errors import JingyunError
from jingyun.models._optim import minimise

FloatArray = NDArray[np.float64]
NAMES = ("r", "alpha", "a", "b")


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)


@dataclass(frozen=True)
class BGNBDFit:
    params: BGNBDParams
    log_likelihood: float  # total, in the caller's time unit
    customers: int
    repeat_customers: int
    iterations: int
    evaluations: int


def _arrays(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    xa, ta, Ta = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, t_x, T))
    xa, ta, Ta = np.broadcast_arrays(xa, ta, Ta)
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ta)) and np.all(np.isfinite(Ta))):
        raise JingyunError("bad_rfm", "frequency, recency and T must be finite numbers", "frequency")
    if np.any(xa < 0) or np.any(xa != np.round(xa)):
        raise JingyunError("bad_rfm", "frequency must be a non-negative whole number of repeat purchases", "frequency")
    if np.any(ta < 0) or np.any(ta > Ta * (1 + 1e-12) + 1e-12):
        raise JingyunError("bad_rfm", "recency must satisfy 0 <= recency <= T", "recency")
    if np.any((xa == 0) & (ta != 0)):
        raise JingyunError("bad_rfm", "recency must be 0 for customers with no repeat purchase", "recency")
    return xa, ta, Ta


def log_likelihood(params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Individual log-likelihood ln L(r, α, a, b | x, t_x, T) (FHL 2005, eq. 6)."""
    xa, ta, Ta = _arrays(x, t_x, T)
    r, alpha, a, b = params.as_tuple()
    ln_a1 = gammaln(r + xa) - gammaln(r) + r * np.log(alpha)
    ln_a2 = betaln(a, b + xa) - betaln(a, b) - (r + xa) * np.log(alpha + Ta)
    pos = xa > 0
    ln_a3 = np.full_like(xa, -np.inf)
    ln_a3[pos] = betaln(a + 1, b + xa[pos] - 1) - betaln(a, b) - (r + xa[pos]) * np.log(alpha + ta[pos])
    out: FloatArray = ln_a1 + np.logaddexp(ln_a2, ln_a3)
    return out


class _Data:
    """Prepared arrays: terms that depend on x only are computed per distinct x."""

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray):
        self.x, self.t_x, self.T, self.w = x, t_x, T, w
        self.total_w = float(w.sum())
        self.ux, self.inv = np.unique(x, return_inverse=True)
        self.upos = self.ux > 0
        self.pos = x > 0
        self.wx = float((w * x).sum())


def _neg_ll_grad(theta: FloatArray, d: _Data) -> tuple[float, FloatArray]:
    r, alpha, a, b = np.exp(theta)
    ux, inv, upos = d.ux, d.inv, d.upos
    # per distinct x
    u_lg = gammaln(r + ux) - gammaln(r)
    u_dr = digamma(r + ux) - digamma(r)
    u_b2 = betaln(a, b + ux) - betaln(a, b)
    dig_abx = digamma(a + b + ux)
    dig_ab, dig_a, dig_b = digamma(a + b), digamma(a), digamma(b)
    u_b2_da = dig_ab - dig_abx
    u_b2_db = digamma(b + ux) - dig_abx - dig_b + dig_ab
    u_b3 = np.full_like(ux, -np.inf)
    u_b3[upos] = betaln(a + 1, b + ux[upos] - 1) - betaln(a, b)
    u_b3_da = np.where(upos, digamma(a + 1) - dig_abx - dig_a + dig_ab, 0.0)
    u_b3_db = np.zeros_like(ux)
    u_b3_db[upos] = digamma(b + ux[upos] - 1) - dig_abx[upos] - dig_b + dig_ab
    # per customer
    x, w = d.x, d.w
    rx = r + x
    log_aT = np.log(alpha + d.T)
    log_at = np.log(alpha + d.t_x)
    ln_a2 = u_b2[inv] - rx * log_aT
    ln_a3 = u_b3[inv] - rx * log_at
    lse = np.logaddexp(ln_a2, ln_a3)
    w3 = np.where(d.pos, np.exp(ln_a3 - lse), 0.0)
    w2 = 1.0 - w3
    ll = u_lg[inv] + r * np.log(alpha) + lse
    total = float(np.dot(w, ll))
    g_r = np.dot(w, u_dr[inv] + np.log(alpha) - w2 * log_aT - w3 * log_at)
    g_alpha = d.total_w * r / alpha - np.dot(w, rx * (w2 / (alpha + d.T) + w3 / (alpha + d.t_x)))
    g_a = np.dot(w, w2 * u_b2_da[inv] + w3 * u_b3_da[inv])
    g_b = np.dot(w, w2 * u_b2_db[inv] + w3 * u_b3_db[inv])
    # chain rule for log-parameters, and mean rather than sum for conditioning
    grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b]) / d.total_w
    return -total / d.total_w, -grad


def fit(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    analytic_gradient: bool = True,
) -> BGNBDFit:
    """Maximum-likelihood BG/NBD fit. ``weights`` count identical customers."""
    xa, ta, Ta = _arrays(x, t_x, T)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != xa.shape or np.any(w < 0):
        raise JingyunError("bad_rfm", "weights must be non-negative, one per customer", "weights")
    keep = w > 0
    xa, ta, Ta, w = xa[keep], ta[keep], Ta[keep], w[keep]
    n = float(w.sum())
    repeaters = float(w[xa > 0].sum())
    if n < 2:
        raise JingyunError("clv_too_few_customers", f"BG/NBD needs at least 2 customers (got {n:g})", "customers")
    if repeaters == 0:
        raise JingyunError(
            "clv_no_repeats",
            "no customer made a repeat purchase in the calibration period, so purchase frequency and "
            "drop-out cannot be estimated; use a later calibration end or more data",
            "frequency",
        )
    if not np.any(Ta > 0):
        raise JingyunError("bad_rfm", "every customer has T = 0; the observation window is empty", "T")
    # Rescale time so T is ~1: starting values (all 1) are then sensible and
    # α is O(1) on the optimiser's scale; α and the LL are mapped back below.
    scale = 1.0 / float(np.average(Ta, weights=w))
    data = _Data(xa, ta * scale, Ta * scale, w)
    start = np.zeros(4)
    if analytic_gradient:
        res = minimise(lambda th: _neg_ll_grad(th, data), start, names=NAMES, model="BG/NBD")
    else:
        res = minimise(
            lambda th: _neg_ll_grad(th, data)[0], start, names=NAMES, model="BG/NBD", analytic_gradient=False
        )
    r, alpha_s, a, b = np.exp(res.log_params)
    # L is a density in the purchase times, so rescaling time by s multiplies it by s^-x.
    ll = -res.mean_neg_ll * data.total_w + data.wx * np.log(scale)
    return BGNBDFit(
        params=BGNBDParams(float(r), float(alpha_s / scale), float(a), float(b)),
        log_likelihood=float(ll),
        customers=round(n),
        repeat_customers=round(repeaters),
        iterations=res.iterations,
        evaluations=res.evaluations,
    )


def _safe_a(a: float) -> float:
    # The closed forms divide by (a - 1); at exactly a = 1 take the limit numerically.
    return a + 1e-7 if abs(a - 1.0) < 1e-7 else a


def _hyp_term(R: FloatArray | float, a: float, C: FloatArray | float, z_neg: FloatArray | float) -> FloatArray:
    """((α+T)/(α+T+t))^R · ₂F₁(R, B; C; t/(α+T+t)) with C - B = a - 1, via Pfaff.

    Pfaff: ₂F₁(R, B; C; z) = (1-z)^-R ₂F₁(R, C-B; C; z/(z-1)). The (1-z)^R factor
    cancels the power in front exactly, leaving ₂F₁(R, a-1; C; -t/(α+T)): no
    huge-times-tiny product, so it stays accurate at large x.
    """
    out: FloatArray = np.asarray(hyp2f1(R, a - 1.0, C, z_neg), dtype=np.float64)
    return out


def expected_purchases(params: BGNBDParams, t: ArrayLike) -> FloatArray:
    """E[X(t)]: expected repeat purchases in (0, t] for a new customer (FHL eq. 7)."""
    r, alpha, a, b = params.as_tuple()
    a = _safe_a(a)
    ta = np.asarray(t, dtype=np.float64)
    out: FloatArray = (a + b - 1) / (a - 1) * (1 - _hyp_term(r, a, a + b - 1, -ta / alpha))
    return out


def conditional_expected_purchases(
    params: BGNBDParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t periods (FHL eq. 10)."""
    xa, ta, Ta = _arrays(x, t_x, T)
    r, alpha, a, b = params.as_tuple()
    a = _safe_a(a)
    tt = np.asarray(t, dtype=np.float64)
    c = a + b + xa - 1
    head = c / (a - 1) * (1 - _hyp_term(r + xa, a, c, -tt / (alpha + Ta)))
    out: FloatArray = head * p_alive(params, xa, ta, Ta)
    return out


def p_alive(params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(alive at T | x, t_x, T) = 1 / (1 + δ(x>0) · a/(b+x-1) · ((α+T)/(α+t_x))^(r+x))."""
    xa, ta, Ta = _arrays(x, t_x, T)
    r, alpha, a, b = params.as_tuple()
    pos = xa > 0
    log_odds_dead = np.full_like(xa, -np.inf)
    xp = xa[pos]
    log_odds_dead[pos] = (
        np.log(a) - np.log(b + xp - 1) + (r + xp) * (np.log(alpha + Ta[pos]) - np.log(alpha + ta[pos]))
    )
    out: FloatArray = expit(-log_odds_dead)
    return out


@dataclass(frozen=True)
class Simulated:
    """A simulated cohort: calibration (x, t_x, T), holdout purchases, truth."""

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    alive: NDArray[np.bool_]  # still alive at T
    holdout: FloatArray  # purchases in (T, T + horizon]
    lam: FloatArray
    p: FloatArray


def simulate(
    params: BGNBDParams, T: ArrayLike, rng: np.random.Generator, *, horizon: float = 0.0
) -> Simulated:
    """Draw customers from the BG/NBD story, observed over (0, T] and (T, T+horizon].

    Vectorised over customers; one loop step per purchase, so cost grows with
    the largest purchase count, not the number of customers.
    """
    Ta = np.asarray(T, dtype=np.float64)
    n = Ta.size
    lam = rng.gamma(params.r, 1.0 / params.alpha, size=n)
    p = rng.beta(params.a, params.b, size=n)
    end = Ta + horizon
    x = np.zeros(n)
    t_x = np.zeros(n)
    holdout = np.zeros(n)
    now = np.zeros(n)
    died_at = np.full(n, np.inf)
    active = np.flatnonzero(lam > 0)
    while active.size:
        now[active] += rng.exponential(1.0, size=active.size) / lam[active]
        inside = now[active] <= end[active]
        active = active[inside]
        cal = now[active] <= Ta[active]
        x[active[cal]] += 1
        t_x[active[cal]] = now[active[cal]]
        holdout[active[~cal]] += 1
        dies = rng.random(active.size) < p[active]
        died_at[active[dies]] = now[active[dies]]
        active = active[~dies]
    alive = died_at > Ta
    return Simulated(x=x, t_x=t_x, T=Ta, alive=alive, holdout=holdout, lam=lam, p=p)
