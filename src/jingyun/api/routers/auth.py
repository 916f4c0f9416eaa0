"""Sign-in, sign-out, bearer tokens and the caller's own profile. 登录与个人资料。"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from jingyun.api.deps import SESSION_COOKIE, StateDep, permit, request_id
from jingyun.errors import JingyunError
from jingyun.security import auth
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
    expires_in: int


class ProfileUpdate(BaseModel):
    """Only display_name may change here; anything else (role, departments…) is ignored (BOPLA)."""

    model_config = ConfigDict(extra="ignore")
    display_name: str | None = Field(default=None, min_length=1, max_length=200)


def person_out(person: Person) -> PersonOut:
    return PersonOut(username=person.username, display_name=person.display_name, role=person.role,
                     departments=person.department_names)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/login", summary="Sign in with username and password; sets the session cookie", response_model=LoginOut)
def login(body: LoginBody, request: Request, response: Response, state: StateDep, _: Public) -> LoginOut:
    state.login_limiter.check(_client(request))
    result = auth.authenticate(state.store, state.service, body.username, body.password)
    rid = request_id(request)
    if result.person is None:
        # the username is what was typed: it may not exist, so it is not logged as an actor
        if result.outcome == "just_locked":
            state.auditor.log(actor=body.username[:100], action="account_locked", outcome="failed",
                              detail={"failures": result.failures}, request_id=rid)
        else:
            state.auditor.log(actor=body.username[:100], action="login_failed", outcome="failed",
                              detail={"why": result.outcome}, request_id=rid)
        if result.outcome in ("locked", "just_locked"):
            raise JingyunError("account_locked", "too many failed sign-ins; the account is locked for "
                               f"{state.service.lockout_minutes:g} minutes", "username", status=401)
        raise JingyunError("bad_credentials", "wrong username or password", "password", status=401)
    person = result.person
    token = auth.create_session(state.store, state.service, person.id)
    ttl = int(state.service.session_hours * 3600)
    response.set_cookie(SESSION_COOKIE, token, max_age=ttl, httponly=True, samesite="strict",
                        secure=state.service.cookie_secure, path="/")
    state.auditor.log(actor=person.username, role=person.role, action="login", request_id=rid)
    return LoginOut(user=person_out(person), access_token=auth.issue_token(state.service, person.username, ttl_seconds=ttl),
                    expires_in=ttl)


@router.post("/auth/logout", summary="Sign out: revoke the session cookie", status_code=204)
def logout(request: Request, state: StateDep, me: Me) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth.revoke_session(state.store, token)
    state.auditor.log(actor=me.name, role=me.role, action="logout", request_id=request_id(request))
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
