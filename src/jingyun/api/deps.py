"""Request dependencies: the service state, the caller, and the declared permission.

Every route depends on exactly one :func:`permit` (``public`` included); the
route × role test reads ``permit.permission`` back from ``app.routes``.
Credentials: ``Authorization: Bearer <JWT or API key>``, ``X-API-Key`` or the
``jingyun_session`` cookie. Each denial is audited with the route template and
the permission — never the path values or the body, which may hold personal data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.security import auth
from jingyun.security.audit import Auditor
from jingyun.security.config import ServiceSettings
from jingyun.security.roles import PERMISSIONS, ROLES, Principal
from jingyun.security.throttle import LoginThrottle
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
    login_throttle: LoginThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.login_throttle = LoginThrottle(self.service)


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


# Permissions the API declares on top of ``security.roles.PERMISSIONS``: role set, and whether an
# ingest-scoped API key holds it too (roles.Principal.may admits such keys to ``events:ingest`` only).
# Kept here, in the one module that checks them, until the roles table adopts them.
API_PERMISSIONS: dict[str, tuple[frozenset[str], bool]] = {
    # deterministic assignment + exposure logging: every person, and the ingestion gateways (SDK servers)
    "experiments:assign": (frozenset(ROLES), True),
    # recording a ship/rollback decision closes an experiment: the approvers of the matrix
    "experiments:conclude": (frozenset({"manager", "admin"}), False),
    # consent arrives from the sign-up forms and CRMs that also feed events (security.roles declares it admin-only)
    "consent:write": (frozenset({"admin"}), True),
}


def holds(principal: Principal, permission: str) -> bool:
    """``principal.may`` extended with :data:`API_PERMISSIONS`."""
    if permission not in API_PERMISSIONS:
        return principal.may(permission)
    roles, ingest_keys = API_PERMISSIONS[permission]
    if principal.kind == "api_key":
        return ingest_keys and principal.scope == "ingest"
    return principal.role in roles


def permit(permission: str) -> Callable[..., Principal | None]:
    """A dependency that admits callers holding ``permission`` (401 without credentials, 403 without the right)."""
    if permission not in PERMISSIONS and permission not in API_PERMISSIONS:
        raise KeyError(f"undeclared permission {permission}")

    def dependency(request: Request) -> Principal | None:
        if permission == "public":
            return None
        state = get_state(request)
        principal = identify(state, request)
        if principal is None:
            raise JingyunError("unauthenticated", "sign in, or send an API key or bearer token", "Authorization", status=401)
        if not holds(principal, permission):
            state.auditor.log(actor=principal.name, role=principal.role, action="denied", outcome="denied",
                              target=f"{request.method} {_route_template(request)}",
                              detail={"permission": permission, "kind": principal.kind}, request_id=request_id(request))
            raise JingyunError("forbidden", f"your role ({principal.role}) may not do this ({permission})", None,
                               status=403)
        request.state.principal = principal
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.__name__ = f"permit_{permission.replace(':', '_')}"
    return dependency


def not_found(what: str, field: str) -> JingyunError:
    """The one answer for an object that is missing or not yours: the two must read byte for byte alike."""
    return JingyunError("not_found", f"no such {what}", field, status=404)


def deny_object(state: ServiceState, request: Request, principal: Principal, what: str, field: str) -> JingyunError:
    """Object-level refusal (BOLA): audited, and answered exactly like a missing object so ids cannot be probed."""
    state.auditor.log(actor=principal.name, role=principal.role, action="denied", outcome="denied",
                      target=f"{request.method} {_route_template(request)}", detail={"object": what},
                      request_id=request_id(request))
    return not_found(what, field)


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(limit: Annotated[int, Query(ge=1, le=1000, description="Page size 每页条数")] = 50,
           offset: Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip 跳过条数")] = 0) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]


def reading(state: ServiceState, fn: Callable[[Any], Any]) -> Any:
    """Run ``fn(reader)`` on a read cursor of the service's database, then close the cursor.

    Routes that call it are plain ``def`` routes, so FastAPI runs them in its threadpool: a long
    analysis neither blocks the event loop nor holds the writer's lock (DuckDB cursors are MVCC
    readers and never wait for a commit in progress).
    """
    reader = state.writer.reader()
    try:
        return fn(reader)
    finally:
        reader.close()


def jsonable(value: Any) -> Any:
    """Library results as strict JSON: dataclasses to objects, dates to ISO text, NaN/inf to null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    return value
