"""Sample-ratio mismatch: are the assignment counts what the weights promise?

Pearson's chi-square goodness of fit on the users per variation against the
configured weights; the alarm fires at p < 0.001 (the common threshold — at
the sizes experiments reach, a stricter bar keeps false alarms rare while a
real 52/48 split at 100k users still gives p ≈ 1e-36).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps

from jingyun.errors import JingyunError

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult:
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    alarm: bool
    threshold: float = SRM_THRESHOLD


def srm_check(counts: Sequence[int], weights: Sequence[float], threshold: float = SRM_THRESHOLD) -> SrmResult:
    if len(counts) != len(weights) or len(counts) < 2:
        raise JingyunError("bad_srm", "give one count and one weight per variation (at least two)", "weights")
    if any(w <= 0 for w in weights):
        raise JingyunError("bad_srm", "weights must be positive", "weights")
    total = sum(counts)
    wsum = sum(weights)
    expected = tuple(total * w / wsum for w in weights)
    if total == 0:
        return SrmResult(tuple(counts), expected, 0.0, 1.0, False, threshold)
    chi2 = sum((o - e) ** 2 / e for o, e in zip(counts, expected, strict=True))
    p = float(sps.chi2.sf(chi2, len(counts) - 1))
    return SrmResult(tuple(int(c) for c in counts), expected, float(chi2), p, p < threshold, threshold)
