"""Segments (人群) owned by departments: the objects behind the BOLA checks.

A segment's rule is a set of equality filters on public ``users`` columns
(e.g. ``{"province": "浙江省", "member_level": "gold"}``). Specialists and
managers see and create only their own departments' segments; someone else's
id answers 404, exactly like a missing one, and the attempt is audited.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from jingyun.api.deps import PagingDep, ServiceState, StateDep, deny_object, permit, request_id
from jingyun.api.routers.users import Page, fetch_users, present
from jingyun.errors import JingyunError
from jingyun.schema.tables import USERS
from jingyun.security.auth import departments_by_name
from jingyun.security.roles import ALL_DEPARTMENTS, Principal
from jingyun.store import Department, Segment

router = APIRouter(prefix="/api/v1", tags=["segments 人群"])
RULE_COLUMNS = ("channel", "province", "city", "member_level", "gender")
SegmentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="ignore")  # status/approved_by/created_by cannot be mass-assigned
    name: str = Field(min_length=1, max_length=200)
    department: str = Field(min_length=1, max_length=100)
    rule: dict[str, str] = Field(default_factory=dict, max_length=len(RULE_COLUMNS))


class SegmentOut(BaseModel):
    id: int
    name: str
    department: str
    rule: dict[str, str]
    status: str
    created_by: str
    approved_by: str | None


class SegmentPage(BaseModel):
    items: list[SegmentOut]
    total: int
    limit: int
    offset: int


def _out(seg: Segment) -> SegmentOut:
    return SegmentOut(id=seg.id, name=seg.name, department=seg.department.name, rule=json.loads(seg.rule),
                      status=seg.status, created_by=seg.created_by, approved_by=seg.approved_by)


def _load(state: ServiceState, request: Request, principal: Principal, segment_id: int) -> Segment:
    with state.store.session() as ses:
        seg = ses.get(Segment, segment_id)
        if seg is None:
            raise JingyunError("not_found", "no such segment", "segment_id", status=404)
        if not principal.can_see_department(seg.department_id):
            raise deny_object(state, request, principal, "segment")
        return seg


@router.get("/segments", summary="Segments you may see", response_model=SegmentPage)
def list_segments(state: StateDep, principal: Annotated[Principal, Depends(permit("segments:view"))],
                  page: PagingDep) -> SegmentPage:
    stmt = select(Segment)
    if principal.role not in ALL_DEPARTMENTS:
        stmt = stmt.where(Segment.department_id.in_(sorted(principal.departments) or [-1]))
    with state.store.session() as ses:
        total = int(ses.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = ses.scalars(stmt.order_by(Segment.id).limit(page.limit).offset(page.offset)).all()
        return SegmentPage(items=[_out(s) for s in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/segments", summary="Create a segment in one of your departments", response_model=SegmentOut, status_code=201)
def create_segment(body: SegmentIn, request: Request, state: StateDep,
                   principal: Annotated[Principal, Depends(permit("segments:create"))]) -> SegmentOut:
    for col in body.rule:
        if col not in RULE_COLUMNS:
            raise JingyunError("bad_rule", f"rule columns must be among {', '.join(RULE_COLUMNS)}", f"rule.{col}", status=422)
    with state.store.session() as ses:
        existing = ses.scalar(select(Department).where(Department.name == body.department))
        if principal.role != "admin" and (existing is None or existing.id not in principal.departments):
            raise deny_object(state, request, principal, "department")
        dep = existing or departments_by_name(ses, [body.department])[0]
        seg = Segment(name=body.name, department_id=dep.id, rule=json.dumps(body.rule, ensure_ascii=False),
                      status="draft", created_by=principal.name)
        ses.add(seg)
        ses.flush()
        ses.refresh(seg)
        out = _out(seg)
    # audit after the unit of work: SQLite allows one writer at a time
    state.auditor.log(actor=principal.name, role=principal.role, action="segment_change", target=f"segment:{out.id}",
                      detail={"op": "create"}, request_id=request_id(request))
    return out


@router.get("/segments/{segment_id}", summary="One segment", response_model=SegmentOut)
def get_segment(segment_id: SegmentId, request: Request, state: StateDep,
                principal: Annotated[Principal, Depends(permit("segments:view"))]) -> SegmentOut:
    return _out(_load(state, request, principal, segment_id))


@router.post("/segments/{segment_id}/approve", summary="Approve a segment (manager of its department, or admin)",
             response_model=SegmentOut)
def approve_segment(segment_id: SegmentId, request: Request, state: StateDep,
                    principal: Annotated[Principal, Depends(permit("segments:approve"))]) -> SegmentOut:
    _load(state, request, principal, segment_id)
    with state.store.session() as ses:
        seg = ses.get(Segment, segment_id)
        assert seg is not None
        seg.status, seg.approved_by = "approved", principal.name
        ses.flush()
        out = _out(seg)
    state.auditor.log(actor=principal.name, role=principal.role, action="segment_change", target=f"segment:{out.id}",
                      detail={"op": "approve"}, request_id=request_id(request))
    return out


@router.delete("/segments/{segment_id}", summary="Delete a segment (admin)", status_code=204)
def delete_segment(segment_id: SegmentId, request: Request, state: StateDep,
                   principal: Annotated[Principal, Depends(permit("segments:delete"))]) -> Response:
    _load(state, request, principal, segment_id)
    with state.store.session() as ses:
        seg = ses.get(Segment, segment_id)
        if seg is not None:
            ses.delete(seg)
    state.auditor.log(actor=principal.name, role=principal.role, action="segment_change", target=f"segment:{segment_id}",
                      detail={"op": "delete"}, request_id=request_id(request))
    return Response(status_code=204)


@router.get("/segments/{segment_id}/export", summary="Export a segment's members (de-identified unless your role sees raw data)",
            response_model=Page)
def export_segment(segment_id: SegmentId, request: Request, state: StateDep,
                   principal: Annotated[Principal, Depends(permit("segments:export"))], page: PagingDep) -> Page:
    seg = _load(state, request, principal, segment_id)
    rule: dict[str, Any] = json.loads(seg.rule)
    where = " AND ".join(f'"{USERS.column(c).name}" = ?' for c in rule) or "TRUE"
    reader = state.writer.reader()
    try:
        total, rows = fetch_users(reader, where, list(rule.values()), page.limit, page.offset)
    finally:
        reader.close()
    items = [present(state, principal, r) for r in rows]
    state.auditor.log(actor=principal.name, role=principal.role, action="export", target=f"segment:{segment_id}",
                      detail={"rows": len(items), "deidentified": not principal.sees_raw}, request_id=request_id(request))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset, deidentified=not principal.sees_raw)
