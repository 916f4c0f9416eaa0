"""Analyses over HTTP (分析): funnels, retention, paths, experiments.

Thin: each route parses its body into the analysis's own parameter object and
calls the library runner on a read cursor; results are aggregates (no
personal data), returned as the runner's ``to_dict()`` and
documented by its result dataclass.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from jingyun.analysis import FunnelParams, PathsParams, RetentionParams, run_funnel, run_paths, run_retention
from jingyun.analysis.common import parse_duration
from jingyun.analysis.funnel import MAX_STEPS, FunnelResult
from jingyun.analysis.paths import PathsResult
from jingyun.analysis.retention import MAX_PERIODS, RetentionResult
from jingyun.api.deps import StateDep, jsonable, permit
from jingyun.api.routers.experiments import ExperimentOut
from jingyun.api.schemas import Wire, request_model
from jingyun.errors import JingyunError
from jingyun.security.masking import Masker, require_field_access
from jingyun.security.roles import Principal
from jingyun.warehouse.backends import open_backend

router = APIRouter(prefix="/api/v1/analysis", tags=["analysis 分析"])
Analyst = Annotated[Principal, Depends(permit("analysis:run"))]
Duration = Annotated[str, Field(min_length=1, max_length=20, description="e.g. 30m, 24h, 7d 时长")] | \
    Annotated[int, Field(gt=0, le=10 * 365 * 86400, description="seconds 秒")]

# The bodies are the parameter objects' own fields (api/schemas.py): a parameter the library gains is
# offered here too. Only limits a service must set (list lengths, ranges) and older wire names are named.
FunnelIn = request_model(FunnelParams, "FunnelIn", overrides={
    "steps": Wire(field=Field(min_length=2, max_length=MAX_STEPS)),
    "exclusions": Wire(field=Field(max_length=MAX_STEPS)),
    "window": Wire(annotation=Duration, convert=parse_duration),
})
RetentionIn = request_model(RetentionParams, "RetentionIn", overrides={
    "periods": Wire(name="days", field=Field(ge=0, le=MAX_PERIODS)),
})
PathsIn = request_model(PathsParams, "PathsIn", overrides={
    "depth": Wire(field=Field(ge=1, le=20)),
    "top": Wire(field=Field(ge=1, le=100)),
    "gap_minutes": Wire(field=Field(ge=1, le=24 * 60)),
})


def _run(state: StateDep, fn: Any, params: Any) -> Any:
    reader = state.writer.reader()
    try:
        return fn(open_backend(state.settings, warehouse=reader), params)
    finally:
        reader.close()


def _breakdown_gate(state: StateDep, principal: Principal, by: Any) -> Masker | None:
    """A breakdown as this caller may have it: refused on personal data (403 naming ``by``), and a masker
    for its values when the caller sees de-identified data (None: no breakdown, or a raw role)."""
    if by is None:
        return None
    require_field_access(by.label, sees_raw=principal.sees_raw, field_name="by")
    return None if principal.sees_raw else Masker(state.service.mask_salt)


@router.post("/funnel", summary="Funnel conversion and bottleneck 漏斗分析", response_model=FunnelResult)
def funnel(body: FunnelIn, state: StateDep, principal: Analyst) -> dict[str, Any]:  # type: ignore[valid-type]
    params: FunnelParams = body.to_params(timezone=state.settings.timezone)  # type: ignore[attr-defined]
    masker = _breakdown_gate(state, principal, params.by)
    result: FunnelResult = _run(state, run_funnel, params)
    if masker is not None:  # a property breakdown's values may be free text
        for group in result.breakdown:
            group.value = masker.any(group.value)
    return jsonable(result.to_dict())


@router.post("/retention", summary="Retention by cohort 留存分析", response_model=RetentionResult)
def retention(body: RetentionIn, state: StateDep, principal: Analyst) -> dict[str, Any]:  # type: ignore[valid-type]
    params: RetentionParams = body.to_params(timezone=state.settings.timezone)  # type: ignore[attr-defined]
    masker = _breakdown_gate(state, principal, params.by)
    result: RetentionResult = _run(state, run_retention, params)
    if masker is not None:
        for cohort in result.cohorts:
            cohort.value = None if cohort.value is None else masker.any(cohort.value)
    return jsonable(result.to_dict())


@router.post("/paths", summary="Paths from an event 路径分析", response_model=PathsResult)
def paths(body: PathsIn, state: StateDep, _: Analyst) -> dict[str, Any]:  # type: ignore[valid-type]
    return jsonable(_run(state, run_paths, body.to_params(timezone=state.settings.timezone)).to_dict())  # type: ignore[attr-defined]


class ExperimentList(BaseModel):
    items: list[ExperimentOut]
    total: int


@router.get("/experiments", summary="Experiments in this workspace 实验列表", response_model=ExperimentList)
def experiments(state: StateDep, _: Analyst) -> ExperimentList:
    from jingyun.experiments.registry import experiment_to_dict, list_experiments

    try:
        items = [ExperimentOut(**experiment_to_dict(e)) for e in list_experiments(state.settings)]
    except JingyunError:
        raise
    return ExperimentList(items=items, total=len(items))
