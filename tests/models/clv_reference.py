"""Independent references for the CLV tests: brute-force integrals of the model story.

Imported by the test modules (pytest puts this folder on sys.path)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import integrate

from jingyun.models.bgnbd import BGNBDParams
from jingyun.models.gamma_gamma import GammaGammaParams

CDNOW = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # Fader, Hardie & Lee 2005, weekly
CDNOW_GG = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)  # FHL "RFM and CLV" note


def bgnbd_integral(
    params: BGNBDParams, x: int, t_x: float, T: float, extra: Callable[[float, float], float] | None = None,
    alive_only: bool = False,
) -> float:
    """∫∫ f(data | λ, p) · extra(λ, p) · Gamma(λ; r, α) · Beta(p; a, b) dλ dp, by dblquad.

    ``alive_only`` keeps only the "still alive at T" term of the likelihood.
    Written from the model's definition, not from the paper's closed forms.
    """
    r, al, a, b = params.as_tuple()
    log_norm = r * math.log(al) - math.lgamma(r) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))

    def integrand(lam: float, p: float) -> float:
        if lam <= 0 or p <= 0 or p >= 1:
            return 0.0
        prior = math.exp(
            log_norm + (r - 1) * math.log(lam) - al * lam + (a - 1) * math.log(p) + (b - 1) * math.log1p(-p)
        )
        value = (1 - p) ** x * lam**x * math.exp(-lam * T)  # no drop-out through T
        if x > 0 and not alive_only:
            value += p * (1 - p) ** (x - 1) * lam**x * math.exp(-lam * t_x)  # dropped out right after t_x
        if extra is not None:
            value *= extra(lam, p)
        return value * prior

    result, _ = integrate.dblquad(integrand, 0, 1, 0, np.inf, epsabs=0, epsrel=1e-9)
    return float(result)


