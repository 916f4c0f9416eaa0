"""Metrics and KPIs over HTTP (指标与KPI): the dictionary, metric values, targets and the scorecard.

Definitions (the dictionary, the targets) are readable by every role — they
are the shared vocabulary; computed values and scorecards are analyses
(``analysis:run``). Values come from :func:`jingyun.metrics.compute.compute`
and :func:`jingyun.metrics.kpi.scorecard`, unchanged: the JSON is the
library's ``to_dict()`` / ``scorecard_dict()``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from jingyun.api.deps import StateDep, jsonable, permit, reading, request_id
from jingyun.metrics.compute import ComputeParams, compute
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.kpi import load_targets, scorecard, scorecard_dict, target_dict, targets_path
from jingyun.metrics.model import Metric
from jingyun.metrics.periods import parse_period
from jingyun.security.files import public_path
from jingyun.security.masking import Masker, require_field_access, sensitive_field
from jingyun.security.roles import Principal
from jingyun.warehouse import personal
from jingyun.warehouse.backends import open_backend

router = APIRouter(prefix="/api/v1", tags=["metrics 指标与KPI"])
Reader = Annotated[Principal, Depends(permit("schema:read"))]
Analyst = Annotated[Principal, Depends(permit("analysis:run"))]
MetricName = Annotated[str, Path(min_length=1, max_length=100, description="Metric name, e.g. gmv 指标名")]


class Bilingual(BaseModel):
    zh: str
    en: str


class MetricOut(BaseModel):
    """One metric definition (指标定义)."""

    name: str
    zh: str
    en: str
    unit: str
    direction: str
    grain: str
    owner: str
    perspective: str
    description: Bilingual
    kind: str
    formula: dict[str, Any]
    defined_in: str


class MetricList(BaseModel):
    items: list[MetricOut]
    total: int
    files: list[str]


class PointOut(BaseModel):
    bucket: str
    label: str
    by_value: str | None
    value: float | None
    parts: dict[str, float | None]


class MetricValues(BaseModel):
    """``compute``'s result: one point per bucket (and breakdown value)."""

    metric: str
    name: Bilingual
    unit: str
    direction: str
    from_: str = Field(alias="from")
    to: str
    grain: str
    by: str | None
    timezone: str
    points: list[PointOut]
    sql: str


class TargetOut(BaseModel):
    """A KPI target (metrics.kpi.Target) as ``target_dict`` writes it."""

    id: str
    metric: str
    name: Bilingual
    op: Literal[">=", "<="]
    target: float
    weight: float
    owner: str
    perspective: str
    period: str
    grain: str


class ComparisonOut(BaseModel):
    period: str
    value: float | None
    change: float | None
    change_pct: float | None


Status = Literal["green", "yellow", "red", "no_data"]


class TargetResultOut(TargetOut):
    unit: str
    actual: float | None
    attainment: float | None
    status: Status
    score: float | None
    gap: float | None
    previous: ComparisonOut
    year_ago: ComparisonOut


class PerspectiveOut(BaseModel):
    perspective: str
    zh: str
    weight: float | None
    score: float | None
    status: Status
    targets: list[TargetResultOut]


class ScorecardOut(BaseModel):
    """The balanced scorecard (metrics.kpi.Scorecard) as ``scorecard_dict`` writes it."""

    period: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    score: float | None
    status: Status
    weight_total: float | None
    weights_normalised: bool
    bands: dict[str, float]
    score_cap: float
    perspectives: list[PerspectiveOut]
    warnings: list[str]
    targets_file: str


class TargetsOut(BaseModel):
    file: str
    bands: dict[str, float]
    score_cap: float
    weight_total: float
    targets: list[TargetOut]
    total: int


def metric_out(m: Metric, home: pathlib.Path) -> MetricOut:
    formula = jsonable(dataclasses.asdict(m.formula))
    formula.setdefault("filters", [])
    return MetricOut(name=m.name, zh=m.zh, en=m.en, unit=m.unit, direction=m.direction, grain=m.grain, owner=m.owner,
                     perspective=m.perspective, description=Bilingual(zh=m.description_zh, en=m.description_en),
                     kind=m.formula.kind, formula=formula, defined_in=public_path(m.origin, home))


@router.get("/metrics", summary="The metric dictionary 指标字典", response_model=MetricList)
def list_metrics(state: StateDep, _: Reader) -> MetricList:
    d = load_dictionary(state.settings)
    items = [metric_out(m, state.settings.home) for m in d.metrics.values()]
    return MetricList(items=items, total=len(items), files=[public_path(f, state.settings.home) for f in d.files])


@router.get("/metrics/{name}", summary="One metric's definition 指标定义", response_model=MetricOut)
def get_metric(name: MetricName, state: StateDep, _: Reader) -> MetricOut:
    return metric_out(load_dictionary(state.settings).metric(name), state.settings.home)


@router.get("/metrics/{name}/values", summary="A metric per day/week/month, optionally by a dimension 指标计算",
            response_model=MetricValues, response_model_by_alias=True)
def metric_values(
    request: Request, name: MetricName, state: StateDep, principal: Analyst,
    date_from: Annotated[str, Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$", description="First local day 开始日期")],
    date_to: Annotated[str, Query(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$", description="Last local day, inclusive 结束日期")],
    grain: Annotated[str | None, Query(max_length=10, description="day | week | month | total 粒度")] = None,
    by: Annotated[str | None, Query(max_length=100, description="channel, users.<column> or properties.<key> 分组")] = None,
    include_test: Annotated[bool, Query(description="Keep test accounts 包含测试账号")] = False,
) -> dict[str, Any]:
    d = load_dictionary(state.settings)
    params = ComputeParams.create(name, date_from, date_to, grain=grain, by=by, timezone=state.settings.timezone,
                                  include_test=include_test)
    if params.by is not None:
        require_field_access(params.by, sees_raw=principal.sees_raw, field_name="by")
        personal.require_groupable(state.service, params.by)
    result = reading(state, lambda wh: compute(open_backend(state.settings, warehouse=wh), d, params)).to_dict()
    if params.by is not None:
        masker = Masker(state.service.mask_salt)
        masked = [masker.any(pt["by_value"]) for pt in result["points"]]
        lists_personal = sensitive_field(params.by) or any(
            m != pt["by_value"] for m, pt in zip(masked, result["points"], strict=True))
        if not principal.sees_raw:  # free text and JSON values of a property breakdown
            result["points"] = [{**pt, "by_value": m} for m, pt in zip(masked, result["points"], strict=True)]
        if lists_personal:
            # values per person (phones, contacts): audited like an export, so thousands of them raise
            # the bulk-export alert
            state.auditor.log(actor=principal.name, role=principal.role, action="export", target=f"metric:{name}",
                              detail={"by": params.by, "rows": len(result["points"]),
                                      "deidentified": not principal.sees_raw}, request_id=request_id(request))
    return jsonable(result)


@router.get("/kpi/targets", summary="KPI targets and weights KPI目标", response_model=TargetsOut)
def kpi_targets(state: StateDep, _: Reader) -> TargetsOut:
    d = load_dictionary(state.settings)
    path = targets_path(state.settings)
    ts = load_targets(d, path)
    targets = [TargetOut(**jsonable(target_dict(t))) for t in ts.targets]
    return TargetsOut(file=public_path(path, state.settings.home), bands={"green": ts.bands.green, "yellow": ts.bands.yellow}, score_cap=ts.cap,
                      weight_total=sum(t.weight for t in ts.targets), targets=targets, total=len(targets))


@router.get("/kpi/scorecard", summary="Balanced scorecard for a period 平衡计分卡", response_model=ScorecardOut)
def kpi_scorecard(
    state: StateDep, _: Analyst,
    period: Annotated[str, Query(min_length=4, max_length=20,
                                 description="2026-10, 2026-Q4, 2026-W41, 2026-10-05 or 2026 考核周期")],
) -> dict[str, Any]:
    d = load_dictionary(state.settings)
    ts = load_targets(d, targets_path(state.settings))
    p = parse_period(period)
    card = reading(state, lambda wh: scorecard(open_backend(state.settings, warehouse=wh), d, ts, p, state.settings.timezone))
    return jsonable({**scorecard_dict(card), "targets_file": public_path(card.targets_file, state.settings.home)})
