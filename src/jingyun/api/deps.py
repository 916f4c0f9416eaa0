"""Request dependencies: the service state, the caller, and the declared permission.

Every route depends on exactly one :func:`permit` (``public`` included); the
route × role test reads ``permit.permission`` back from ``app.routes``.
Credentials: ``Authorization: Bearer <JWT or API key>``, ``X-API-Key`` or the
``jingyun_session`` cookie. Each denial is audited with the route template and
the permission — never the path values or the body, which may hold personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.security import auth
from jingyun.security.audit import Auditor
from jingyun.security.config import ServiceSettings
from jingyun.security.roles import PERMISSIONS, Principal
from jingyun.store import Store

SESSION_COOKIE = "jingyun_session"


@dataclass
class ServiceState:
    settings: Settings
    service: ServiceSettings
    store: Store
    auditor: Auditor
    writer: Any  # IngestWriter (imported lazily: the writer opens DuckDB)
    ingest_limiter: Any
    login_limiter: Any


def get_state(request: Request) -> ServiceState:
    return request.app.state.jingyun


StateDep = Annotated[ServiceState, Depends(get_state)]


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def _credential(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        value = header[7:].strip()
        return ("api_key", value) if value.startswith("jy_") else ("token", value)
    key = request.headers.get("x-api-key")
    if key:
        return ("api_key", key.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return ("session", cookie)
    return None


def identify(state: ServiceState, request: Request) -> Principal | None:
    cred = _credential(request)
    if cred is None:
        return None
    kind, value = cred
    if kind == "api_key":
        return auth.api_key_principal(state.store, value)
    if kind == "token":
        return auth.token_principal(state.store, state.service, value)
    return auth.session_principal(state.store, value)


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


def permit(permission: str) -> Callable[..., Principal | None]:
    """A dependency that admits callers holding ``permission`` (401 without credentials, 403 without the right)."""
    if permission not in PERMISSIONS:
        raise KeyError(f"undeclared permission {permission}")

    def dependency(request: Request) -> Principal | None:
        if permission == "public":
            return None
        state = get_state(request)
        principal = identify(state, request)
        if principal is None:
            raise JingyunError("unauthenticated", "sign in, or send an API key or bearer token", "Authorization", status=401)
        if not principal.may(permission):
            state.auditor.log(actor=principal.name, role=principal.role, action="denied", outcome="denied",
                              target=f"{request.method} {_route_template(request)}",
                              detail={"permission": permission, "kind": principal.kind}, request_id=request_id(request))
            principal.require(permission)
        request.state.principal = principal
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.__name__ = f"permit_{permission.replace(':', '_')}"
    return dependency


def deny_object(state: ServiceState, request: Request, principal: Principal, what: str) -> JingyunError:
    """Object-level refusal (BOLA): audited, and answered 404 so ids cannot be probed."""
    state.auditor.log(actor=principal.name, role=principal.role, action="denied", outcome="denied",
                      target=f"{request.method} {_route_template(request)}", detail={"object": what},
                      request_id=request_id(request))
    return JingyunError("not_found", f"no such {what}", None, status=404)


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(limit: Annotated[int, Query(ge=1, le=1000, description="Page size 每页条数")] = 50,
           offset: Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip 跳过条数")] = 0) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]
