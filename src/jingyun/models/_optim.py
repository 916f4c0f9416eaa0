"""Shared maximum-likelihood driver: L-BFGS-B on log-parameters.

Both CLV sub-models have strictly positive parameters, so we optimise
``log θ``: the search is unconstrained in practice, and steps are relative,
which matters when one parameter is ~0.2 and another ~15. Box bounds on the
log scale only exist to stop a degenerate data set from walking off to
infinity; a solution that ends on a bound means the data cannot identify the
model, and we say so instead of returning a number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from jingyun.errors import JingyunError

FloatArray = NDArray[np.float64]

# Parameters are fitted on rescaled data (time or money scaled to ~1), so real
# estimates sit within a few orders of magnitude of 1. The search box is
# 1e-8 … 1e8; a solution beyond 1e-6 … 1e6 is a runaway (e.g. r, α → ∞ together
# when the data show no heterogeneity at all), not an estimate.
LOG_BOUND = 18.4
LOG_IDENTIFIED = 13.8


@dataclass(frozen=True)
class OptimResult:
    log_params: FloatArray
    mean_neg_ll: float
    iterations: int
    evaluations: int
    gradient_norm: float


def minimise(
    objective: Callable[[FloatArray], tuple[float, FloatArray]] | Callable[[FloatArray], float],
    start: FloatArray,
    *,
    names: tuple[str, ...],
    model: str,
    analytic_gradient: bool = True,
) -> OptimResult:
    """Minimise a mean negative log-likelihood over log-parameters.

    ``objective`` returns ``(value, gradient)`` when ``analytic_gradient`` is
    true, else the value only (SciPy then uses finite differences — kept as the
    benchmark reference and as a cross-check in tests).
    """
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    res = minimize(
        objective,
        start,
        jac=True if analytic_gradient else None,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9, "maxfun": 20000},
    )
    x = np.asarray(res.x, dtype=np.float64)
    value = float(res.fun)
    if not np.all(np.isfinite(x)) or not np.isfinite(value):
        raise JingyunError(
            "clv_fit_failed",
            f"{model}: the likelihood became non-finite during fitting; check the input for negative or "
            "non-finite frequency/recency/T/monetary values",
            names[0],
        )
    at_bound = [n for n, v in zip(names, x, strict=True) if abs(v) > LOG_IDENTIFIED]
    if at_bound:
        raise JingyunError(
            "clv_not_identified",
            f"{model}: parameter(s) {', '.join(at_bound)} ran off towards 0 or infinity; the data "
            "cannot identify the model (too few customers or repeat purchases, or a degenerate pattern). "
            "Use a longer calibration period or more customers",
            at_bound[0],
        )
    grad = getattr(res, "jac", None)
    gnorm = float(np.max(np.abs(grad))) if grad is not None else float("nan")
    # L-BFGS-B often stops with ABNORMAL_TERMINATION_IN_LNSRCH when it is already
    # at the optimum to machine precision; judge by the gradient, not the flag.
    if not res.success and not (np.isfinite(gnorm) and gnorm < 1e-4):
        raise JingyunError(
            "clv_not_converged",
            f"{model}: the optimiser did not converge ({res.message}); gradient max {gnorm:.3g}",
            names[0],
        )
    return OptimResult(
        log_params=x,
        mean_neg_ll=value,
        iterations=int(res.nit),
        evaluations=int(res.nfev),
        gradient_norm=gnorm,
    )
