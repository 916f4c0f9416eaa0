"""CUPED: variance reduction with a pre-period covariate (Deng et al. 2013).

Each arm's summary holds the post-period metric y, the pre-period covariate x
(the same metric in the N days before first exposure) and their cross-product.
θ is estimated once, pooled over all arms, so it is unaffected by the
treatment (the covariate is pre-exposure) and the adjusted difference stays
unbiased. Adjusted mean ``ȳ_i - θ(x̄_i - x̄)`` with per-unit variance
``var(y) - 2θ·cov(x, y) + θ²·var(x)``; the test is Welch's t on these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps

from jingyun.experiments.stats import (
    ZERO_N,
    EffectResult,
    SampleMeanStatistic,
    _build,
    _degenerate,
    _welch_df,
)


@dataclass(frozen=True)
class RegressionAdjustedStatistic:
    n: int
    post: SampleMeanStatistic
    pre: SampleMeanStatistic
    post_pre_sum_of_products: float

    @property
    def covariance(self) -> float:
        if self.n < 2:
            return 0.0
        return (self.post_pre_sum_of_products - self.post.sum * self.pre.sum / self.n) / (self.n - 1)

    @property
    def mean(self) -> float:
        return self.post.mean

    def adjusted_variance(self, theta: float) -> float:
        v = self.post.variance - 2 * theta * self.covariance + theta**2 * self.pre.variance
        return max(v, 0.0)


def pooled_theta(arms: Sequence[RegressionAdjustedStatistic]) -> float:
    """θ = cov(x, y) / var(x) over all arms together; 0 when x has no variance."""
    n = sum(a.n for a in arms)
    if n < 2:
        return 0.0
    sx = sum(a.pre.sum for a in arms)
    sy = sum(a.post.sum for a in arms)
    sxx = sum(a.pre.sum_squares for a in arms)
    sxy = sum(a.post_pre_sum_of_products for a in arms)
    var_x = (sxx - sx * sx / n) / (n - 1)
    cov = (sxy - sx * sy / n) / (n - 1)
    return cov / var_x if var_x > 0 else 0.0


def cuped_compare(
    control: RegressionAdjustedStatistic,
    treatment: RegressionAdjustedStatistic,
    *,
    theta: float | None = None,
    variation: str = "treatment",
    alpha: float = 0.05,
) -> EffectResult:
    """Welch test on CUPED-adjusted means; θ pooled over both arms unless given."""
    c, t = control, treatment
    if c.n == 0 or t.n == 0:
        return _degenerate(variation, c.post, t.post, "cuped", ZERO_N)
    if theta is None:
        theta = pooled_theta([c, t])
    x_bar = (c.pre.sum + t.pre.sum) / (c.n + t.n)
    mean_c = c.post.mean - theta * (c.pre.mean - x_bar)
    mean_t = t.post.mean - theta * (t.pre.mean - x_bar)
    var_c, var_t = c.adjusted_variance(theta), t.adjusted_variance(theta)
    se2 = var_c / c.n + var_t / t.n
    if se2 <= 0:
        return _degenerate(variation, c.post, t.post, "cuped", "no variance after adjustment")
    df = _welch_df(var_c, c.n, var_t, t.n)
    tstat = (mean_t - mean_c) / math.sqrt(se2)
    p = float(2 * sps.t.sf(abs(tstat), df))
    return _build(variation, c.post, t.post, mean_c, mean_t, var_c / c.n, var_t / t.n, p, df, alpha, "cuped")
