"""CLV models: BG/NBD + Gamma-Gamma fit time and scoring throughput on simulated customers.

Customers are drawn from the published CDNOW estimates (r=0.243, α=4.414,
a=0.793, b=2.426 weekly; Gamma-Gamma p=6.25, q=3.74, γ=15.44) with T uniform
on 27–39 weeks. The reference for each fit is the same L-BFGS-B fit with
SciPy's finite-difference gradient (its default without ``jac``); the
reference for scoring is the paper's printed form of E[Y(t) | x, t_x, T]
(power times ₂F₁(r+x, b+x; …)) instead of our Pfaff form. The warehouse rows
run the whole path: orders in DuckDB → SQL RFM → both fits (→ scores written).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np
import pyarrow as pa
from scipy.special import hyp2f1

from jingyun.config import load_settings
from jingyun.models import bgnbd, gamma_gamma
from jingyun.models.bgnbd import BGNBDParams
from jingyun.models.clv import ClvParams, clv_scores, fit_clv, load_rfm, score_clv
from jingyun.models.gamma_gamma import GammaGammaParams
from jingyun.warehouse import Warehouse

CDNOW = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
CDNOW_GG = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
P = ParamSpec("P")
R = TypeVar("R")


def _timed(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> tuple[R, float]:
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def _paper_conditional(p: BGNBDParams, t: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, a, b = p.as_tuple()
    c = a + b + x - 1
    head = c / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, c, t / (alpha + T + t)))
    with np.errstate(over="ignore"):
        dead = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x), 0.0)
    return np.asarray(head / (1 + dead))


def _orders(n: int, rng: np.random.Generator) -> pa.Table:
    """All purchase days of n BG/NBD + Gamma-Gamma customers (weekly rates, daily stamps)."""
    start_day = rng.integers(0, 84, n)  # births over 12 weeks from 2024-01-01
    # watched until the end of 2024-12-31 (local), so T in the warehouse matches the story
    end_weeks = (366 - start_day) / 7
    lam = rng.gamma(CDNOW.r, 1 / CDNOW.alpha, n)
    drop = rng.beta(CDNOW.a, CDNOW.b, n)
    nu = rng.gamma(CDNOW_GG.q, 1 / CDNOW_GG.gamma, n)
    who = [np.arange(n)]
    when = [np.zeros(n)]
    now = np.zeros(n)
    active = np.flatnonzero(lam > 0)
    while active.size:
        now[active] += rng.exponential(1.0, active.size) / lam[active]
        active = active[now[active] < end_weeks[active]]
        who.append(active.copy())
        when.append(now[active].copy())
        active = active[rng.random(active.size) >= drop[active]]
    person = np.concatenate(who)
    weeks = np.concatenate(when)
    origin = np.datetime64("2024-01-01T00:00:00", "s") - np.timedelta64(8, "h")  # local midnight, UTC+8
    ts = origin + (start_day[person] * 86400 + weeks * 7 * 86400).astype("timedelta64[s]")
    amount = np.round(rng.gamma(CDNOW_GG.p, 1 / nu[person]), 2) + 0.01
    ids = np.char.add("p", person.astype(str))
    return pa.table({
        "order_id": pa.array(np.char.add("o", np.arange(person.size).astype(str))),
        "user_id": pa.array(ids),
        "ts": pa.array(ts.astype("datetime64[us]")),
        "amount": pa.array(amount),
        "status": pa.array(np.full(person.size, "paid")),
        "person_id": pa.array(ids),
        "is_test": pa.array(np.zeros(person.size, dtype=bool)),
    })


def _row(
    case: str, n: int, seconds: float, reference: str, ref_seconds: float | None, note: str = "", *, compare: bool = True
) -> dict[str, object]:
    return {
        "case": case,
        "customers": f"{n:,}",
        "seconds": round(seconds, 2),
        "reference": reference,
        "reference_seconds": "" if ref_seconds is None else round(ref_seconds, 2),
        "speedup": f"{ref_seconds / seconds:.1f}x" if ref_seconds and compare else "",
        "note": note,
    }


def run(quick: bool) -> list[dict[str, object]]:
    n = 20_000 if quick else 1_000_000
    rng = np.random.default_rng(42)
    rows: list[dict[str, object]] = []
    sim = bgnbd.simulate(CDNOW, rng.uniform(27, 39, n), rng)
    fit, secs = _timed(bgnbd.fit, sim.x, sim.t_x, sim.T)
    ref, ref_secs = _timed(bgnbd.fit, sim.x, sim.t_x, sim.T, analytic_gradient=False)
    p = fit.params
    rows.append(_row(
        "BG/NBD fit, analytic gradient", n, secs, "same fit, finite-difference gradient", ref_secs,
        f"r={p.r:.3f} α={p.alpha:.3f} a={p.a:.3f} b={p.b:.3f}; {fit.evaluations} vs {ref.evaluations} LL evals",
    ))
    m, _ = gamma_gamma.simulate(CDNOW_GG, sim.x, rng)
    gg, secs = _timed(gamma_gamma.fit, sim.x, m)
    gg_ref, ref_secs = _timed(gamma_gamma.fit, sim.x, m, analytic_gradient=False)
    g = gg.params
    rows.append(_row(
        "Gamma-Gamma fit, analytic gradient", gg.customers, secs, "same fit, finite-difference gradient", ref_secs,
        f"p={g.p:.2f} q={g.q:.2f} γ={g.gamma:.2f}; {gg.evaluations} vs {gg_ref.evaluations} LL evals",
    ))

    _, secs = _timed(bgnbd.conditional_expected_purchases, p, 52.0, sim.x, sim.t_x, sim.T)
    _, ref_secs = _timed(_paper_conditional, p, 52.0, sim.x, sim.t_x, sim.T)
    rows.append(_row(
        "E[Y(52 w) given x, t_x, T] (Pfaff form)", n, secs, "paper's eq. 10 form", ref_secs,
        f"{n / secs:,.0f} customers/s; the paper's form is faster but NaN from x ≈ 1000 (ours finite)",
    ))

    settings = load_settings()
    with Warehouse.open(settings, memory=True) as wh:
        orders = _orders(n, rng)
        wh.con.register("_bench_orders", orders)
        wh.con.execute(
            "INSERT INTO orders (order_id, user_id, ts, amount, status, person_id, is_test) SELECT order_id, "
            "user_id, ts, CAST(amount AS DECIMAL(18,2)), status, person_id, is_test FROM _bench_orders"
        )
        wh.con.unregister("_bench_orders")
        params = ClvParams(calibration_end=dt.date(2024, 12, 31), time_unit="week")
        rfm, rfm_secs = _timed(load_rfm, wh, params)
        result, secs = _timed(fit_clv, wh, params)
        b = result.bgnbd.params
        rows.append(_row(
            "clv fit from warehouse (SQL RFM + both fits)", result.customers, secs, "its SQL RFM part alone", rfm_secs,
            f"{orders.num_rows:,} orders; r={b.r:.3f} α={b.alpha:.3f} a={b.a:.3f} b={b.b:.3f}", compare=False,
        ))
        scores, score_secs = _timed(clv_scores, result.bgnbd.params, result.gamma_gamma.params, rfm, params)
        rows.append(_row(
            "12-month CLV scores (12 monthly steps)", len(rfm), score_secs, "", None,
            f"{len(rfm) / score_secs:,.0f} customers/s; mean CLV {scores.clv.mean():.2f}",
        ))
        scored, secs = _timed(score_clv, wh, params)
        rows.append(_row(
            "clv score end to end (fit + score + write model_scores)", scored.scored, secs, "", None,
            f"{scored.scored / secs:,.0f} customers/s; {scored.high_value:,} flagged high_value_clv",
        ))
    return rows
