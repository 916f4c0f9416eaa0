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
from jingyun.schema.tables import USERS
from jingyun.security.masking import Masker
from jingyun.security.roles import Principal
from jingyun.warehouse import Warehouse, personal

router = APIRouter(prefix="/api/v1", tags=["users 用户"])
ProfileReader = Annotated[Principal, Depends(permit("profile:read"))]
Exporter = Annotated[Principal, Depends(permit("users:export"))]
USER_COLUMNS = [c.name for c in USERS.columns if not c.name.startswith("_")]


class Page(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    deidentified: bool


def present(state: ServiceState, principal: Principal, row: dict[str, Any], today: dt.date | None = None) -> dict[str, Any]:
    """A users row as this caller may see it."""
    clean = {k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in row.items()}
    if principal.sees_raw:
        return clean
    masked = Masker(state.service.mask_salt, today).row(USERS, row)
    return {k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in masked.items()}


def fetch_users(wh: Warehouse, where: str, params: list[Any], limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    cols = ", ".join(f'"{c}"' for c in USER_COLUMNS)
    total = int(wh.scalar(f"SELECT count(*) FROM users WHERE {where}", params))
    rows = wh.rows(f"SELECT {cols} FROM users WHERE {where} ORDER BY user_id LIMIT {limit} OFFSET {offset}", params)
    # personal columns are encrypted at rest; present() masks them for roles without raw access
    return total, personal.reveal(wh, [dict(zip(USER_COLUMNS, r, strict=True)) for r in rows])


@router.get("/users/export", summary="Export users (de-identified unless your role sees raw data)", response_model=Page)
def export_users(request: Request, state: StateDep, principal: Exporter, page: PagingDep) -> Page:
    reader = state.writer.reader()
    try:
        total, rows = fetch_users(reader, "TRUE", [], page.limit, page.offset)
    finally:
        reader.close()
    items = [present(state, principal, r) for r in rows]
    state.auditor.log(actor=principal.name, role=principal.role, action="export", target="users",
                      detail={"rows": len(items), "deidentified": not principal.sees_raw}, request_id=request_id(request))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset, deidentified=not principal.sees_raw)


@router.get("/users/{user_id}", summary="One customer's profile (360°) with order and event summary")
def get_user(request: Request, state: StateDep, principal: ProfileReader,
             user_id: Annotated[str, Path(min_length=1, max_length=200)]) -> dict[str, Any]:
    reader = state.writer.reader()
    try:
        _, rows = fetch_users(reader, "user_id = ?", [user_id], 1, 0)
        if not rows:
            raise JingyunError("not_found", "no such user", "user_id", status=404)
        orders = reader.rows(
            "SELECT count(*), coalesce(sum(amount), 0), max(ts) FROM orders WHERE person_id = ? AND NOT coalesce(is_test, FALSE)",
            [rows[0].get("person_id") or user_id])[0]
        events = reader.rows("SELECT count(*), max(ts) FROM events WHERE person_id = ?", [rows[0].get("person_id") or user_id])[0]
    finally:
        reader.close()
    state.auditor.log(actor=principal.name, role=principal.role, action="read_personal", target=f"user:{user_id}",
                      detail={"deidentified": not principal.sees_raw}, request_id=request_id(request))
    return {
        "user": present(state, principal, rows[0]),
        "orders": {"count": int(orders[0]), "amount": float(orders[1]),
                   "last_ts": orders[2].isoformat() if orders[2] else None},
        "events": {"count": int(events[0]), "last_ts": events[1].isoformat() if events[1] else None},
        "deidentified": not principal.sees_raw,
    }
