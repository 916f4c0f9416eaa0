"""Experiments: assignment, flags and gradual rollout, analysis, power.

Frequentist (z / Welch / delta method) and Bayesian results, CUPED, SRM,
sequential (always-valid) testing, multiple-comparison correction, zh/en
verdicts. The CLI (`jingyun exp ...`) is a thin layer over these functions.
"""

from jingyun.experiments.analyze import AnalysisOptions, ExperimentResult, analyze_experiment, compare_arms
from jingyun.experiments.assignment import Assignment, assign, evaluate_flag, exposure_event
from jingyun.experiments.definition import Experiment, Flag, Targeting, Variation
from jingyun.experiments.power import sample_size_mean, sample_size_proportion
from jingyun.experiments.srm import srm_check
from jingyun.experiments.stats import (
    EffectResult,
    ProportionStatistic,
    RatioStatistic,
    SampleMeanStatistic,
    compare,
)

__all__ = [
    "AnalysisOptions", "Assignment", "EffectResult", "Experiment", "ExperimentResult", "Flag",
    "ProportionStatistic", "RatioStatistic", "SampleMeanStatistic", "Targeting", "Variation",
    "analyze_experiment", "assign", "compare", "compare_arms", "evaluate_flag", "exposure_event",
    "sample_size_mean", "sample_size_proportion", "srm_check",
]
