"""The quarantine over HTTP (隔离区): list, inspect, replay. Admin only: raw payloads hold personal data."""

from __future__ import annotations

from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from jingyun.api.deps import PagingDep, StateDep, permit, request_id
from jingyun.errors import JingyunError
from jingyun.ingest import quarantine as q
from jingyun.localtime import LocalTime
from jingyun.security.roles import Principal

router = APIRouter(prefix="/api/v1/quarantine", tags=["quarantine 隔离区"])
Viewer = Annotated[Principal, Depends(permit("quarantine:view"))]
Replayer = Annotated[Principal, Depends(permit("quarantine:replay"))]
TableName = Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")]


class QuarantinedOut(BaseModel):
    """One quarantined record (ingest.quarantine.QuarantineRow); ``raw`` is cut at 500 characters in lists."""

    qid: int
    table: str
    source: str | None
    line: int | None
    reason: str
    field: str | None
    raw: str | None
    status: str
    received_at: LocalTime | None


class ReplayOut(BaseModel):
    """What a replay did (ingest.quarantine.ReplayResult)."""

    selected: int
    stored: int
    duplicates: int
    still_quarantined: int
    reasons: dict[str, int]


class QuarantinePage(BaseModel):
    items: list[QuarantinedOut]
    total: int
    limit: int
    offset: int


class ReplayIn(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(default=None, max_length=10_000)
    table: str | None = Field(default=None, pattern=r"^[a-z_]{1,40}$")
    reason: str | None = Field(default=None, max_length=200)


@router.get("", summary="Quarantined records, oldest first", response_model=QuarantinePage)
def list_quarantine(state: StateDep, _: Viewer, page: PagingDep, table: TableName = None,
                    status: Annotated[str | None, Query(pattern="^(open|replayed|discarded)$")] = "open") -> QuarantinePage:
    reader = state.writer.reader()
    try:
        total, rows = q.list_rows(reader, table=table, status=status, limit=page.limit, offset=page.offset)
    finally:
        reader.close()
    return QuarantinePage(items=[QuarantinedOut(**r.to_dict()) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{qid}", summary="One quarantined record with its full payload", response_model=QuarantinedOut)
def get_quarantined(state: StateDep, _: Viewer, qid: Annotated[int, Path(ge=1, le=2**62)]) -> QuarantinedOut:
    reader = state.writer.reader()
    try:
        return QuarantinedOut(**q.get_row(reader, qid).to_dict(raw_limit=None))
    finally:
        reader.close()


@router.post("/replay", summary="Re-run open quarantined records through the pipeline", response_model=ReplayOut)
def replay(body: ReplayIn, request: Request, state: StateDep, principal: Replayer) -> dict[str, Any]:
    try:
        with state.writer.lock:
            result = q.replay(state.writer.wh, ids=body.ids, table=body.table, reason=body.reason)
    except duckdb.Error as exc:
        # the replay rolled back (one transaction per table); say so instead of a bare 500
        raise JingyunError("replay_failed", f"the ingestion pipeline could not replay these records: "
                           f"{type(exc).__name__}; nothing was changed", "table", status=409) from None
    state.auditor.log(actor=principal.name, role=principal.role, action="replay", target="quarantine",
                      detail={"selected": result.selected, "stored": result.stored}, request_id=request_id(request))
    return result.to_dict()
