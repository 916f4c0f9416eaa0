"""Sequential testing: always-valid intervals, so people may peek every day.

Asymptotic confidence sequences (Waudby-Smith et al. 2023, eq. 9; the form
GrowthBook uses). With N users in the two arms, estimator variance σ̂²/N-scale
``v`` and mixing parameter ρ, the half-width is ``√v · k`` with

    k = sqrt( 2(Nρ² + 1) / (Nρ²) · log( sqrt(Nρ² + 1) / α ) )

ρ is tuned so the sequence is tightest near ``n_star`` total users (eq. 161 of
the v1 preprint): ``ρ = sqrt((-2 log α + log(-2 log α + 1)) / n_star)``. The
interval holds at every N simultaneously with probability ≥ 1 - α, so
stopping whenever it excludes zero keeps the false-positive rate at α. The
always-valid p-value inverts the same formula at fixed ρ (the smallest α whose
sequence excludes zero), so ``p < α`` ⟺ the interval excludes zero.
"""

from __future__ import annotations

import math
from dataclasses import replace

from jingyun.errors import JingyunError
from jingyun.experiments.stats import EffectResult

DEFAULT_N_STAR = 5000


def rho(alpha: float, n_star: float = DEFAULT_N_STAR) -> float:
    if n_star <= 0:
        raise JingyunError("bad_tuning", "sequential tuning n_star must be positive, e.g. 5000", "n_star")
    la = -2 * math.log(alpha)
    return math.sqrt((la + math.log(la + 1)) / n_star)


def width_multiplier(n_total: float, alpha: float, n_star: float = DEFAULT_N_STAR) -> float:
    """k such that the always-valid half-width is ``k × standard error``."""
    r2 = rho(alpha, n_star) ** 2
    nr2 = n_total * r2
    return math.sqrt(2 * (nr2 + 1) / nr2 * math.log(math.sqrt(nr2 + 1) / alpha))


def always_valid_p(z: float, n_total: float, alpha: float, n_star: float = DEFAULT_N_STAR) -> float:
    """Smallest α' whose sequence (ρ fixed at the design α) excludes zero, given z = est/se."""
    r2 = rho(alpha, n_star) ** 2
    nr2 = n_total * r2
    p = math.sqrt(nr2 + 1) * math.exp(-(z * z) * nr2 / (2 * (nr2 + 1)))
    return min(1.0, p)


def make_sequential(result: EffectResult, *, alpha: float = 0.05, n_star: float = DEFAULT_N_STAR) -> EffectResult:
    """The same comparison with always-valid intervals and p-value."""
    if result.message and math.isnan(result.se_abs):
        return result
    n = result.n_control + result.n_treatment
    k = width_multiplier(n, alpha, n_star)
    z = result.uplift_abs / result.se_abs if result.se_abs > 0 else 0.0
    d, r = result.uplift_abs, result.uplift_rel
    return replace(
        result,
        ci_abs=(d - k * result.se_abs, d + k * result.se_abs),
        ci_rel=(r - k * result.se_rel, r + k * result.se_rel),
        p_value=always_valid_p(z, n, alpha, n_star),
        method=f"{result.method}+sequential",
    )
