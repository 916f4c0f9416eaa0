"""Journeys (用户旅程): list and show (``journeys:view``), create (``journeys:create``: specialists and up),
activate and pause (``journeys:approve``: managers), simulate on history (``journeys:view``; sends nothing)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, Field

from jingyun.api.deps import PagingDep, StateDep, permit, reading
from jingyun.automation import registry
from jingyun.automation.guards import GuardRules
from jingyun.automation.journey import parse_journey
from jingyun.automation.simulate import simulate
from jingyun.errors import JingyunError
from jingyun.localtime import LocalTime
from jingyun.metrics.definitions import for_settings
from jingyun.security.roles import Principal
from jingyun.warehouse.backends import open_backend

router = APIRouter(prefix="/api/v1", tags=["journeys 用户旅程"])
Viewer = Annotated[Principal, Depends(permit("journeys:view"))]
Creator = Annotated[Principal, Depends(permit("journeys:create"))]
Approver = Annotated[Principal, Depends(permit("journeys:approve"))]
Key = Annotated[str, Path(min_length=1, max_length=64, description="Journey key 旅程标识")]


class JourneyOut(BaseModel):
    key: str
    name: str
    status: Literal["draft", "active", "paused"]
    priority: int
    version: int
    created_by: str
    created_at: LocalTime
    updated_at: LocalTime
    updated_by: str
    definition: dict[str, Any]


class JourneyCreated(JourneyOut):
    changed: bool = Field(description="False when the same definition was already saved")


class JourneyPage(BaseModel):
    items: list[JourneyOut]
    total: int
    limit: int
    offset: int


class StepOut(BaseModel):
    id: str
    users: int


class EntryOut(BaseModel):
    user_id: str
    entered_at: LocalTime
    path: list[str]


class SimulationOut(BaseModel):
    journey: str
    entered: int
    steps: list[StepOut]
    actions: dict[str, int]
    suppressed: dict[str, int]
    users: list[EntryOut] | None = None


class SimulateIn(BaseModel):
    date_from: dt.date = Field(alias="from")
    date_to: dt.date = Field(alias="to")
    users: bool = False
    definition: dict[str, Any] | None = Field(default=None, description="A journey to try instead of the saved one")


def _out(state: Any, stored: registry.StoredJourney) -> dict[str, Any]:
    return stored.to_dict(state.settings.timezone)


@router.get("/journeys", summary="Journeys by key 旅程列表", response_model=JourneyPage)
def list_journeys(state: StateDep, _: Viewer, page: PagingDep,
                  status: Annotated[Literal["draft", "active", "paused"] | None, Query()] = None) -> JourneyPage:
    limit = min(page.limit, registry.MAX_PAGE)
    found, total = registry.listing(state.store, status=status, limit=limit, offset=page.offset)
    return JourneyPage(items=[JourneyOut(**_out(state, j)) for j in found], total=total, limit=limit,
                       offset=page.offset)


@router.get("/journeys/{key}", summary="A journey's running (or a past) version 旅程详情", response_model=JourneyOut)
def show_journey(state: StateDep, _: Viewer, key: Key,
                 version: Annotated[int | None, Query(ge=1)] = None) -> JourneyOut:
    return JourneyOut(**_out(state, registry.get(state.store, key, version=version)))


@router.post("/journeys", summary="Save a journey: a draft, or a new version 保存旅程", status_code=201,
             response_model=JourneyCreated)
def create_journey(state: StateDep, principal: Creator, body: Annotated[dict[str, Any], Body()]) -> JourneyCreated:
    journey = parse_journey(body, "body")
    # who saved and moved a journey is kept on its rows (created_by, updated_by, each version's author)
    stored, changed = registry.create(state.store, journey, by=principal.name)
    return JourneyCreated(**_out(state, stored), changed=changed)


def _move(state: Any, principal: Principal, key: str, action: str) -> JourneyOut:
    fn = {"activate": registry.activate, "pause": registry.pause, "resume": registry.resume}[action]
    stored = fn(state.store, key, by=principal.name)
    return JourneyOut(**_out(state, stored))


@router.post("/journeys/{key}/activate", summary="Turn a journey on (managers) 启用旅程", response_model=JourneyOut)
def activate_journey(state: StateDep, principal: Approver, key: Key) -> JourneyOut:
    return _move(state, principal, key, "activate")


@router.post("/journeys/{key}/pause", summary="Pause a journey (managers) 暂停旅程", response_model=JourneyOut)
def pause_journey(state: StateDep, principal: Approver, key: Key) -> JourneyOut:
    return _move(state, principal, key, "pause")


@router.post("/journeys/{key}/resume", summary="Resume a paused journey (managers) 恢复旅程", response_model=JourneyOut)
def resume_journey(state: StateDep, principal: Approver, key: Key) -> JourneyOut:
    return _move(state, principal, key, "resume")


@router.post("/journeys/{key}/simulate", summary="Replay history through a journey; sends nothing 历史回放",
             response_model=SimulationOut, response_model_exclude_none=True)
def simulate_journey(state: StateDep, _: Viewer, key: Key, body: SimulateIn) -> SimulationOut:
    if body.definition is not None:
        journey = parse_journey(body.definition, "definition")
        if journey.key != key:
            raise JingyunError("bad_journey", f"the definition's key {journey.key!r} is not {key!r}", "definition.key")
    else:
        journey = registry.get(state.store, key).journey
    settings = state.settings

    def run(wh: Any) -> Any:
        return simulate(open_backend(settings, warehouse=wh), [journey], body.date_from, body.date_to,
                        timezone=settings.timezone, rules=GuardRules.from_settings(settings), store=state.store,
                        defs=for_settings(settings), with_users=body.users)

    [result] = reading(state, run)
    return SimulationOut(**result.to_dict(with_users=body.users))


# -- the measure half: the lift report, the editor's validation and activation requests ---------------------------


class ArmOut(BaseModel):
    entries: int = Field(description="Entries in the range (a person may enter again after the entry limit)")
    people: int = Field(description="People, each at their first entry in the range: the unit of the lift")
    converted: int
    conversion_rate: float | None
    revenue: float = Field(description="Valid orders' amount in the attribution window after the first entry")
    revenue_per_person: float | None


class EffectOut(BaseModel):
    control: float | None
    treated: float | None
    uplift_abs: float | None
    ci_abs: list[float | None]
    uplift_rel: float | None
    ci_rel: list[float | None]
    p_value: float | None
    method: str
    message: str | None


class LiftOut(BaseModel):
    conversion: EffectOut
    revenue_per_person: EffectOut


class ReportOut(BaseModel):
    journey: str
    source: Literal["simulated", "live"]
    date_from: dt.date = Field(serialization_alias="from")
    date_to: dt.date = Field(serialization_alias="to")
    timezone: str
    goal: str
    window_hours: float
    holdout_share: float
    treated: ArmOut
    holdout: ArmOut
    lift: LiftOut
    coupon_cost: str
    steps: list[StepOut]
    live: dict[str, dict[str, int]]
    sends: dict[str, dict[str, int]]
    actions: dict[str, int]
    suppressed: dict[str, int]
    notes: list[str]


@router.get("/journeys/{key}/report", summary="Treated vs holdout: conversion, revenue, lift with its interval "
            "旅程效果报告", response_model=ReportOut, response_model_by_alias=True)
def journey_report(state: StateDep, _: Viewer, key: Key,
                   date_from: Annotated[dt.date | None, Query(alias="from", description="First local day")] = None,
                   date_to: Annotated[dt.date | None, Query(alias="to", description="Last local day")] = None,
                   source: Annotated[Literal["auto", "simulated", "live"], Query()] = "auto",
                   window_hours: Annotated[float | None, Query(gt=0, le=24 * 90, description="Attribution window "
                                                               "(default: the goal's within)")] = None
                   ) -> ReportOut:
    from jingyun.automation.report import default_range, report

    journey = registry.get(state.store, key).journey
    settings = state.settings

    def run(wh: Any) -> Any:
        backend = open_backend(settings, warehouse=wh)
        end = date_to
        start = date_from
        if end is None:
            end = default_range(backend, settings.timezone)[1]
        if start is None:
            start = end - dt.timedelta(days=29)
        return report(backend, journey, start, end, settings=settings, store=state.store, source=source,
                      window_s=int(window_hours * 3600) if window_hours else None)

    out = reading(state, run).to_dict()
    return ReportOut(**{**out, "date_from": out.pop("from"), "date_to": out.pop("to")})


class ValidateIn(BaseModel):
    text: str = Field(min_length=1, max_length=200_000, description="The journey as YAML or JSON text")


class ValidateOut(BaseModel):
    valid: bool
    code: str | None = None
    field: str | None = None
    message: str | None = None
    definition: dict[str, Any] | None = None


@router.post("/journeys/validate", summary="Check a journey's YAML/JSON; errors name the field 校验旅程定义",
             response_model=ValidateOut)
def validate_journey(_: Creator, body: ValidateIn) -> ValidateOut:
    from jingyun.automation.journey import load_text, to_data

    try:
        journey = load_text(body.text, "definition")
    except JingyunError as exc:
        return ValidateOut(valid=False, code=exc.code, field=exc.field, message=exc.message)
    return ValidateOut(valid=True, definition=to_data(journey))


class ActivationOut(BaseModel):
    request_id: int
    status: str
    title: str


@router.post("/journeys/{key}/request-activation", summary="Ask for a journey to be turned on (approval) 申请启用",
             status_code=201, response_model=ActivationOut)
def request_journey_activation(state: StateDep, principal: Creator, key: Key) -> ActivationOut:
    from jingyun.automation.activation import request_activation

    req = request_activation(state.store, state.settings, key, requester=principal.name)
    return ActivationOut(request_id=req.id, status=req.status, title=req.title)
