"""Budgets over HTTP (预算): plans with a reserve pool, releases through approval, status with burn-down
and over-spend, and the allocation optimiser. ``budgets:view`` reads; ``budgets:manage`` plans, asks for
releases and runs the optimiser. Money is exact decimal text."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from jingyun import budgets
from jingyun.api.deps import PagingDep, StateDep, permit, reading
from jingyun.approvals.money import parse_amount
from jingyun.budgets.allocate import Bounds
from jingyun.budgets.optimize import optimize
from jingyun.budgets.views import budget_dict, overspend_dict, proposal_dict, status_dict
from jingyun.security.roles import Principal
from jingyun.warehouse.backends import open_backend

router = APIRouter(prefix="/api/v1", tags=["budgets 预算"])
Viewer = Annotated[Principal, Depends(permit("budgets:view"))]
Manager = Annotated[Principal, Depends(permit("budgets:manage"))]
Key = Annotated[str, Path(min_length=1, max_length=64, description="Budget key 预算标识")]
Money = str


class LineIn(BaseModel):
    department: str = Field(min_length=1, max_length=64)
    channel: str = Field(min_length=1, max_length=64)
    campaign: str = Field(default="", max_length=128)
    amount: Money


class PlanIn(BaseModel):
    key: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)
    total: Money
    period_start: dt.date
    period_end: dt.date
    reserve_pct: str = Field(default="15", description="Percent held back as the reserve 预留比例")
    lines: list[LineIn] = Field(max_length=1000)


class ReleaseIn(BaseModel):
    line: str = Field(min_length=3, max_length=300, description="department/channel[/campaign]")
    amount: Money
    reason: str = Field(min_length=1, max_length=2000)


class BoundIn(BaseModel):
    floor: Money | None = None
    cap: Money | None = None


class OptimizeIn(BaseModel):
    total: Money
    days: int = Field(default=30, ge=1, le=366)
    bounds: dict[str, BoundIn] = Field(default_factory=dict)
    history_from: dt.date | None = None
    history_to: dt.date | None = None
    channels: list[str] | None = None


@router.get("/budgets", summary="Budgets, latest period first 预算列表")
def list_budgets(state: StateDep, _: Viewer, page: PagingDep) -> dict[str, Any]:
    items, total = budgets.list_budgets(state.store, limit=page.limit, offset=page.offset)
    return {"items": [budget_dict(b, state.settings.timezone) for b in items], "total": total, "limit": page.limit,
            "offset": page.offset}


@router.post("/budgets", summary="Create or re-plan a budget (lines may not touch the reserve) 制定预算", status_code=201)
def plan_budget(body: PlanIn, state: StateDep, who: Manager) -> dict[str, Any]:
    lines = [budgets.LineSpec(ln.department, ln.channel, ln.campaign, parse_amount(ln.amount, f"lines[{i}].amount"))
             for i, ln in enumerate(body.lines)]
    b = budgets.plan(state.store, key=body.key, total=body.total, period_start=body.period_start,
                     period_end=body.period_end, lines=lines, name=body.name, reserve_pct=body.reserve_pct,
                     created_by=who.name)
    return budget_dict(b, state.settings.timezone)


@router.get("/budgets/overspend", summary="Lines over their money or ahead of plan 超支预警")
def budget_overspend(state: StateDep, _: Viewer, as_of: Annotated[dt.date | None, Query()] = None) -> dict[str, Any]:
    day = as_of or dt.datetime.now(dt.UTC).date()
    found = reading(state, lambda wh: budgets.overspend_findings(
        state.store, open_backend(state.settings, warehouse=wh), as_of=day))
    return {"as_of": day.isoformat(), "items": [overspend_dict(o) for o in found]}


@router.post("/budgets/optimize", summary="Fit response curves and propose the best split 分配优化")
def optimize_budget(body: OptimizeIn, state: StateDep, _: Manager) -> dict[str, Any]:
    bounds = {c: Bounds(float(parse_amount(b.floor, "floor")) if b.floor is not None else 0.0,
                        float(parse_amount(b.cap, "cap")) if b.cap is not None else float("inf"))
              for c, b in body.bounds.items()}
    prop = reading(state, lambda wh: optimize(open_backend(state.settings, warehouse=wh),
                                              total=parse_amount(body.total, "total"), days=body.days, bounds=bounds,
                                              start=body.history_from, end=body.history_to, channels=body.channels))
    return proposal_dict(prop)


@router.get("/budgets/{key}", summary="One budget with its lines and releases 预算")
def get_budget(key: Key, state: StateDep, _: Viewer) -> dict[str, Any]:
    return budget_dict(budgets.get(state.store, key), state.settings.timezone)


@router.get("/budgets/{key}/status", summary="Planned vs actual and the burn-down by local day 预算执行")
def budget_status(key: Key, state: StateDep, _: Viewer, as_of: Annotated[dt.date | None, Query()] = None,
                  ) -> dict[str, Any]:
    b = budgets.get(state.store, key)
    st = reading(state, lambda wh: budgets.status(open_backend(state.settings, warehouse=wh), b, as_of=as_of))
    return status_dict(st, state.settings.timezone)


@router.post("/budgets/{key}/releases", summary="Ask to release reserve money (approval type budget) 申请释放预留金",
             status_code=201)
def release_budget(key: Key, body: ReleaseIn, state: StateDep, who: Manager) -> dict[str, Any]:
    r = budgets.request_release(state.store, state.settings, key=key, line=body.line, amount=body.amount,
                                reason=body.reason, requested_by=who.name)
    return {"id": r.id, "status": r.status, "approval_id": r.approval_id, "amount": f"{r.amount:.2f}"}
