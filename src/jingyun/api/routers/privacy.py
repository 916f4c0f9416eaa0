"""PIPL data-subject rights over HTTP (个人信息主体权利): export everything about a person, erase them.

Admins only (``privacy:export``, ``privacy:erase``). An export is audited (``export``, the person's id as
target, counts in detail); an erasure is recorded in ``privacy_erasures`` which names the admin, the time, the token and the counts,
and audited (``erase``, target ``erasure:<id>``). The rows go at once; their bytes at the nightly ``optimize``
(or with ``now``: inside the service the file cannot be swapped, so the tables are rewritten in place and
freed blocks overwritten; docs/privacy.md says what that leaves until the next compaction).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from jingyun.api.deps import StateDep, permit, request_id
from jingyun.privacy import erase as erasing
from jingyun.privacy.export import export_person
from jingyun.security.roles import Principal

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy 个人信息"])
Exporter = Annotated[Principal, Depends(permit("privacy:export"))]
Eraser = Annotated[Principal, Depends(permit("privacy:erase"))]
UserId = Annotated[str, Path(min_length=1, max_length=200, description="The person's user id 用户ID")]


class ErasureOut(BaseModel):
    user_id: str
    token: str
    dry_run: bool
    persons: int
    user_ids: int
    anonymous_ids: int
    warehouse: dict[str, dict[str, int]]
    store: dict[str, int]
    files: dict[str, int]
    tombstones: int
    seconds: float
    purge_seconds: float
    purge: str
    erasure_id: int | None


@router.get("/{user_id}", summary="Everything held about one person, as JSON 导出某人的全部数据")
def export(request: Request, state: StateDep, principal: Exporter, user_id: UserId) -> dict[str, Any]:
    with state.writer.lock:  # a consistent read of the warehouse and the store together
        data = export_person(state.writer.wh, state.store, user_id)
    rows = sum(len(v) for v in data["warehouse"].values()) + sum(len(v) for v in data["metadata"].values())
    state.auditor.log(actor=principal.name, role=principal.role, action="export", target=f"person:{data['person_ids'][0]}",
                      detail={"route": "privacy", "rows": rows}, request_id=request_id(request))
    return data


@router.post("/{user_id}/erase", summary="Erase one person everywhere, with tombstones 删除某人", response_model=ErasureOut)
def erase(request: Request, state: StateDep, principal: Eraser, user_id: UserId,
          dry_run: Annotated[bool, Query(description="Count what would go; change nothing 仅统计")] = False,
          now: Annotated[bool, Query(description="Purge the erased bytes now, not at the nightly optimize "
                                                 "(holds the writer for seconds to a minute) 立即清除残留字节")] = False,
          ) -> dict[str, Any]:
    with state.writer.lock:
        report = erasing.erase(state.writer.wh, state.store, user_id, dry_run=dry_run, actor=principal.name,
                               role=principal.role, own_file=False, purge=now)
    _ = request  # audited by the library (action erase, target erasure:<id>, counts only)
    return report.to_dict()
