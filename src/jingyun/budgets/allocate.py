"""The split of a total that maximises expected return across channels, within floors and caps.

Greedy marginal-ROI allocation: start every channel at its floor and hand the rest out in small equal
steps (1/2000 of what is left to place), each step to the channel whose next step returns the most.
For concave curves (Hill with alpha <= 1) this is the optimum up to one step, and floors and caps are
respected by construction. Hill curves with alpha > 1 are S-shaped: below the knee a channel's first
steps look poor and greedy can starve it, so the greedy split is then polished with SLSQP from the
greedy point, the equal split and the historical split, and the best of them kept (never worse than greedy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from jingyun.budgets.response import Curve
from jingyun.errors import JingyunError

STEPS = 2000


@dataclass(frozen=True)
class Bounds:
    floor: float = 0.0
    cap: float = float("inf")


def _total_return(curves: Sequence[Curve], x: np.ndarray) -> float:
    return float(sum(float(c.daily(v)) for c, v in zip(curves, x, strict=True)))


def allocate(curves: Sequence[Curve], total: float, bounds: Sequence[Bounds],
             start: Sequence[float] | None = None) -> np.ndarray:
    """Daily spend per channel summing to ``total`` that maximises the summed expected return."""
    n = len(curves)
    floors = np.array([b.floor for b in bounds], dtype=float)
    caps = np.array([b.cap for b in bounds], dtype=float)
    if floors.sum() > total + 1e-9:
        raise JingyunError("floors_exceed_total", f"the floors add up to {floors.sum():,.2f}, more than the total "
                           f"{total:,.2f}; lower a floor or raise the total", "floor", status=422)
    if np.isfinite(caps).all() and caps.sum() < total - 1e-9:
        raise JingyunError("caps_below_total", f"the caps add up to {caps.sum():,.2f}, less than the total "
                           f"{total:,.2f}; raise a cap or lower the total", "cap", status=422)
    x = floors.copy()
    step = (total - floors.sum()) / STEPS
    if step > 0:
        gain = np.array([float(c.daily(v + step) - c.daily(v)) for c, v in zip(curves, x, strict=True)])
        for _ in range(STEPS):
            gain_ok = np.where(x + step <= caps + 1e-9, gain, -np.inf)
            i = int(np.argmax(gain_ok))
            if not np.isfinite(gain_ok[i]):
                break
            x[i] += step
            gain[i] = float(curves[i].daily(x[i] + step) - curves[i].daily(x[i]))
    best, best_val = x, _total_return(curves, x)
    if any(c.alpha > 1.0 for c in curves) and n > 1:
        starts = [x, np.clip(np.full(n, total / n), floors, caps)]
        if start is not None and sum(start) > 0:
            hist = np.asarray(start, dtype=float)
            starts.append(np.clip(hist * total / hist.sum(), floors, caps))
        scale = total / n
        for x0 in starts:
            r = minimize(lambda z: -_total_return(curves, z * scale), x0 / scale, method="SLSQP",
                         bounds=[(f / scale, (c / scale) if np.isfinite(c) else None) for f, c in zip(floors, caps,
                                                                                                   strict=True)],
                         constraints=[{"type": "eq", "fun": lambda z: z.sum() * scale - total}],
                         options={"maxiter": 300, "ftol": 1e-10})
            z = np.clip(r.x * scale, floors, caps)
            if abs(z.sum() - total) <= 1e-6 * max(total, 1.0) and _total_return(curves, z) > best_val:
                best, best_val = z, _total_return(curves, z)
    return best
