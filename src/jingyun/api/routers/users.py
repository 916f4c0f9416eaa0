"""Customer profiles and exports (用户画像与导出), de-identified by role.

Every read of a profile is audited (``read_personal``) and every export
(``export``, with the row count, which can raise a bulk-export alert).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from jingyun.api.deps import PagingDep, ServiceState, StateDep, permit, request_id
from jingyun.errors import JingyunError
from jingyun.localtime import local_iso
from jingyun.schema.tables import USERS
from jingyun.security.masking import Masker
from jingyun.security.roles import Principal
from jingyun.warehouse import users as customers
from jingyun.warehouse.users import EventsSummary, OrdersSummary, fetch_users

__all__ = ["Page", "fetch_users", "present", "router"]  # fetch_users: still imported from here by older callers

router = APIRouter(prefix="/api/v1", tags=["users 用户"])
ProfileReader = Annotated[Principal, Depends(permit("profile:read"))]
Exporter = Annotated[Principal, Depends(permit("users:export"))]


class Page(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    deidentified: bool


class UserProfile(BaseModel):
    """A customer's row (masked by role) with their order and event summary."""

    user: dict[str, Any]
    orders: OrdersSummary
    events: EventsSummary
    deidentified: bool


def present(state: ServiceState, principal: Principal, row: dict[str, Any], today: dt.date | None = None) -> dict[str, Any]:
    """A users row as this caller may see it."""
    tz = state.settings.timezone

    def text(v: Any) -> Any:  # instants local with their offset (jingyun.localtime), days as they are
        return local_iso(v, tz) if isinstance(v, dt.datetime) else v.isoformat() if isinstance(v, dt.date) else v

    if principal.sees_raw:
        return {k: text(v) for k, v in row.items()}
    masked = Masker(state.service.mask_salt, today).row(USERS, row)
    return {k: text(v) for k, v in masked.items()}


@router.get("/users/export", summary="Export users (de-identified unless your role sees raw data)", response_model=Page)
def export_users(request: Request, state: StateDep, principal: Exporter, page: PagingDep) -> Page:
    reader = state.writer.reader()
    try:
        # personal columns come back decrypted; present() masks them for roles without raw access
        total, rows = customers.page_users(reader, limit=page.limit, offset=page.offset)
    finally:
        reader.close()
    items = [present(state, principal, r) for r in rows]
    state.auditor.log(actor=principal.name, role=principal.role, action="export", target="users",
                      detail={"rows": len(items), "deidentified": not principal.sees_raw}, request_id=request_id(request))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset, deidentified=not principal.sees_raw)


@router.get("/users/{user_id}", summary="One customer's profile (360°) with order and event summary",
            response_model=UserProfile)
def get_user(request: Request, state: StateDep, principal: ProfileReader,
             user_id: Annotated[str, Path(min_length=1, max_length=200)]) -> UserProfile:
    reader = state.writer.reader()
    try:
        row = customers.get_user(reader, user_id)
        if row is None:
            raise JingyunError("not_found", "no such user", "user_id", status=404)
        act = customers.activity(reader, row.get("person_id") or user_id)
    finally:
        reader.close()
    state.auditor.log(actor=principal.name, role=principal.role, action="read_personal", target=f"user:{user_id}",
                      detail={"deidentified": not principal.sees_raw}, request_id=request_id(request))
    return UserProfile(user=present(state, principal, row), orders=act.orders, events=act.events,
                       deidentified=not principal.sees_raw)
