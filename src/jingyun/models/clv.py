"""Customer lifetime value from the warehouse: RFM in SQL, BG/NBD + Gamma-Gamma in NumPy.

The warehouse does the aggregation (one row per person: frequency, recency, T,
monetary, holdout purchases); :mod:`jingyun.models.bgnbd` and
:mod:`jingyun.models.gamma_gamma` do the inference on those arrays. Semantic
choices, following the BG/NBD literature (and the CDNOW layout):

* a *purchase* is a distinct local calendar day with at least one order
  (several orders on one day are one purchase, amounts summed);
* the first purchase day starts the customer's clock and is not a repeat;
* ``calibration_end`` and ``holdout_end`` are inclusive local days;
* monetary value is the mean over repeat purchase days only;
* a customer's purchases are ``valid_orders`` of ``real_people`` (metrics/definitions.py:
  cancelled, refunded and returned orders and test accounts are left out); ``person_id`` is the customer;
* a person the workspace's model consent leaves out (``privacy.consent_gate.model_consent_mask``) is
  neither fitted nor scored.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED
from jingyun.models import bgnbd, gamma_gamma
from jingyun.models.bgnbd import BGNBDFit, BGNBDParams
from jingyun.models.gamma_gamma import GammaGammaFit, GammaGammaParams
from jingyun.models.scores import replace_scores
from jingyun.privacy.consent_gate import model_consent_mask
from jingyun.warehouse.backends import Source, engine_of
from jingyun.warehouse.portable import check
from jingyun.warehouse.sqltext import date_literal, local_date

FloatArray = NDArray[np.float64]
TimeUnit = Literal["week", "day"]
DAYS_PER_UNIT: dict[str, float] = {"day": 1.0, "week": 7.0}
DAYS_PER_MONTH = 365.25 / 12  # CLV months are calendar-average months
MODEL_NAME = "clv"
HIGH_VALUE_TAG = "high_value_clv"


@dataclass(frozen=True)
class ClvParams:
    """What to fit and how to value it. Dates are inclusive local calendar days."""

    calibration_end: dt.date
    holdout_end: dt.date | None = None
    time_unit: TimeUnit = "week"
    months: int = 12
    monthly_discount_rate: float = 0.01
    margin: float = 1.0
    include_test: bool = False
    max_frequency_bucket: int = 7  # holdout plot: buckets 0 … N-1 and "N+"

    def validate(self) -> ClvParams:
        if self.time_unit not in DAYS_PER_UNIT:
            raise JingyunError("bad_param", "time unit must be week or day", "time_unit")
        if self.holdout_end is not None and self.holdout_end <= self.calibration_end:
            raise JingyunError("bad_param", "holdout end must be after the calibration end", "holdout_end")
        if self.months < 1:
            raise JingyunError("bad_param", "months must be at least 1", "months")
        if not 0 <= self.monthly_discount_rate < 1:
            raise JingyunError("bad_param", "monthly discount rate must be in [0, 1)", "monthly_discount_rate")
        if not 0 < self.margin <= 1:
            raise JingyunError("bad_param", "margin must be in (0, 1]", "margin")
        if self.max_frequency_bucket < 1:
            raise JingyunError("bad_param", "max frequency bucket must be at least 1", "max_frequency_bucket")
        return self

    @property
    def unit_days(self) -> float:
        return DAYS_PER_UNIT[self.time_unit]

    @property
    def month_units(self) -> float:
        return DAYS_PER_MONTH / self.unit_days


def rfm_query(params: ClvParams, timezone: str) -> str:
    """The per-person RFM summary query (runs nothing). Portable SQL subset."""
    cal = date_literal(params.calibration_end)
    hold = date_literal(params.holdout_end) if params.holdout_end else cal
    valid = SHIPPED.order_rows("valid_orders", include_test=params.include_test)
    sql = f"""
WITH purchase_days AS (
  SELECT person_id,
         {local_date("ts", timezone)} AS day,
         SUM(amount) AS amount
  FROM orders
  WHERE person_id IS NOT NULL
    AND {valid}
  GROUP BY 1, 2
),
with_first AS (
  SELECT person_id, day, amount, MIN(day) OVER (PARTITION BY person_id) AS first_day
  FROM purchase_days
)
SELECT person_id,
       COUNT(*) FILTER (WHERE day <= {cal}) - 1 AS frequency,
       DATE_DIFF('day', MIN(first_day), MAX(day) FILTER (WHERE day <= {cal})) AS recency_days,
       DATE_DIFF('day', MIN(first_day), {cal}) AS t_days,
       CAST(COALESCE(SUM(amount) FILTER (WHERE day > first_day AND day <= {cal}), 0) AS DOUBLE) AS repeat_amount,
       COUNT(*) FILTER (WHERE day > {cal} AND day <= {hold}) AS holdout_frequency,
       CAST(COALESCE(SUM(amount) FILTER (WHERE day > {cal} AND day <= {hold}), 0) AS DOUBLE) AS holdout_amount
FROM with_first
WHERE first_day <= {cal}
GROUP BY person_id
ORDER BY person_id
"""
    return check(sql)


@dataclass(frozen=True)
class RFM:
    """Per-person summary in the chosen time unit; arrays are aligned with ``person_id``."""

    person_id: NDArray[np.object_]
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary: FloatArray  # mean repeat-day spend; 0 without repeats
    holdout_frequency: FloatArray
    holdout_duration: float  # in time units; 0 without a holdout
    time_unit: TimeUnit

    def __len__(self) -> int:
        return int(self.frequency.size)


def load_rfm(source: Source, params: ClvParams) -> RFM:
    params.validate()
    engine = engine_of(source)
    table = engine.run(rfm_query(params, engine.settings.timezone))  # Arrow: no per-row Python objects
    unit = params.unit_days

    def col(name: str) -> FloatArray:
        return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)

    freq = col("frequency")
    repeat = col("repeat_amount")
    monetary = np.divide(repeat, freq, out=np.zeros_like(repeat), where=freq > 0)
    duration = 0.0
    if params.holdout_end is not None:
        duration = (params.holdout_end - params.calibration_end).days / unit
    person_id = np.asarray(table.column("person_id").to_pylist(), dtype=object)
    # PIPL: people without the model consent the workspace requires are neither fitted nor scored
    keep = model_consent_mask(engine, person_id)
    if keep is None:
        keep = np.ones(len(person_id), dtype=bool)
    return RFM(
        person_id=person_id[keep],
        frequency=freq[keep],
        recency=col("recency_days")[keep] / unit,
        T=col("t_days")[keep] / unit,
        monetary=monetary[keep],
        holdout_frequency=col("holdout_frequency")[keep],
        holdout_duration=duration,
        time_unit=params.time_unit,
    )


def _compressed_bgnbd(rfm: RFM) -> BGNBDFit:
    # Day-level data repeat (x, t_x, T) triples a lot; fitting distinct rows with
    # counts as weights gives the same likelihood for a fraction of the work.
    rows = np.column_stack([rfm.frequency, rfm.recency, rfm.T])
    uniq, counts = np.unique(rows, axis=0, return_counts=True)
    return bgnbd.fit(uniq[:, 0], uniq[:, 1], uniq[:, 2], weights=counts.astype(np.float64))


@dataclass(frozen=True)
class HoldoutBucket:
    frequency: str  # calibration repeat purchases: "0", "1", …, "7+"
    customers: int
    actual: float  # mean holdout purchases
    predicted: float  # mean E[Y(holdout) | calibration data]


@dataclass(frozen=True)
class ClvFitResult:
    bgnbd: BGNBDFit
    gamma_gamma: GammaGammaFit
    customers: int
    repeat_customers: int
    time_unit: TimeUnit
    calibration_end: dt.date
    holdout_end: dt.date | None
    holdout: list[HoldoutBucket] = field(default_factory=list)
    query: str = ""

    def to_dict(self) -> dict[str, object]:
        b, g = self.bgnbd.params, self.gamma_gamma.params
        return {
            "bgnbd": {"r": b.r, "alpha": b.alpha, "a": b.a, "b": b.b, "log_likelihood": self.bgnbd.log_likelihood},
            "gamma_gamma": {
                "p": g.p, "q": g.q, "gamma": g.gamma, "log_likelihood": self.gamma_gamma.log_likelihood,
                "customers": self.gamma_gamma.customers,
            },
            "customers": self.customers,
            "repeat_customers": self.repeat_customers,
            "time_unit": self.time_unit,
            "calibration_end": self.calibration_end.isoformat(),
            "holdout_end": self.holdout_end.isoformat() if self.holdout_end else None,
            "holdout": [vars(h) for h in self.holdout] if self.holdout_end else None,
        }


def holdout_buckets(params: BGNBDParams, rfm: RFM, max_bucket: int) -> list[HoldoutBucket]:
    """Calibration/holdout plot data: actual vs predicted holdout purchases by calibration frequency."""
    pred = bgnbd.conditional_expected_purchases(params, rfm.holdout_duration, rfm.frequency, rfm.recency, rfm.T)
    bucket = np.minimum(rfm.frequency, max_bucket).astype(np.int64)
    out = []
    for k in range(max_bucket + 1):
        sel = bucket == k
        n = int(sel.sum())
        if n == 0:
            continue
        label = f"{k}+" if k == max_bucket else str(k)
        out.append(HoldoutBucket(label, n, float(rfm.holdout_frequency[sel].mean()), float(pred[sel].mean())))
    return out


def fit_rfm(rfm: RFM, params: ClvParams, query: str = "") -> ClvFitResult:
    if len(rfm) == 0:
        raise JingyunError(
            "clv_no_customers",
            f"no customer has a (non-cancelled, non-test) order on or before {params.calibration_end}",
            "calibration_end",
        )
    bg = _compressed_bgnbd(rfm)
    gg = gamma_gamma.fit(rfm.frequency, rfm.monetary)
    buckets = holdout_buckets(bg.params, rfm, params.max_frequency_bucket) if params.holdout_end else []
    return ClvFitResult(
        bgnbd=bg,
        gamma_gamma=gg,
        customers=len(rfm),
        repeat_customers=int((rfm.frequency > 0).sum()),
        time_unit=params.time_unit,
        calibration_end=params.calibration_end,
        holdout_end=params.holdout_end,
        holdout=buckets,
        query=query,
    )


def fit_clv(source: Source, params: ClvParams) -> ClvFitResult:
    """Fit BG/NBD and Gamma-Gamma on the warehouse's orders up to ``calibration_end``."""
    params.validate()
    engine = engine_of(source)
    return fit_rfm(load_rfm(engine, params), params, rfm_query(params, engine.settings.timezone))


@dataclass(frozen=True)
class ClvScores:
    expected_purchases: FloatArray  # over the CLV horizon (``months``)
    p_alive: FloatArray
    expected_spend: FloatArray
    clv: FloatArray


def clv_scores(
    bg: BGNBDParams, gg: GammaGammaParams, rfm: RFM, params: ClvParams
) -> ClvScores:
    """Discounted CLV = margin · E[spend] · Σₖ (E[Y(k months)] − E[Y(k−1 months)]) / (1+d)^k."""
    x, tx, T = rfm.frequency, rfm.recency, rfm.T
    spend = gamma_gamma.conditional_expected_spend(gg, x, rfm.monetary)
    previous = np.zeros_like(x)
    discounted = np.zeros_like(x)
    for k in range(1, params.months + 1):
        cumulative = bgnbd.conditional_expected_purchases(bg, k * params.month_units, x, tx, T)
        discounted += (cumulative - previous) / (1 + params.monthly_discount_rate) ** k
        previous = cumulative
    return ClvScores(
        expected_purchases=previous,
        p_alive=bgnbd.p_alive(bg, x, tx, T),
        expected_spend=spend,
        clv=params.margin * spend * discounted,
    )


@dataclass(frozen=True)
class ClvScoreResult:
    fit: ClvFitResult
    scored: int
    high_value: int
    high_value_threshold: float  # lowest CLV flagged high value
    scored_at: dt.datetime
    table: str = "model_scores"





def last_order_day(source: Source) -> dt.date:
    engine = engine_of(source)
    day = engine.scalar(
        f"SELECT MAX({local_date('ts', engine.settings.timezone)}) FROM orders "
        f"WHERE {SHIPPED.order_rows('valid_orders')}"
    )
    if day is None:
        raise JingyunError("clv_no_customers", "the orders table has no usable orders", "orders")
    return day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))


def score_clv(source: Source, params: ClvParams, *, high_value_share: float = 0.2) -> ClvScoreResult:
    """Fit on everything up to ``calibration_end`` (the as-of day) and write per-person scores.

    Replaces all earlier rows of model ``clv`` in ``model_scores`` in one
    transaction, so readers never see a half-written scoring run.
    """
    if not 0 < high_value_share <= 1:
        raise JingyunError("bad_param", "high-value share must be in (0, 1]", "high_value_share")
    params = replace(params, holdout_end=None).validate()
    engine = engine_of(source)
    rfm = load_rfm(engine, params)
    fit = fit_rfm(rfm, params, rfm_query(params, engine.settings.timezone))
    scores = clv_scores(fit.bgnbd.params, fit.gamma_gamma.params, rfm, params)
    n = len(rfm)
    n_top = math.ceil(high_value_share * n)
    # Highest CLV first; ties broken by person_id so reruns flag the same people.
    order = np.lexsort((rfm.person_id.astype(str), -scores.clv))
    top = order[:n_top]
    names = ("expected_purchases", "p_alive", "expected_spend", "clv")
    values = (scores.expected_purchases, scores.p_alive, scores.expected_spend, scores.clv)
    persons = [*np.tile(rfm.person_id, len(names)), *rfm.person_id[top]]
    score_names = [nm for nm in names for _ in range(n)] + [HIGH_VALUE_TAG] * n_top
    scored_at = replace_scores(engine, MODEL_NAME, persons, score_names, np.concatenate([*values, np.ones(n_top)]))
    return ClvScoreResult(
        fit=fit,
        scored=n,
        high_value=n_top,
        high_value_threshold=float(scores.clv[top].min()) if n_top else float("nan"),
        scored_at=scored_at,
    )
