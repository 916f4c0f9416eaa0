"""Independent references for the CLV tests: brute-force integrals of the model story.

Imported by the test modules (pytest puts this folder on sys.path)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyarrow as pa
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




def simulate_orders(
    params: BGNBDParams, spend: GammaGammaParams, n: int, rng: np.random.Generator, *,
    start: str = "2024-01-01", cohort_days: int = 90, horizon_days: int = 365, rate_per_day: float = 1.0,
) -> pa.Table:
    """Orders (person, UTC ts, amount) drawn from BG/NBD + Gamma-Gamma, times in days.

    ``params`` is read in days (α in days); customers are born uniformly over
    the first ``cohort_days``. One Python loop step per customer: small n only.
    """
    origin = np.datetime64(start + "T00:00:00")
    persons, stamps, amounts = [], [], []
    lam = rng.gamma(params.r, 1.0 / params.alpha, n) * rate_per_day
    drop = rng.beta(params.a, params.b, n)
    nu = rng.gamma(spend.q, 1.0 / spend.gamma, n)
    for i in range(n):
        birth = rng.uniform(0, cohort_days)
        times = [birth]
        t = birth
        while lam[i] > 0:
            t += rng.exponential(1.0 / lam[i])
            if t > horizon_days:
                break
            times.append(t)
            if rng.random() < drop[i]:
                break
        for when in times:
            persons.append(f"p{i:05d}")
            # local (UTC+8) time = UTC + 8 h; store UTC
            stamps.append(origin + np.timedelta64(int(when * 86400) - 8 * 3600, "s"))
            amounts.append(round(float(rng.gamma(spend.p, 1.0 / nu[i])), 2) + 0.01)
    count = len(persons)
    return pa.table({
        "order_id": pa.array([f"o{k:07d}" for k in range(count)]),
        "user_id": pa.array(persons),
        "ts": pa.array(np.array(stamps, dtype="datetime64[us]")),
        "amount": pa.array(amounts, pa.float64()),
        "status": pa.array(["paid"] * count),
        "person_id": pa.array(persons),
        "is_test": pa.array([False] * count),
    })


def rfm_reference(orders: pa.Table, calibration_end: str, holdout_end: str) -> dict[str, tuple[int, int, int, float, int]]:
    """The RFM summary computed in plain Python from (person, ts, amount) rows, in days."""
    cal, hold = np.datetime64(calibration_end), np.datetime64(holdout_end)
    days: dict[str, dict[np.datetime64, float]] = {}
    for person, ts, amount in zip(
        orders.column("person_id").to_pylist(), orders.column("ts").to_numpy(), orders.column("amount").to_pylist(),
        strict=True,
    ):
        local_day = (ts + np.timedelta64(8, "h")).astype("datetime64[D]")
        per = days.setdefault(person, {})
        per[local_day] = per.get(local_day, 0.0) + amount
    out = {}
    for person, per in days.items():
        first = min(per)
        if first > cal:
            continue
        calib = sorted(d for d in per if d <= cal)
        repeats = calib[1:]
        monetary = sum(per[d] for d in repeats) / len(repeats) if repeats else 0.0
        holdout = sum(1 for d in per if cal < d <= hold)
        out[person] = (
            len(repeats), int((calib[-1] - first).astype(int)), int((cal - first).astype(int)), monetary, holdout,
        )
    return out
