"""What an experiment analysis returns (实验结果): options, per-metric results, the verdict.

These types sit below both :mod:`jingyun.experiments.analyze` (which computes them)
and :mod:`jingyun.experiments.verdict` (which words them), so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jingyun.errors import JingyunError
from jingyun.experiments.sequential import DEFAULT_N_STAR
from jingyun.experiments.srm import SrmResult
from jingyun.experiments.stats import EffectResult
from jingyun.experiments.warehouse import Kind

Correction = Literal["holm", "bh", "none"]
Role = Literal["primary", "secondary", "guardrail"]
Recommendation = Literal["ship", "rollback", "keep_running", "fix_srm"]


@dataclass(frozen=True)
class Verdict:
    en: str
    zh: str
    recommendation: Recommendation


@dataclass(frozen=True)
class MetricResult:
    metric: str
    role: Role
    kind: Kind
    label_en: str
    label_zh: str
    cuped: bool
    variations: tuple[EffectResult, ...]


@dataclass(frozen=True)
class DailyPoint:
    """Cumulative effect of one variation on the primary metric up to ``day``."""

    day: str
    variation: str
    n_control: int
    n_treatment: int
    uplift_abs: float
    uplift_rel: float
    ci_rel: tuple[float, float]
    p_value: float


@dataclass(frozen=True)
class ExperimentResult:
    experiment: str
    control: str
    counts: dict[str, int]
    srm: SrmResult
    metrics: tuple[MetricResult, ...]
    over_time: tuple[DailyPoint, ...]
    verdict: Verdict
    options: AnalysisOptions
    sql: str
    seconds: float


@dataclass(frozen=True)
class AnalysisOptions:
    alpha: float = 0.05
    correction: Correction = "holm"
    sequential: bool = False
    n_star: float = DEFAULT_N_STAR
    cuped: bool = True

    def validate(self) -> AnalysisOptions:
        if not 0 < self.alpha < 1:
            raise JingyunError("bad_alpha", "alpha must be between 0 and 1, e.g. 0.05", "alpha")
        if self.correction not in ("holm", "bh", "none"):
            raise JingyunError("bad_correction", "correction must be holm, bh or none", "correction")
        if not 0 < self.n_star < float("inf"):
            raise JingyunError("bad_n_star", "n_star (the sequential test's tuning sample size) must be a positive "
                               "number, e.g. 5000", "n_star")
        return self


DEFAULT_OPTIONS = AnalysisOptions()
