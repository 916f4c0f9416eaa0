"""Channel and diagnostic analyses over HTTP (渠道与诊断分析): attribution, channel ROI, explain, anomalies.

Each route builds the analysis's own parameter object (which validates and
names the faulty field) and calls the library runner on a read cursor, in
the threadpool. Results are aggregates, never personal data; the JSON is the
library's ``to_dict()``, documented by its result dataclass (``response_model``), and every
option of the parameter object is a query parameter, so the numbers equal ``jingyun attribution --json``
and friends for the same parameters.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from jingyun.analysis.anomaly import AnomalyParams, AnomalyResult, run_anomalies
from jingyun.analysis.attribution import MODELS, AttributionParams, AttributionResult, run_models
from jingyun.analysis.channels import ChannelParams, ChannelReport, run_channels
from jingyun.analysis.explain import ExplainParams, Explanation, run_explain
from jingyun.api.deps import StateDep, jsonable, permit, reading
from jingyun.security.roles import Principal
from jingyun.warehouse.backends import open_backend

router = APIRouter(prefix="/api/v1/analysis", tags=["analysis 分析"])
Analyst = Annotated[Principal, Depends(permit("analysis:run"))]
FromQ = Annotated[str | None, Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$", description="First local day 开始日期")]
ToQ = Annotated[str | None, Query(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$", description="Last local day 结束日期")]
Duration = Annotated[str, Query(pattern=r"^\d{1,5}[smhdw]?$", description="e.g. 7d, 30d, 12h 时长")]
IncludeTest = Annotated[bool, Query(description="Keep test accounts 包含测试账号")]


class AllModels(BaseModel):
    """``model=all``: every attribution model's result, by model name."""

    models: dict[str, AttributionResult]


@router.get("/attribution", summary="Multi-touch attribution of conversions and revenue 多触点归因",
            response_model=AttributionResult | AllModels)
def attribution(
    state: StateDep, _: Analyst,
    model: Annotated[str, Query(max_length=20, description=f"{' | '.join(MODELS)} | all 归因模型")] = "last_touch",
    date_from: FromQ = None,
    date_to: ToQ = None,
    lookback: Duration = "30d",
    half_life: Duration = "7d",
    position_weights: Annotated[str, Query(max_length=40, description="first,middle,last 位置权重")] = "0.4,0.2,0.4",
    conversion_event: Annotated[str | None, Query(min_length=1, max_length=100, description="转化事件")] = None,
    include_test: IncludeTest = False,
) -> dict[str, Any]:
    params = AttributionParams.create(
        "last_touch" if model == "all" else model, lookback=lookback, half_life=half_life,
        position_weights=position_weights, conversion_event=conversion_event, date_from=date_from, date_to=date_to,
        timezone=state.settings.timezone, include_test=include_test)
    models = MODELS if model == "all" else (params.model,)
    results = reading(state, lambda wh: run_models(open_backend(state.settings, warehouse=wh), params, models))
    if model == "all":
        return {"models": {m: jsonable(r.to_dict()) for m, r in results.items()}}
    return jsonable(results[params.model].to_dict())


@router.get("/channels", summary="Spend, CAC, ROI, ROAS, LTV per channel and the value-cost matrix 渠道ROI",
            response_model=ChannelReport)
def channels(
    state: StateDep, _: Analyst,
    date_from: FromQ = None,
    date_to: ToQ = None,
    acquisition: Annotated[str, Query(max_length=20, description="users | attribution 新客归属")] = "users",
    model: Annotated[str, Query(max_length=20, description="attribution model 归因模型")] = "last_touch",
    ltv_days: Annotated[int, Query(ge=1, le=3650, description="LTV horizon in days LTV天数")] = 180,
    value_threshold: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    cost_threshold: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    lookback: Duration = "30d",
    include_test: IncludeTest = False,
) -> dict[str, Any]:
    params = ChannelParams.create(date_from, date_to, acquisition=acquisition, model=model, ltv_days=ltv_days,
                                  value_threshold=value_threshold, cost_threshold=cost_threshold, lookback=lookback,
                                  timezone=state.settings.timezone, include_test=include_test)
    return jsonable(reading(state, lambda wh: run_channels(open_backend(state.settings, warehouse=wh), params).to_dict()))


@router.get("/explain", summary="What moved a metric between two periods 指标变化归因", response_model=Explanation)
def explain(
    state: StateDep, _: Analyst,
    metric: Annotated[str, Query(min_length=1, max_length=50, description="gmv, orders, aov, conversion… 指标")],
    current: Annotated[str, Query(min_length=4, max_length=30, description="2026-10 or 2026-10-01..2026-10-15 本期")],
    previous: Annotated[str | None, Query(min_length=4, max_length=30, description="上期 (default: the one before)")] = None,
    by: Annotated[str, Query(min_length=1, max_length=100, description="dimension(s), comma-separated 维度")] = "channel",
    top: Annotated[int, Query(ge=1, le=50)] = 3,
    include_test: IncludeTest = False,
) -> dict[str, Any]:
    params = ExplainParams.create(metric, current, previous, by=by, top=top, timezone=state.settings.timezone,
                                  include_test=include_test)
    return jsonable(reading(state, lambda wh: run_explain(open_backend(state.settings, warehouse=wh), params).to_dict()))


@router.get("/anomalies", summary="Days out of line in a metric's daily series 异常检测", response_model=AnomalyResult)
def anomalies(
    state: StateDep, _: Analyst,
    metric: Annotated[str, Query(min_length=1, max_length=50, description="gmv, orders, dau… 指标")] = "gmv",
    date_from: FromQ = None,
    date_to: ToQ = None,
    method: Annotated[str, Query(max_length=10, description="stl | weekday 方法")] = "stl",
    threshold: Annotated[float, Query(gt=0, le=100, description="robust z cut 阈值")] = 3.5,
    period: Annotated[int, Query(ge=2, le=366, description="seasonal period in days 季节周期")] = 7,
    include_test: IncludeTest = False,
) -> dict[str, Any]:
    params = AnomalyParams.create(metric, date_from, date_to, method=method, threshold=threshold, period=period,
                                  timezone=state.settings.timezone, include_test=include_test)
    return jsonable(reading(state, lambda wh: run_anomalies(open_backend(state.settings, warehouse=wh), params).to_dict()))
