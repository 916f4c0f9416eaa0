"""Sample size and duration.

Proportions: Cohen's h effect size ``2·asin√p₂ - 2·asin√p₁`` (statsmodels'
``proportion_effectsize``) with the normal power of a two-sided test, exactly
``statsmodels.stats.power.NormalIndPower().solve_power(h, alpha=α, power=1-β,
ratio=1)`` — we solve the same equation (both rejection tails counted) with
Brent's method to 1e-12 and round up. Means: Cohen's d = MDE / sd with the same
power function. The MDE is absolute unless ``relative`` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize
from scipy import stats as sps

from jingyun.errors import JingyunError


@dataclass(frozen=True)
class PowerResult:
    n_per_arm: int
    n_total: int
    n_exact: float
    effect_size: float
    baseline: float
    target: float
    mde_abs: float
    mde_rel: float
    alpha: float
    power: float
    arms: int
    method: str
    daily_traffic: float | None = None
    days: int | None = None


def normal_power(effect_size: float, n1: float, alpha: float, ratio: float = 1.0) -> float:
    """Power of a two-sided z-test (statsmodels' ``normal_power`` via NormalIndPower)."""
    nobs = 1.0 / (1.0 / n1 + 1.0 / (n1 * ratio))
    d = abs(effect_size) * math.sqrt(nobs)
    crit = sps.norm.isf(alpha / 2)
    return float(sps.norm.sf(crit - d) + sps.norm.cdf(-crit - d))


MIN_EFFECT_SIZE = 1e-6  # below this the answer exceeds 10^13 users per arm: not a plannable test


def solve_n(effect_size: float, alpha: float, power: float, ratio: float = 1.0) -> float:
    if not math.isfinite(effect_size) or abs(effect_size) < MIN_EFFECT_SIZE:
        raise JingyunError(
            "bad_mde", "the minimum detectable effect is zero or too small to detect (standardised effect "
            f"below {MIN_EFFECT_SIZE:g}); use a larger mde", "mde")
    # the one-tail closed form is an upper bound; the root lies below it
    crit = sps.norm.isf(alpha / 2) + sps.norm.isf(1 - power)
    upper = (crit / abs(effect_size)) ** 2 * (1 + 1 / ratio) * 2 + 10
    return float(
        optimize.brentq(lambda n: normal_power(effect_size, n, alpha, ratio) - power, 1e-6, upper, xtol=1e-12, rtol=1e-15)
    )


def _check(alpha: float, power: float, arms: int) -> None:
    # bounds keep the normal quantiles finite (alpha = 5e-324 gave NaN); power below alpha is unreachable
    if not 1e-10 <= alpha <= 0.5:
        raise JingyunError("bad_alpha", "alpha must be between 1e-10 and 0.5, e.g. 0.05", "alpha")
    if not alpha < power <= 1 - 1e-10:
        raise JingyunError("bad_power", "power must be above alpha and below 1, e.g. 0.8", "power")
    if arms < 2:
        raise JingyunError("bad_arms", "an experiment needs at least 2 arms", "arms")


def _duration(n_total: int, daily_traffic: float | None) -> int | None:
    if daily_traffic is None:
        return None
    if daily_traffic <= 0:
        raise JingyunError("bad_traffic", "daily traffic must be positive (users entering per day)", "daily_traffic")
    return math.ceil(n_total / daily_traffic)


def sample_size_proportion(
    baseline: float, mde: float, *, alpha: float = 0.05, power: float = 0.8,
    relative: bool = False, arms: int = 2, daily_traffic: float | None = None,
) -> PowerResult:
    """Users per arm to detect ``baseline → baseline + mde`` (or ``× (1 + mde)`` if relative)."""
    _check(alpha, power, arms)
    if not 0 < baseline < 1:
        raise JingyunError("bad_baseline", "baseline conversion must be between 0 and 1, e.g. 0.10", "baseline")
    target = baseline * (1 + mde) if relative else baseline + mde
    if not 0 < target < 1:
        raise JingyunError("bad_mde", f"baseline plus MDE gives {target:.4g}, outside (0, 1)", "mde")
    h = 2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(baseline))
    n = solve_n(h, alpha, power)
    per_arm = math.ceil(n)
    return PowerResult(
        per_arm, per_arm * arms, n, h, baseline, target, target - baseline, target / baseline - 1,
        alpha, power, arms, "NormalIndPower(proportion_effectsize)", daily_traffic,
        _duration(per_arm * arms, daily_traffic),
    )


def sample_size_mean(
    baseline: float, sd: float, mde: float, *, alpha: float = 0.05, power: float = 0.8,
    relative: bool = False, arms: int = 2, daily_traffic: float | None = None,
) -> PowerResult:
    """Users per arm to detect a shift of the mean by ``mde`` (absolute, or relative to baseline)."""
    _check(alpha, power, arms)
    if not sd > 0 or not math.isfinite(sd):
        raise JingyunError("bad_sd", "standard deviation must be positive", "sd")
    if relative and baseline == 0:
        raise JingyunError("bad_baseline", "a relative MDE needs a non-zero baseline mean", "baseline")
    delta = baseline * mde if relative else mde
    d = delta / sd if math.isfinite(delta / sd) else math.inf
    n = solve_n(d, alpha, power)
    per_arm = math.ceil(n)
    target = baseline + delta
    return PowerResult(
        per_arm, per_arm * arms, n, d, baseline, target, delta,
        delta / baseline if baseline else math.nan, alpha, power, arms,
        "NormalIndPower(mde/sd)", daily_traffic, _duration(per_arm * arms, daily_traffic),
    )
