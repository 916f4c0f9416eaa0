"""Saved segments (人群) owned by departments: the objects behind the BOLA checks.

A segment's rule is either a rule tree of :mod:`jingyun.segments.audience`
(``{"and": [{"attr": "province", "op": "eq", "value": "浙江省"}, {"orders":
"sum_amount", "within_days": 90, "op": "gte", "value": 500}]}``) or, the
short form, equality filters on public ``users`` columns (``{"province":
"浙江省", "member_level": "gold"}``, read as an ``and`` of ``attr eq``). The
rule is compiled (validated) on create; members are persons, exported as
their ``users`` rows, de-identified by role. Specialists and managers see and
create only their own departments' segments; someone else's id answers 404,
exactly like a missing one, and the attempt is audited.

These are the same segments ``jingyun segment`` and the console list and
refresh (one ``segments`` table, :mod:`jingyun.segments.store`): names are
unique, and a segment made from the CLI without ``--department`` is a
workspace segment (no department) that everyone with ``segments:view`` sees
and only an admin approves.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select

from jingyun.api.deps import (
    PagingDep,
    ServiceState,
    StateDep,
    deny_object,
    jsonable,
    not_found,
    permit,
    reading,
    request_id,
)
from jingyun.api.routers.users import Page, fetch_users, present
from jingyun.errors import JingyunError
from jingyun.localtime import LocalTime
from jingyun.security.auth import departments_by_name
from jingyun.security.roles import ALL_DEPARTMENTS, Principal
from jingyun.segments.store import SHORT_RULE_COLUMNS, SavedSegment, SegmentStore, tree_rule
from jingyun.store import Department, Segment

router = APIRouter(prefix="/api/v1", tags=["segments 人群"])
RULE_COLUMNS = SHORT_RULE_COLUMNS
SegmentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="ignore")  # status/approved_by/created_by cannot be mass-assigned
    name: str = Field(min_length=1, max_length=100, description="Unique; letters, digits, _ - . and inner spaces 名称")
    department: str | None = Field(None, max_length=100, description="Owning department 部门; empty or absent: a "
                                   "workspace segment (admins, and analysts who belong to no department)")
    rule: dict[str, Any] = Field(default_factory=dict, max_length=10,
                                 description="rule tree, or {column: value} equality filters 规则")
    zh: str = Field("", max_length=200, description="Chinese name 中文名")
    en: str = Field("", max_length=200, description="English name 英文名")
    playbook: str | None = Field(None, max_length=60, description="Playbook key 运营策略")


class SegmentOut(BaseModel):
    id: int
    name: str
    department: str | None = Field(description="Owning department; null for a workspace segment made from the CLI")
    rule: dict[str, Any]
    status: str
    created_by: str
    approved_by: str | None
    zh: str
    en: str
    playbook: str | None
    version: int


class SegmentPage(BaseModel):
    items: list[SegmentOut]
    total: int
    limit: int
    offset: int


def _out(seg: Segment) -> SegmentOut:
    return SegmentOut(id=seg.id, name=seg.name, department=seg.department.name if seg.department else None,
                      rule=json.loads(seg.rule), status=seg.status, created_by=seg.created_by,
                      approved_by=seg.approved_by, zh=seg.zh, en=seg.en, playbook=seg.playbook, version=seg.version)


def _visible(principal: Principal, department_id: int | None) -> bool:
    return department_id is None or principal.can_see_department(department_id)


class SegmentSize(BaseModel):
    id: int
    size: int | str = Field(description='Persons now; "<10" below the small-count threshold for roles without raw '
                                        "access 人群规模(小样本显示为<10)")
    universe: int
    share: float | None
    suppressed: bool
    as_of: LocalTime
    warning: str | None


def audience_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule as a rule tree (the short form ``{column: value}`` becomes an ``and`` of ``attr eq``)."""
    return tree_rule(rule)


def compiled_sql(state: ServiceState, wh: Any, rule: dict[str, Any]) -> str:
    from jingyun.segments import audience, saved

    try:
        return audience.compile_rule(audience_rule(rule), saved.context(wh, SegmentStore(state.settings, state.store))).sql
    except JingyunError as exc:
        raise JingyunError(exc.code, exc.message, exc.field or "rule", status=422) from None


def _load(state: ServiceState, request: Request, principal: Principal, segment_id: int) -> Segment:
    with state.store.session() as ses:
        seg = ses.get(Segment, segment_id)
        if seg is None:
            raise not_found("segment", "segment_id")
        if not _visible(principal, seg.department_id):
            raise deny_object(state, request, principal, "segment", "segment_id")
        return seg


@router.get("/segments", summary="Segments you may see", response_model=SegmentPage)
def list_segments(state: StateDep, principal: Annotated[Principal, Depends(permit("segments:view"))],
                  page: PagingDep) -> SegmentPage:
    stmt = select(Segment)
    if principal.role not in ALL_DEPARTMENTS:
        stmt = stmt.where(or_(Segment.department_id.is_(None),
                              Segment.department_id.in_(sorted(principal.departments) or [-1])))
    with state.store.session() as ses:
        total = int(ses.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = ses.scalars(stmt.order_by(Segment.id).limit(page.limit).offset(page.offset)).all()
        return SegmentPage(items=[_out(s) for s in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/segments", summary="Create a segment in one of your departments", response_model=SegmentOut, status_code=201)
def create_segment(body: SegmentIn, request: Request, state: StateDep,
                   principal: Annotated[Principal, Depends(permit("segments:create"))]) -> SegmentOut:
    from jingyun.segments.audience import guard
    from jingyun.segments.playbooks import get_playbook
    from jingyun.segments.store import check_segment_name

    check_segment_name(body.name)
    if body.playbook is not None:
        get_playbook(body.playbook)
    guard(audience_rule(body.rule), sees_raw=principal.sees_raw)  # no rule that singles a person out
    reading(state, lambda wh: compiled_sql(state, wh, body.rule))  # never save a rule that does not compile
    dep_id: int | None = None
    if not body.department:
        if not principal.saves_workspace:
            raise JingyunError("department_required", "name one of your departments: only admins and analysts "
                               "without a department save workspace segments", "department", status=422)
    else:
        with state.store.session() as ses:
            existing = ses.scalar(select(Department).where(Department.name == body.department))
            if principal.role != "admin" and (existing is None or existing.id not in principal.departments):
                raise deny_object(state, request, principal, "department", "department")
            dep_id = (existing or departments_by_name(ses, [body.department])[0]).id
    saved = SegmentStore(state.settings, state.store).save_segment(
        SavedSegment(body.name, body.rule, zh=body.zh, en=body.en, playbook=body.playbook, created_by=principal.name),
        department_id=dep_id)
    with state.store.session() as ses:
        out = _out(ses.get_one(Segment, saved.id))
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
    if _load(state, request, principal, segment_id).department_id is None and principal.role != "admin":
        raise JingyunError("forbidden", "a workspace segment (no department) is approved by an admin", None, status=403)
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

    def members(wh: Any) -> tuple[int, list[dict[str, Any]]]:
        sql = compiled_sql(state, wh, rule)
        return fetch_users(wh, f"person_id IN (SELECT person_id FROM ({sql}) m)", [], page.limit, page.offset)

    total, rows = reading(state, members)
    items = [present(state, principal, r) for r in rows]
    state.auditor.log(actor=principal.name, role=principal.role, action="export", target=f"segment:{segment_id}",
                      detail={"rows": len(items), "deidentified": not principal.sees_raw}, request_id=request_id(request))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset, deidentified=not principal.sees_raw)


@router.get("/segments/{segment_id}/size", summary="How many persons a segment holds now 人群规模", response_model=SegmentSize)
def segment_size(segment_id: SegmentId, request: Request, state: StateDep,
                 principal: Annotated[Principal, Depends(permit("segments:view"))]) -> SegmentSize:
    from jingyun.segments import saved

    seg = _load(state, request, principal, segment_id)
    rule = audience_rule(json.loads(seg.rule))
    try:
        est = reading(state, lambda wh: saved.estimate(wh, rule))
    except JingyunError as exc:  # a segment it references was deleted since
        raise JingyunError(exc.code, exc.message, exc.field or "rule", status=409) from None
    shown = est.shown(sees_raw=principal.sees_raw, threshold=state.service.min_count)
    return SegmentSize(id=segment_id, **{k: v for k, v in jsonable(shown).items() if k not in ("sql", "seconds")})
