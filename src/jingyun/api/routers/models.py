"""Predictive models over HTTP (预测模型): the registry, CLV fit summary, forecasts and per-person scores.

Fitting and forecasting run in the threadpool on a read cursor (nothing is
written: scoring runs that write ``model_scores`` stay in the CLI and the
scheduler). Scores are keyed by ``person_id`` (a pseudonymous id) and hold no
personal data; they are paginated with ``total``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from jingyun.api.deps import PagingDep, StateDep, jsonable, permit, reading
from jingyun.api.schemas import Wire, query_model
from jingyun.localtime import LocalTime
from jingyun.models.clv import ClvParams, fit_clv
from jingyun.models.forecast import ForecastParams, run_forecast
from jingyun.models.registry import StoreRegistry
from jingyun.security.roles import Principal

router = APIRouter(prefix="/api/v1/models", tags=["models 预测模型"])
Analyst = Annotated[Principal, Depends(permit("analysis:run"))]

# every option of the library's parameter objects is a query parameter; only a service's limits are named
ClvQuery = query_model(ClvParams, "ClvQuery", overrides={
    "months": Wire(field=Field(ge=1, le=120)),
    "monthly_discount_rate": Wire(field=Field(ge=0, lt=1)),
    "margin": Wire(field=Field(gt=0, le=1)),
    "max_frequency_bucket": Wire(field=Field(ge=1, le=50)),
})
ForecastQuery = query_model(ForecastParams, "ForecastQuery", exclude=("exog_csv",), overrides={
    # the older comma form stays the wire form: by=category,channel
    "by": Wire(annotation=Annotated[str, Field(pattern=r"^(category|channel)?(,(category|channel))?$",
                                               description="category, channel or both 维度")],
               convert=lambda v, path: tuple(b for b in v.split(",") if b), default="category,channel"),
    "horizon": Wire(field=Field(ge=1, le=56)),
    "history_days": Wire(field=Field(ge=1, le=3660)),
    "backtest_origins": Wire(field=Field(ge=0, le=12)),
    "origin_step": Wire(field=Field(ge=1, le=365)),
    "ar_lags": Wire(field=Field(ge=1, le=14)),
    "interval": Wire(field=Field(ge=0.5, lt=1)),
})


class ScoreOut(BaseModel):
    person_id: str
    model: str
    score_name: str
    value: float | None
    scored_at: LocalTime | None


class ScorePage(BaseModel):
    items: list[ScoreOut]
    total: int
    limit: int
    offset: int


class ModelOut(BaseModel):
    """A registry entry (models.registry.ModelEntry)."""

    model_id: str
    kind: str
    created_at: LocalTime
    data_start: dt.date | None = Field(description="First local day of data the model learned from")
    data_end: dt.date | None = Field(description="First local day it did not see")
    params: dict[str, Any]
    metrics: dict[str, Any]
    artifact: str | None


class BgnbdOut(BaseModel):
    r: float | None
    alpha: float | None
    a: float | None
    b: float | None
    log_likelihood: float | None


class GammaGammaOut(BaseModel):
    p: float | None
    q: float | None
    gamma: float | None
    log_likelihood: float | None
    customers: int


class HoldoutOut(BaseModel):
    frequency: str = Field(description='calibration repeat purchases: "0", "1", …, "7+"')
    customers: int
    actual: float | None
    predicted: float | None


class ClvFitOut(BaseModel):
    """models.clv.ClvFitResult as its ``to_dict`` writes it."""

    bgnbd: BgnbdOut
    gamma_gamma: GammaGammaOut
    customers: int
    repeat_customers: int
    time_unit: Literal["week", "day"]
    calibration_end: dt.date
    holdout_end: dt.date | None
    holdout: list[HoldoutOut] | None


class SeriesBacktestOut(BaseModel):
    key: str
    actual_total: float | None
    wape: float | None
    mape: float | None
    baseline_wape: float | None
    coverage: float | None
    accuracy: float | None


class BacktestOut(BaseModel):
    origins: list[dt.date]
    wape: float | None
    baseline_wape: float | None
    baseline: str
    accuracy: float | None
    coverage: float | None
    series: list[SeriesBacktestOut]


class ForecastPointOut(BaseModel):
    period: dt.date
    mean: float | None
    lower: float | None
    upper: float | None


class SeriesForecastOut(BaseModel):
    key: str
    dropped_regressors: list[str]
    points: list[ForecastPointOut]


class ForecastOut(BaseModel):
    """models.forecast.ForecastResult as its ``to_dict`` writes it."""

    metric: Literal["gmv", "orders"]
    grain: Literal["day", "week"]
    by: list[str]
    horizon: int
    end: dt.date
    interval: float
    backtest: BacktestOut
    forecasts: list[SeriesForecastOut]


class ModelPage(BaseModel):
    items: list[ModelOut]
    total: int
    limit: int
    offset: int


@router.get("", summary="Trained models in the registry 模型登记", response_model=ModelPage)
def registry(state: StateDep, _: Analyst, page: PagingDep,
             kind: Annotated[str | None, Query(max_length=20, description="churn, clv, forecast, recommend")] = None
             ) -> ModelPage:
    entries = StoreRegistry(state.store).list(kind)
    items = [ModelOut(**{**jsonable(e.to_dict()), "created_at": e.created_at})
             for e in entries[page.offset:page.offset + page.limit]]
    return ModelPage(items=items, total=len(entries), limit=page.limit, offset=page.offset)


@router.get("/clv/fit", summary="BG/NBD + Gamma-Gamma fit summary with holdout check CLV模型拟合",
            response_model=ClvFitOut)
def clv_fit(state: StateDep, _: Analyst, query: Annotated[ClvQuery, Query()]) -> dict[str, Any]:  # type: ignore[valid-type]
    params: ClvParams = query.to_params().validate()  # type: ignore[attr-defined]
    return jsonable(reading(state, lambda wh: fit_clv(wh, params).to_dict()))


@router.get("/scores", summary="Per-person model scores (CLV, churn risk…) 模型评分", response_model=ScorePage)
def scores(state: StateDep, _: Analyst, page: PagingDep,
           model: Annotated[str | None, Query(max_length=20, description="clv, churn…")] = None,
           score_name: Annotated[str | None, Query(max_length=50, description="clv, p_alive, churn_risk…")] = None,
           person_id: Annotated[str | None, Query(max_length=200)] = None) -> ScorePage:
    conds, args = [], []
    for col, value in (("model", model), ("score_name", score_name), ("person_id", person_id)):
        if value is not None:
            conds.append(f"{col} = ?")
            args.append(value)
    where = " AND ".join(conds) or "TRUE"

    def fetch(wh: Any) -> tuple[int, list[tuple[Any, ...]]]:
        if not wh.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'model_scores'"):
            return 0, []
        total = int(wh.scalar(f"SELECT count(*) FROM model_scores WHERE {where}", args))
        rows = wh.rows(f"SELECT person_id, model, score_name, value, scored_at FROM model_scores WHERE {where} "
                       f"ORDER BY model, score_name, value DESC NULLS LAST, person_id "
                       f"LIMIT {page.limit} OFFSET {page.offset}", args)
        return total, rows

    total, rows = reading(state, fetch)
    items = [ScoreOut(person_id=str(r[0]), model=str(r[1]), score_name=str(r[2]), value=jsonable(r[3]),
                      scored_at=r[4]) for r in rows]
    return ScorePage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/forecast", summary="Sales forecast by category/channel with backtest 销售预测",
            response_model=ForecastOut)
def forecast(state: StateDep, _: Analyst,
             query: Annotated[ForecastQuery, Query()]) -> dict[str, Any]:  # type: ignore[valid-type]
    params: ForecastParams = query.to_params().validate()  # type: ignore[attr-defined]
    return jsonable(reading(state, lambda wh: run_forecast(wh, params).to_dict()))
