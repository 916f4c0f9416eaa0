"""The one error shape for every 4xx/5xx: ``{"error": {"code", "message", "field"}}``.

FastAPI's own validation errors, Starlette's 404/405, our 413/415/429 and
:class:`JingyunError` all pass through here, so clients parse one shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from jingyun.errors import JingyunError

log = logging.getLogger("jingyun.api")

STATUS_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": code.replace("_", " ")} for status, code in STATUS_CODES.items()
}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or None


def install(app: FastAPI) -> None:
    @app.exception_handler(JingyunError)
    async def _jingyun(request: Request, exc: JingyunError) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        state = getattr(request.app.state, "jingyun", None)
        message = exc.message
        if state is not None:  # no server paths in answers: a file under the home is named from the home
            message = message.replace(str(state.settings.home.resolve()) + "/", "").replace(
                str(state.settings.home) + "/", "")
        return error_response(exc.status, exc.code, message, exc.field, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _field(list(first.get("loc", ())))
        message = str(first.get("msg", "invalid request"))
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problems)"
        return error_response(422, "invalid", f"{field}: {message}" if field else message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, None, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = getattr(request.state, "request_id", "")
        log.exception("unexpected error in %s %s (request %s)", request.method, request.url.path, rid)
        return error_response(500, "internal", f"unexpected error; quote request id {rid} to the operator")
