"""Frequentist inference on summary statistics (GrowthBook gbstats style).

The warehouse aggregates (n, sum, sum of squares, cross-products) per
variation; this module only does inference on the frozen dataclasses below and
returns :class:`EffectResult`. Every statistic exposes ``n``, ``mean`` and the
per-unit ``variance`` so that ``variance / n`` is the variance of the mean.

Choices, stated once:

* proportions: the p-value is the pooled two-proportion z-test (what
  ``statsmodels.stats.proportion.proportions_ztest`` computes); the interval is
  the unpooled Wald interval, because under the alternative the arms do not
  share a rate;
* means: Welch's t-test with Welch-Satterthwaite degrees of freedom (what
  ``scipy.stats.ttest_ind_from_stats(equal_var=False)`` computes);
* ratios (e.g. AOV = revenue / orders per user): the delta method, with the
  user as the unit of randomisation, so the denominator is the per-user sum;
* relative uplift ``t/c - 1``: delta-method variance
  ``var_t/c² + var_c·t²/c⁴``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from scipy import stats as sps

from jingyun.errors import JingyunError

Method = Literal["z", "welch", "delta", "cuped"]

# Message constants carried by a result instead of raising (gbstats style):
# degenerate data is a normal outcome of a young experiment, not an error.
ZERO_N = "an arm has no users yet"
ZERO_VARIANCE = "no variance in either arm"
ZERO_CONTROL_MEAN = "control mean is zero, relative uplift undefined"


@dataclass(frozen=True)
class ProportionStatistic:
    """Users ``n`` and converters ``sum`` (0/1 per user)."""

    n: int
    sum: float

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        p = self.mean
        return p * (1.0 - p)


@dataclass(frozen=True)
class SampleMeanStatistic:
    """A per-user value: ``n``, ``sum`` and ``sum_squares``; variance has ddof=1."""

    n: int
    sum: float
    sum_squares: float

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        v = (self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1)
        return max(v, 0.0)


@dataclass(frozen=True)
class RatioStatistic:
    """Per-user numerator m and denominator d (e.g. revenue and orders)."""

    n: int
    m_sum: float
    m_sum_squares: float
    d_sum: float
    d_sum_squares: float
    m_d_sum_of_products: float

    @property
    def m(self) -> SampleMeanStatistic:
        return SampleMeanStatistic(self.n, self.m_sum, self.m_sum_squares)

    @property
    def d(self) -> SampleMeanStatistic:
        return SampleMeanStatistic(self.n, self.d_sum, self.d_sum_squares)

    @property
    def covariance(self) -> float:
        if self.n < 2:
            return 0.0
        return (self.m_d_sum_of_products - self.m_sum * self.d_sum / self.n) / (self.n - 1)

    @property
    def mean(self) -> float:
        return self.m_sum / self.d_sum if self.d_sum else 0.0

    @property
    def variance(self) -> float:
        """Delta method: per-unit variance of m̄/d̄, so var(ratio) ≈ variance / n."""
        mu_m, mu_d = self.m.mean, self.d.mean
        if mu_d == 0:
            return 0.0
        v = (
            self.m.variance / mu_d**2
            - 2 * mu_m * self.covariance / mu_d**3
            + mu_m**2 * self.d.variance / mu_d**4
        )
        return max(v, 0.0)


Statistic = ProportionStatistic | SampleMeanStatistic | RatioStatistic


@dataclass(frozen=True)
class EffectResult:
    """One treatment against control on one metric."""

    variation: str
    n_control: int
    n_treatment: int
    control_mean: float
    treatment_mean: float
    uplift_abs: float
    uplift_rel: float
    ci_abs: tuple[float, float]
    ci_rel: tuple[float, float]
    se_abs: float
    se_rel: float
    p_value: float
    method: str
    chance_to_win: float | None = None
    expected_loss: float | None = None
    p_value_adjusted: float | None = None
    message: str | None = None

    def with_bayes(self, chance: float, loss: float) -> EffectResult:
        return replace(self, chance_to_win=chance, expected_loss=loss)


def _rel_se(mean_c: float, mean_t: float, var_c: float, var_t: float) -> float:
    """Delta-method standard error of ``t/c - 1`` given variances of the means."""
    if mean_c == 0:
        return math.nan
    return math.sqrt(var_t / mean_c**2 + var_c * mean_t**2 / mean_c**4)


def _welch_df(vc: float, nc: int, vt: float, nt: int) -> float:
    a, b = vc / nc, vt / nt
    den = (a * a / (nc - 1) if nc > 1 else 0.0) + (b * b / (nt - 1) if nt > 1 else 0.0)
    return (a + b) ** 2 / den if den > 0 else math.inf


def _degenerate(variation: str, c: Statistic, t: Statistic, method: str, message: str) -> EffectResult:
    nan = math.nan
    return EffectResult(
        variation, c.n, t.n, c.mean, t.mean, t.mean - c.mean, nan, (nan, nan), (nan, nan),
        nan, nan, 1.0, method, message=message,
    )


def two_proportion_ztest(c: ProportionStatistic, t: ProportionStatistic) -> tuple[float, float]:
    """Pooled z statistic and two-sided p-value for ``t - c`` (statsmodels' proportions_ztest)."""
    pooled = (c.sum + t.sum) / (c.n + t.n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / c.n + 1 / t.n))
    if se == 0:
        return 0.0, 1.0
    z = (t.mean - c.mean) / se
    return z, float(2 * sps.norm.sf(abs(z)))


def welch_ttest(c: SampleMeanStatistic, t: SampleMeanStatistic) -> tuple[float, float, float]:
    """Welch t statistic, degrees of freedom and two-sided p-value for ``t - c``."""
    se2 = c.variance / c.n + t.variance / t.n
    if se2 <= 0:
        return 0.0, math.inf, 1.0
    tstat = (t.mean - c.mean) / math.sqrt(se2)
    df = _welch_df(c.variance, c.n, t.variance, t.n)
    return tstat, df, float(2 * sps.t.sf(abs(tstat), df))


def _build(
    variation: str, c: Statistic, t: Statistic, mean_c: float, mean_t: float,
    var_mean_c: float, var_mean_t: float, p_value: float, df: float, alpha: float, method: str,
) -> EffectResult:
    q = float(sps.norm.isf(alpha / 2)) if math.isinf(df) else float(sps.t.isf(alpha / 2, df))
    diff = mean_t - mean_c
    se = math.sqrt(var_mean_c + var_mean_t)
    se_rel = _rel_se(mean_c, mean_t, var_mean_c, var_mean_t)
    rel = mean_t / mean_c - 1 if mean_c else math.nan
    return EffectResult(
        variation=variation, n_control=c.n, n_treatment=t.n,
        control_mean=mean_c, treatment_mean=mean_t,
        uplift_abs=diff, uplift_rel=rel,
        ci_abs=(diff - q * se, diff + q * se),
        ci_rel=(rel - q * se_rel, rel + q * se_rel),
        se_abs=se, se_rel=se_rel, p_value=p_value, method=method,
        message=None if mean_c else ZERO_CONTROL_MEAN,
    )


def compare(control: Statistic, treatment: Statistic, *, variation: str = "treatment", alpha: float = 0.05) -> EffectResult:
    """Fixed-horizon test of one treatment against control."""
    if not 0 < alpha < 1:
        raise JingyunError("bad_alpha", "alpha must be between 0 and 1, e.g. 0.05", "alpha")
    c, t = control, treatment
    if type(c) is not type(t):
        raise TypeError("control and treatment statistics must be of the same kind")
    if c.n == 0 or t.n == 0:
        return _degenerate(variation, c, t, "none", ZERO_N)
    if c.variance == 0 and t.variance == 0:
        return _degenerate(variation, c, t, "none", ZERO_VARIANCE)
    vc, vt = c.variance / c.n, t.variance / t.n
    if isinstance(c, ProportionStatistic) and isinstance(t, ProportionStatistic):
        _, p = two_proportion_ztest(c, t)
        return _build(variation, c, t, c.mean, t.mean, vc, vt, p, math.inf, alpha, "z")
    if isinstance(c, SampleMeanStatistic) and isinstance(t, SampleMeanStatistic):
        _, df, p = welch_ttest(c, t)
        return _build(variation, c, t, c.mean, t.mean, vc, vt, p, df, alpha, "welch")
    # Ratio: delta-method variances; large-sample normal reference.
    z = (t.mean - c.mean) / math.sqrt(vc + vt)
    p = float(2 * sps.norm.sf(abs(z)))
    return _build(variation, c, t, c.mean, t.mean, vc, vt, p, math.inf, alpha, "delta")


def adjust_pvalues(p_values: list[float], method: Literal["holm", "bh", "none"] = "holm") -> list[float]:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjustment."""
    m = len(p_values)
    if method == "none" or m <= 1:
        return list(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p_values[i]))
            adjusted[i] = running
        return adjusted
    if method == "bh":
        running = 1.0
        for rank in range(m - 1, -1, -1):
            i = order[rank]
            running = min(running, m * p_values[i] / (rank + 1))
            adjusted[i] = min(1.0, running)
        return adjusted
    raise JingyunError("bad_correction", "correction must be holm, bh or none", "correction")
