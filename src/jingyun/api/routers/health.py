"""Liveness and readiness. 健康检查。"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from jingyun.api.deps import StateDep, permit

router = APIRouter(tags=["health 健康"])
Public = Annotated[None, Depends(permit("public"))]


class Live(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


class NotReadyError(BaseModel):
    code: Literal["unavailable"]
    message: str
    field: None


class NotReady(BaseModel):
    """503: a part does not answer; the message names each part's state."""

    error: NotReadyError


@router.get("/healthz", summary="Liveness: the process answers", response_model=Live)
def healthz(_: Public) -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: metadata store and warehouse answer", response_model=Ready,
            responses={503: {"model": NotReady, "description": "Not ready 未就绪"}})
def readyz(_: Public, state: StateDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with state.store.engine.connect() as con:
            con.execute(text("SELECT 1"))
        checks["store"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["store"] = type(exc).__name__
    try:
        reader = state.writer.reader()
        try:
            reader.scalar("SELECT 1")
        finally:
            reader.close()
        checks["warehouse"] = "ok"
    except Exception as exc:
        checks["warehouse"] = type(exc).__name__
    ready = all(v == "ok" for v in checks.values())
    if ready:
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse({"error": {"code": "unavailable", "message": f"not ready: {checks}", "field": None}}, status_code=503)
