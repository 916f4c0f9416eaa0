"""Analyses over HTTP (分析): funnels, retention, paths, experiments.

Thin: each route parses its body into the analysis's own parameter object and
calls the library runner on a read cursor; results are aggregates (no
personal data), returned as the runner's ``to_dict()``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from jingyun.analysis import FunnelParams, PathsParams, RetentionParams, run_funnel, run_paths, run_retention
from jingyun.api.deps import StateDep, permit
from jingyun.errors import JingyunError
from jingyun.security.masking import Masker, require_field_access
from jingyun.security.roles import Principal
from jingyun.warehouse.backends.duckdb import DuckDBBackend

router = APIRouter(prefix="/api/v1/analysis", tags=["analysis 分析"])
Analyst = Annotated[Principal, Depends(permit("analysis:run"))]
Event = Annotated[str, Field(min_length=1, max_length=100)]
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]


class FunnelIn(BaseModel):
    steps: list[Event] = Field(min_length=2, max_length=20)
    window: str = Field(default="24h", max_length=20)
    date_from: Day | None = None
    date_to: Day | None = None
    mode: str = Field(default="default", max_length=10)
    by: str | None = Field(default=None, max_length=100)
    period: str = Field(default="day", max_length=10)


class RetentionIn(BaseModel):
    cohort_event: Event | None = None
    return_event: Event | None = None
    days: int = Field(default=7, ge=1, le=90)
    period: str = Field(default="day", max_length=10)
    date_from: Day | None = None
    date_to: Day | None = None


class PathsIn(BaseModel):
    from_event: Event
    direction: str = Field(default="next", max_length=10)
    depth: int = Field(default=3, ge=1, le=10)
    top: int = Field(default=10, ge=1, le=100)
    date_from: Day | None = None
    date_to: Day | None = None


def _run(state: StateDep, fn: Any, params: Any) -> dict[str, Any]:
    reader = state.writer.reader()
    try:
        result = fn(DuckDBBackend(reader), params)
    finally:
        reader.close()
    return result.to_dict()


@router.post("/funnel", summary="Funnel conversion and bottleneck 漏斗分析")
def funnel(body: FunnelIn, state: StateDep, principal: Analyst) -> dict[str, Any]:
    params = FunnelParams.create(list[Any](body.steps), body.window, body.date_from, body.date_to, body.mode, (), body.by,
                                 body.period, state.settings.timezone)
    if params.by is not None:
        require_field_access(params.by.label, sees_raw=principal.sees_raw, field_name="by")
    result = _run(state, run_funnel, params)
    if not principal.sees_raw:  # a property breakdown's values may be free text
        masker = Masker(state.service.mask_salt)
        for group in result.get("breakdown") or []:
            group["value"] = masker.any(group["value"])
    return result


@router.post("/retention", summary="Retention by cohort 留存分析")
def retention(body: RetentionIn, state: StateDep, _: Analyst) -> dict[str, Any]:
    params = RetentionParams.create(body.cohort_event, body.return_event, body.days, period=body.period,
                                    date_from=body.date_from, date_to=body.date_to, timezone=state.settings.timezone)
    return _run(state, run_retention, params)


@router.post("/paths", summary="Paths from an event 路径分析")
def paths(body: PathsIn, state: StateDep, _: Analyst) -> dict[str, Any]:
    params = PathsParams.create(body.from_event, body.direction, body.depth, top=body.top, date_from=body.date_from,
                                date_to=body.date_to, timezone=state.settings.timezone)
    return _run(state, run_paths, params)


@router.get("/experiments", summary="Experiments in this workspace 实验列表")
def experiments(state: StateDep, _: Analyst) -> dict[str, Any]:
    from jingyun.experiments.registry import experiment_to_dict, list_experiments

    try:
        items = [experiment_to_dict(e) for e in list_experiments(state.settings)]
    except JingyunError:
        raise
    return {"items": items, "total": len(items)}
