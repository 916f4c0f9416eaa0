"""Diminishing-returns response curves per channel: geometric adstock, then Hill saturation.

``return_t = beta * a_t**alpha / (a_t**alpha + K**alpha)`` with ``a_t = spend_t + theta * a_{t-1}``
(the carry-over of yesterday's ads). Fitted by bounded non-linear least squares
(:func:`scipy.optimize.least_squares`) on a scaled copy of the series, in a transformed parameter space
(log beta, log K) so the optimiser sees numbers of one magnitude. The uncertainty is the fit's own: the
covariance ``sigma^2 (J^T J)^-1`` at the optimum, sampled as a multivariate normal in the transformed
space (a parametric bootstrap without refitting, ~1000x cheaper than resampling and refitting and close
to it when the fit is well identified). Degenerate history (too few days, no variation in spend) returns
a fit that carries a message instead of raising, like ``experiments.stats``.

Pure functions over arrays: the SQL that aggregates daily spend and return per channel lives in
:mod:`jingyun.budgets.optimize`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

MIN_DAYS = 30
ALPHA_BOUNDS = (0.5, 3.0)
THETA_BOUNDS = (0.0, 0.9)


@dataclass(frozen=True)
class Curve:
    """One channel's response: expected return per day at a steady daily spend."""

    beta: float
    k: float
    alpha: float
    theta: float

    def daily(self, spend: np.ndarray | float) -> np.ndarray:
        """Steady state: spending ``s`` every day holds the adstock at ``s / (1 - theta)``."""
        a = np.maximum(np.asarray(spend, dtype=float), 0.0) / (1.0 - self.theta)
        aa = a**self.alpha
        return np.asarray(self.beta * aa / (aa + self.k**self.alpha))

    def series(self, spend: np.ndarray) -> np.ndarray:
        return hill(adstock(spend, self.theta), self.beta, self.k, self.alpha)


@dataclass(frozen=True)
class Fit:
    channel: str
    curve: Curve | None
    days: int
    r2: float | None = None
    samples: tuple[Curve, ...] = field(default=(), repr=False)  # draws for the uncertainty
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.curve is not None


def adstock(spend: np.ndarray, theta: float) -> np.ndarray:
    out = np.empty(len(spend), dtype=float)
    carry = 0.0
    for i, s in enumerate(np.asarray(spend, dtype=float)):
        carry = s + theta * carry
        out[i] = carry
    return out


def hill(a: np.ndarray, beta: float, k: float, alpha: float) -> np.ndarray:
    aa = np.maximum(a, 0.0) ** alpha
    return np.asarray(beta * aa / (aa + k**alpha))


def _unpack(p: np.ndarray, scale_s: float, scale_y: float) -> Curve:
    return Curve(float(np.exp(p[0]) * scale_y), float(np.exp(p[1]) * scale_s), float(p[2]), float(p[3]))


def fit_curve(channel: str, spend: np.ndarray, ret: np.ndarray, *, draws: int = 400, seed: int = 0) -> Fit:
    """Fit one channel's curve to daily spend and return (same length, consecutive days)."""
    s = np.asarray(spend, dtype=float)
    y = np.asarray(ret, dtype=float)
    n = len(s)
    if n < MIN_DAYS:
        return Fit(channel, None, n, message=f"{n} days of history; the fit needs at least {MIN_DAYS}")
    if np.std(s) <= 1e-9 * max(np.mean(s), 1.0):
        return Fit(channel, None, n, message="spend never varied, so its effect cannot be told from the baseline")
    if np.sum(y) <= 0:
        return Fit(channel, None, n, message="no return recorded for this channel")
    scale_s, scale_y = float(np.mean(s)), float(np.mean(y))
    xs, ys = s / scale_s, y / scale_y
    warm = min(n // 4, 14)  # the first days lack the carry-over from before the window

    def resid(p: np.ndarray) -> np.ndarray:
        return (hill(adstock(xs, p[3]), np.exp(p[0]), np.exp(p[1]), p[2]) - ys)[warm:]

    best = None
    for k0 in (0.5, 1.0, 2.0):
        for th0 in (0.1, 0.5):
            p0 = np.array([np.log(2.0), np.log(k0 / (1 - th0)), 1.0, th0])
            lo = [np.log(1e-3), np.log(1e-3), ALPHA_BOUNDS[0], THETA_BOUNDS[0]]
            hi = [np.log(1e3), np.log(1e3), ALPHA_BOUNDS[1], THETA_BOUNDS[1]]
            r = least_squares(resid, p0, bounds=(lo, hi), method="trf", x_scale="jac")
            if best is None or r.cost < best.cost:
                best = r
    assert best is not None
    res = best.fun
    dof = max(len(res) - 4, 1)
    sigma2 = float(res @ res) / dof
    yy = ys[warm:]
    r2 = 1.0 - float(res @ res) / float(((yy - yy.mean()) ** 2).sum() or 1.0)
    curve = _unpack(best.x, scale_s, scale_y)
    samples: tuple[Curve, ...] = ()
    try:
        jac = best.jac
        cov = np.linalg.pinv(jac.T @ jac) * sigma2
        rng = np.random.default_rng(seed)
        raw = rng.multivariate_normal(best.x, cov, size=draws, check_valid="ignore", method="eigh")
        raw[:, 2] = np.clip(raw[:, 2], *ALPHA_BOUNDS)
        raw[:, 3] = np.clip(raw[:, 3], THETA_BOUNDS[0], THETA_BOUNDS[1])
        samples = tuple(_unpack(p, scale_s, scale_y) for p in raw)
    except (np.linalg.LinAlgError, ValueError):
        samples = ()
    return Fit(channel, curve, n, round(r2, 4), samples)
