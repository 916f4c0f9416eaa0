"""Calculator for tests run elsewhere: summary statistics in, the same engine out.

Arms are written ``[name=]n:conversions`` (proportions) or ``[name=]n:mean:sd``
(means, sd with ddof=1). The first arm is control.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jingyun.errors import JingyunError
from jingyun.experiments.analyze import AnalysisOptions, compare_arms, correct
from jingyun.experiments.srm import SrmResult, srm_check
from jingyun.experiments.stats import EffectResult, ProportionStatistic, SampleMeanStatistic, Statistic


@dataclass(frozen=True)
class Arm:
    name: str
    statistic: ProportionStatistic | SampleMeanStatistic

    @property
    def kind(self) -> str:
        return "proportion" if isinstance(self.statistic, ProportionStatistic) else "mean"


def parse_arm(spec: str, default_name: str, field: str) -> Arm:
    name, _, body = spec.rpartition("=")
    name = name.strip() or default_name
    parts = [p.strip() for p in body.split(":")]
    try:
        if len(parts) == 2:
            n, x = int(parts[0]), float(parts[1])
            if n <= 0 or not 0 <= x <= n:
                raise ValueError
            return Arm(name, ProportionStatistic(n, x))
        if len(parts) == 3:
            n, mean, sd = int(parts[0]), float(parts[1]), float(parts[2])
            if n <= 1 or sd < 0:
                raise ValueError
            # rebuild the sums the warehouse would have produced
            return Arm(name, SampleMeanStatistic(n, n * mean, sd * sd * (n - 1) + n * mean * mean))
    except ValueError:
        pass
    raise JingyunError(
        "bad_arm",
        f"cannot read {spec!r}: write [name=]users:conversions (e.g. 10000:1000) or [name=]n:mean:sd (e.g. 5000:42.5:80)",
        field,
    )


@dataclass(frozen=True)
class CalcResult:
    kind: str
    control: Arm
    variations: tuple[EffectResult, ...]
    srm: SrmResult
    options: AnalysisOptions


def calculate(control: str, treatments: Sequence[str], options: AnalysisOptions | None = None) -> CalcResult:
    options = options or AnalysisOptions()
    options = AnalysisOptions(options.alpha, options.correction, options.sequential, options.n_star, cuped=False).validate()
    if not treatments:
        raise JingyunError("bad_arm", "give at least one --treatment", "treatment")
    c = parse_arm(control, "control", "control")
    arms = [c] + [
        parse_arm(t, "treatment" if len(treatments) == 1 else f"treatment_{i + 1}", "treatment")
        for i, t in enumerate(treatments)
    ]
    if len({a.kind for a in arms}) != 1:
        raise JingyunError("bad_arm", "all arms must be conversions (n:x) or all means (n:mean:sd)", "treatment")
    if len({a.name for a in arms}) != len(arms):
        raise JingyunError("bad_arm", "arm names must be unique; prefix them with name=", "treatment")
    stats: dict[str, Statistic] = {a.name: a.statistic for a in arms}
    results = correct([compare_arms(stats, c.name, options)], options.correction)[0]
    # SRM against equal weights: the calculator assumes an even split unless told otherwise
    srm = srm_check([a.statistic.n for a in arms], [1.0] * len(arms))
    return CalcResult(c.kind, c, tuple(results), srm, options)
