"""Sign-in, sign-out, bearer tokens and the caller's own profile. 登录与个人资料。"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from jingyun.api.deps import SESSION_COOKIE, ServiceState, StateDep, permit, request_id
from jingyun.errors import JingyunError
from jingyun.security import auth
from jingyun.security.config import ServiceSettings, over_tls
from jingyun.security.roles import Principal
from jingyun.store import Person

router = APIRouter(prefix="/api/v1", tags=["auth 认证"])
Public = Annotated[None, Depends(permit("public"))]
Me = Annotated[Principal, Depends(permit("authenticated"))]


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class PersonOut(BaseModel):
    username: str
    display_name: str
    role: str
    departments: list[str]


class LoginOut(BaseModel):
    user: PersonOut
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the access token lives: an hour at most 至多3600秒")
    refresh_token: str = Field(description="Spend at POST /api/v1/auth/refresh for a new pair; valid while the "
                                           "session lasts (JINGYUN_SESSION_HOURS) 刷新令牌")


class RefreshBody(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class RefreshOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


class ProfileUpdate(BaseModel):
    """Only display_name may change here; anything else (role, departments…) is ignored (BOPLA)."""

    model_config = ConfigDict(extra="ignore")
    display_name: str | None = Field(default=None, min_length=1, max_length=200)


def person_out(person: Person) -> PersonOut:
    return PersonOut(username=person.username, display_name=person.display_name, role=person.role,
                     departments=person.department_names)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def set_session_cookie(request: Request, response: Response, service: ServiceSettings, token: str) -> None:
    """The session cookie, ``Secure`` when asked for or when the request came over HTTPS."""
    secure = service.cookie_secure or over_tls(service, request.url.scheme, request.headers.get("x-forwarded-proto"))
    response.set_cookie(SESSION_COOKIE, token, max_age=int(service.session_hours * 3600), httponly=True,
                        samesite="strict", secure=secure, path="/")


def sign_in(request: Request, state: ServiceState, username: str, password: str, via: str) -> Person:
    """The sign-in of both edges (API and console): flood guard, throttle, password, audit."""
    client = _client(request)
    state.login_limiter.check(client)
    return auth.sign_in(state.store, state.service, state.login_throttle, state.auditor, username=username,
                        password=password, address=client, request_id=request_id(request), via=via)


def sign_out(request: Request, state: ServiceState, me: Principal, via: str) -> None:
    """End every session and token of the caller (an API key has none: nothing to end)."""
    if me.person_id is not None:
        auth.sign_out(state.store, me.person_id)
    state.auditor.log(actor=me.name, role=me.role, action="logout", detail={} if via == "api" else {"via": via},
                      request_id=request_id(request))


@router.post("/auth/login", summary="Sign in with username and password; sets the session cookie", response_model=LoginOut)
def login(body: LoginBody, request: Request, response: Response, state: StateDep, _: Public) -> LoginOut:
    person = sign_in(request, state, body.username, body.password, "api")
    session = auth.open_session(state.store, state.service, person.id, refresh=True)
    assert session.refresh_token is not None
    set_session_cookie(request, response, state.service, session.cookie)
    token, ttl = auth.access_token(state.service, person, session.expires_at)
    return LoginOut(user=person_out(person), access_token=token, expires_in=ttl, refresh_token=session.refresh_token)


@router.post("/auth/refresh", summary="A new access token for a refresh token; the refresh token is rotated",
             response_model=RefreshOut)
def refresh(body: RefreshBody, state: StateDep, _: Public) -> RefreshOut:
    out = auth.refresh(state.store, state.service, body.refresh_token)
    return RefreshOut(access_token=out.access_token, expires_in=out.expires_in, refresh_token=out.refresh_token)


@router.post("/auth/logout", summary="Sign out everywhere: every session, refresh and bearer token of yours ends",
             status_code=204)
def logout(request: Request, state: StateDep, me: Me) -> Response:
    sign_out(request, state, me, "api")
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _person(state: StateDep, me: Principal) -> Person:
    if me.person_id is None:
        raise JingyunError("not_a_person", "API keys have no profile; sign in as a person", "Authorization", status=403)
    with state.store.session() as ses:
        person = ses.get(Person, me.person_id)
        if person is None:
            raise JingyunError("not_found", "your account no longer exists", None, status=404)
        return person


@router.get("/me", summary="The signed-in person", response_model=PersonOut)
def get_me(state: StateDep, me: Me) -> PersonOut:
    return person_out(_person(state, me))


@router.patch("/me", summary="Update your display name (role and departments are ignored here)", response_model=PersonOut)
def update_me(body: ProfileUpdate, state: StateDep, me: Me) -> PersonOut:
    _person(state, me)
    with state.store.session() as ses:
        person = ses.get(Person, me.person_id)
        assert person is not None
        if body.display_name is not None:
            person.display_name = body.display_name
        ses.flush()
        return person_out(person)
