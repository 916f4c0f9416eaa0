"""Administration (系统管理): people, roles and departments, API keys, the audit log and alerts. Admin only.

Every change of a role, a department membership or an account's status is
audited as ``permission_change`` with before/after roles (no personal data).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from jingyun.api.deps import PagingDep, StateDep, permit, request_id
from jingyun.api.routers.auth import PersonOut, person_out
from jingyun.errors import JingyunError
from jingyun.localtime import LocalTime
from jingyun.security import auth
from jingyun.security.audit import ACTIONS
from jingyun.security.roles import ROLES, Principal
from jingyun.store import ApiKey, Department, Person

router = APIRouter(prefix="/api/v1", tags=["admin 管理"])
Admin = Annotated[Principal, Depends(permit("users:manage"))]
Auditor = Annotated[Principal, Depends(permit("audit:read"))]
Username = Annotated[str, Path(min_length=1, max_length=100)]
RolePattern = "^(" + "|".join(ROLES) + ")$"


class PersonIn(BaseModel):
    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@\-]+$")
    password: str = Field(min_length=10, max_length=200)
    role: str = Field(pattern=RolePattern)
    display_name: str = Field(default="", max_length=200)
    departments: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=20)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)


class PersonChange(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str | None = Field(default=None, pattern=RolePattern)
    departments: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(default=None, max_length=20)
    disabled: bool | None = None


class PeoplePage(BaseModel):
    items: list[PersonOut]
    total: int
    limit: int
    offset: int


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scope: str = Field(pattern="^(ingest|read)$")
    role: str = Field(default="analyst", pattern=RolePattern)
    department: str | None = Field(default=None, min_length=1, max_length=100)


class KeyOut(BaseModel):
    prefix: str
    name: str
    scope: str
    role: str
    created_by: str
    created_at: LocalTime
    revoked: bool


class KeyCreated(KeyOut):
    key: str  # shown once


class KeysPage(BaseModel):
    items: list[KeyOut]
    total: int
    limit: int
    offset: int


class DepartmentOut(BaseModel):
    id: int
    name: str


class DepartmentsPage(BaseModel):
    items: list[DepartmentOut]
    total: int
    limit: int
    offset: int


class AuditEntry(BaseModel):
    """One audit record (security.audit.AuditRecord)."""

    id: int
    ts: LocalTime
    actor: str
    actor_role: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]
    request_id: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    limit: int
    offset: int


class AccessAlert(BaseModel):
    """An unusual-access alert raised by the audit log."""

    id: int
    ts: LocalTime
    kind: str
    actor: str | None
    detail: dict[str, Any]
    acknowledged: bool


class AlertsPage(BaseModel):
    items: list[AccessAlert]
    total: int
    limit: int
    offset: int


def _key_out(k: ApiKey) -> dict[str, Any]:
    return {"prefix": k.prefix, "name": k.name, "scope": k.scope, "role": k.role, "created_by": k.created_by,
            "created_at": k.created_at, "revoked": k.revoked_at is not None}


@router.get("/admin/users", summary="Console users", response_model=PeoplePage)
def list_people(state: StateDep, _: Admin, page: PagingDep) -> PeoplePage:
    with state.store.session() as ses:
        total = int(ses.scalar(select(func.count()).select_from(Person)) or 0)
        rows = ses.scalars(select(Person).order_by(Person.id).limit(page.limit).offset(page.offset)).all()
        return PeoplePage(items=[person_out(p) for p in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/admin/users", summary="Create a console user", response_model=PersonOut, status_code=201)
def create_person(body: PersonIn, request: Request, state: StateDep, admin: Admin) -> PersonOut:
    person = auth.create_person(state.store, username=body.username, password=body.password, role=body.role,
                                display_name=body.display_name, departments=body.departments, email=body.email,
                                phone=body.phone, service=state.service)
    state.auditor.log(actor=admin.name, role=admin.role, action="user_created", target=f"person:{person.id}",
                      detail={"role": body.role, "departments": len(body.departments)}, request_id=request_id(request))
    return person_out(person)


@router.patch("/admin/users/{username}", summary="Change a user's role, departments or status", response_model=PersonOut)
def change_person(username: Username, body: PersonChange, request: Request, state: StateDep, admin: Admin) -> PersonOut:
    with state.store.session() as ses:
        person = ses.scalar(select(Person).where(Person.username == username))
        if person is None:
            raise JingyunError("not_found", "no such user", "username", status=404)
        before = {"role": person.role, "departments": person.department_names, "disabled": person.disabled}
        if body.role is not None:
            person.role = body.role
        if body.departments is not None:
            person.departments = auth.departments_by_name(ses, body.departments)
        if body.disabled is not None:
            person.disabled = body.disabled
        ses.flush()
        after = {"role": person.role, "departments": person.department_names, "disabled": person.disabled}
        if (after["role"], after["disabled"]) != (before["role"], before["disabled"]):
            # a new role or status ends every sign-in: the next request is made under what was decided
            auth.revoke_credentials(ses, person.id)
        out = person_out(person)
        pid = person.id
    state.auditor.log(actor=admin.name, role=admin.role, action="permission_change", target=f"person:{pid}",
                      detail={"before": before, "after": after}, request_id=request_id(request))
    return out


@router.get("/admin/departments", summary="Departments", response_model=DepartmentsPage)
def list_departments(state: StateDep, _: Admin, page: PagingDep) -> DepartmentsPage:
    with state.store.session() as ses:
        total = int(ses.scalar(select(func.count()).select_from(Department)) or 0)
        rows = ses.scalars(select(Department).order_by(Department.id).limit(page.limit).offset(page.offset)).all()
        return DepartmentsPage(items=[DepartmentOut(id=d.id, name=d.name) for d in rows], total=total, limit=page.limit,
                               offset=page.offset)


@router.get("/admin/keys", summary="API keys (never the secrets)", response_model=KeysPage)
def list_keys(state: StateDep, _: Admin, page: PagingDep) -> KeysPage:
    with state.store.session() as ses:
        total = int(ses.scalar(select(func.count()).select_from(ApiKey)) or 0)
        rows = ses.scalars(select(ApiKey).order_by(ApiKey.id).limit(page.limit).offset(page.offset)).all()
        return KeysPage(items=[KeyOut(**_key_out(k)) for k in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/admin/keys", summary="Create an API key; the key is shown once", response_model=KeyCreated, status_code=201)
def create_key(body: KeyIn, request: Request, state: StateDep, admin: Admin) -> KeyCreated:
    key, plaintext = auth.create_api_key(state.store, name=body.name, scope=body.scope, role=body.role,
                                         department=body.department, created_by=admin.name)
    state.auditor.log(actor=admin.name, role=admin.role, action="key_created", target=f"key:{key.prefix}",
                      detail={"scope": body.scope, "role": body.role}, request_id=request_id(request))
    return KeyCreated(key=plaintext, **_key_out(key))


@router.delete("/admin/keys/{prefix}", summary="Revoke an API key", status_code=204)
def revoke_key(prefix: Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$")], request: Request, state: StateDep,
               admin: Admin) -> Response:
    auth.revoke_api_key(state.store, prefix)
    state.auditor.log(actor=admin.name, role=admin.role, action="key_revoked", target=f"key:{prefix}",
                      request_id=request_id(request))
    return Response(status_code=204)


ActionQ = Annotated[str | None, Query(pattern="^(" + "|".join(ACTIONS) + ")$")]
ActorQ = Annotated[str | None, Query(max_length=100)]
SinceQ = Annotated[dt.datetime | None, Query(description="ISO 8601; without an offset it is UTC")]


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@router.get("/audit", summary="The audit log, oldest first 审计日志", response_model=AuditPage)
def audit_log(state: StateDep, _: Auditor, page: PagingDep, actor: ActorQ = None, action: ActionQ = None,
              since: SinceQ = None, until: SinceQ = None) -> AuditPage:
    total, rows = state.auditor.query(actor=actor, action=action, since=_naive(since), until=_naive(until),
                                      limit=page.limit, offset=page.offset)
    items = [AuditEntry(**{**r.to_dict(), "ts": r.ts}) for r in rows]
    return AuditPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/audit/export", summary="The audit log as CSV", response_class=PlainTextResponse,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def audit_export(request: Request, state: StateDep, principal: Auditor, actor: ActorQ = None, action: ActionQ = None,
                 since: SinceQ = None, until: SinceQ = None) -> PlainTextResponse:
    text = state.auditor.export_csv(actor=actor, action=action, since=_naive(since), until=_naive(until))
    state.auditor.log(actor=principal.name, role=principal.role, action="export", target="audit_log",
                      detail={"rows": max(0, text.count("\n") - 1)}, request_id=request_id(request))
    return PlainTextResponse(text, media_type="text/csv")


@router.get("/admin/alerts", summary="Unusual-access alerts 异常访问告警", response_model=AlertsPage)
def alerts(state: StateDep, _: Auditor, page: PagingDep) -> AlertsPage:
    total, rows = state.auditor.alerts(limit=page.limit, offset=page.offset)
    return AlertsPage(items=[AccessAlert(**r) for r in rows], total=total, limit=page.limit, offset=page.offset)
