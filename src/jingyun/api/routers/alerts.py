"""Alerts (预警): the inbox, acknowledging/snoozing/resolving, the risk map, the rules and on-demand evaluation.

Admins see every alert; everyone else sees the alerts of their departments, workspace-wide ones
(no department) and those routed to them. Another department's alert answers 404, like a missing one.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from jingyun.api.deps import PagingDep, ServiceState, StateDep, deny_object, permit, reading, request_id
from jingyun.errors import JingyunError
from jingyun.localtime import LocalTime
from jingyun.ops.alerts import access, inbox
from jingyun.ops.alerts.service import default_day, run, workspace
from jingyun.security.roles import Principal
from jingyun.store.alerts import MetricAlert
from jingyun.warehouse.backends import open_backend

router = APIRouter(prefix="/api/v1", tags=["alerts 预警"])
Viewer = Annotated[Principal, Depends(permit("alerts:view"))]
Actor = Annotated[Principal, Depends(permit("alerts:ack"))]
Manager = Annotated[Principal, Depends(permit("alerts:manage"))]
AlertId = Annotated[int, Path(ge=1, description="Alert id 预警编号")]


class AlertOut(BaseModel):
    id: int
    rule: str
    kind: str
    subject: str
    metric: str
    level: str
    status: str
    department: str
    title: str
    unit: str
    value: float | None
    reference: float | None
    change: float | None
    value_text: str
    reference_text: str
    plan: str | None
    link: str
    first_day: dt.date
    last_day: dt.date
    repeats: int
    recipient: str | None
    recipient_role: str
    incident_id: int | None
    snoozed_until: LocalTime | None
    acked_by: str | None
    acked_at: LocalTime | None
    resolved_by: str | None
    resolved_at: LocalTime | None
    opened_at: LocalTime
    updated_at: LocalTime
    detail: dict[str, Any]


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


class TimelineEntry(BaseModel):
    ts: LocalTime
    kind: str
    actor: str
    detail: str


class AlertDetail(AlertOut):
    timeline: list[TimelineEntry]


class ActBody(BaseModel):
    until: dt.datetime | None = Field(None, description="Snooze until (with an offset; a naive time is local)")
    note: str = Field("", max_length=1000)


class EvaluateBody(BaseModel):
    as_of: dt.date | None = Field(None, description="Local day to judge (default yesterday)")
    send: bool = True


def _out(state: ServiceState, row: MetricAlert) -> dict[str, Any]:
    data = inbox.alert_dict(row, state.settings.timezone)
    for key in ("snoozed_until", "acked_at", "resolved_at", "opened_at", "updated_at"):
        data[key] = getattr(row, key)  # stored naive UTC: LocalTime shows it in the workspace zone
    return data


def _departments(state: ServiceState, principal: Principal) -> list[str] | None:
    """None for admins (everything), else the names of the caller's departments."""
    return access.viewer(state.store, principal).departments


def _visible(state: ServiceState, principal: Principal, row: MetricAlert) -> bool:
    return access.viewer(state.store, principal).sees(row)


@router.get("/alerts", summary="Alerts, newest first (your departments' and yours)", response_model=AlertPage)
def list_alerts(state: StateDep, principal: Viewer, page: PagingDep,
                status: Annotated[Literal["active", "open", "acknowledged", "snoozed", "resolved"] | None,
                                  Query(description="Status (default active: not resolved)")] = "active",
                level: Annotated[Literal["green", "blue", "yellow", "red"] | None, Query()] = None,
                department: Annotated[str | None, Query(max_length=100)] = None,
                mine: Annotated[bool, Query(description="Only alerts routed to me")] = False) -> AlertPage:
    got = inbox.listing(state.store, status=status, level=level, department=department,
                        recipient=principal.name if mine else None, departments=None if mine else
                        _departments(state, principal), viewer=principal.name, limit=min(page.limit, 500),
                        offset=page.offset)
    return AlertPage(items=[AlertOut(**_out(state, r)) for r in got.items], total=got.total,
                     limit=min(page.limit, 500), offset=page.offset)


@router.get("/alerts/risk-map", summary="Each department's lights: the worst open alert per metric")
def risk_map(state: StateDep, principal: Viewer) -> list[dict[str, Any]]:
    d, _t, rules = reading(state, lambda wh: workspace(state.settings, open_backend(state.settings, warehouse=wh)))
    return inbox.risk_map(state.store, rules, d, departments=_departments(state, principal))


@router.get("/alerts/rules", summary="The workspace's alert rules (alert_rules.yaml)")
def list_rules(state: StateDep, principal: Viewer) -> dict[str, Any]:
    _d, _t, rules = reading(state, lambda wh: workspace(state.settings, open_backend(state.settings, warehouse=wh)))
    return {"file": rules.origin, "rules": [r.to_dict() for r in rules.rules]}


@router.post("/alerts/evaluate", summary="Judge the rules for a day now, open and route the alerts")
def evaluate_now(state: StateDep, principal: Manager, body: EvaluateBody) -> dict[str, Any]:
    day = body.as_of or default_day(state.settings)
    result = reading(state, lambda wh: run(state.settings, open_backend(state.settings, warehouse=wh), state.store,
                                           day, send=body.send))
    return dict(result.to_dict())


@router.get("/alerts/{alert_id}", summary="One alert with its diagnosis and timeline", response_model=AlertDetail)
def get_alert(request: Request, state: StateDep, principal: Viewer, alert_id: AlertId) -> AlertDetail:
    try:
        row, events = inbox.get(state.store, alert_id)
    except JingyunError as exc:
        raise JingyunError("not_found", "no such alert", "alert_id", status=404) from exc
    if not _visible(state, principal, row):
        raise deny_object(state, request, principal, "alert", "alert_id")
    timeline = [TimelineEntry(ts=e.ts, kind=e.kind, actor=e.actor, detail=e.detail) for e in events]
    return AlertDetail(**_out(state, row), timeline=timeline)


@router.post("/alerts/{alert_id}/{action}", summary="Acknowledge, snooze (until a time) or resolve an alert",
             response_model=AlertOut)
def act(request: Request, state: StateDep, principal: Actor, alert_id: AlertId,
        action: Annotated[Literal["ack", "snooze", "resolve"], Path()], body: ActBody | None = None) -> AlertOut:
    body = body or ActBody(until=None, note="")
    try:
        row, _ = inbox.get(state.store, alert_id)
    except JingyunError as exc:
        raise JingyunError("not_found", "no such alert", "alert_id", status=404) from exc
    if not _visible(state, principal, row):
        raise deny_object(state, request, principal, "alert", "alert_id")
    until = None
    if body.until is not None:
        from zoneinfo import ZoneInfo

        u = body.until if body.until.tzinfo else body.until.replace(tzinfo=ZoneInfo(state.settings.timezone))
        until = u.astimezone(dt.UTC).replace(tzinfo=None)
    row = inbox.act(state.store, alert_id, action, actor=principal.name, role=principal.role,
                    departments=_departments(state, principal) or [], until=until, note=body.note)
    state.auditor.log(actor=principal.name, role=principal.role, action="alert_change", target=f"alert:{alert_id}",
                      detail={"action": action, "status": row.status}, request_id=request_id(request))
    return AlertOut(**_out(state, row))
