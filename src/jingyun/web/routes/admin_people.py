"""Admin: people and departments (人员与部门) — create a console user, create a department, add a
person to a department. The same rows and audit actions as ``/api/v1/admin/users`` (``user_created``,
``permission_change`` with before/after) and ``jingyun admin create-user``. Admin only (users:manage)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from jingyun.api.deps import request_id
from jingyun.errors import JingyunError
from jingyun.security import auth
from jingyun.security.roles import ROLES
from jingyun.store.models import Department, Person
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute)
Admin = Annotated[ConsoleCtx, Depends(page_ctx("users:manage"))]
MIN_PASSWORD = 12


def _page(ctx: ConsoleCtx, status_code: int = 200, message: str = "", error: JingyunError | None = None
          ) -> HTMLResponse:
    with ctx.state.store.session() as ses:
        people: list[dict[str, Any]] = [{"username": p.username, "display_name": p.display_name, "role": p.role,
                   "departments": list(p.department_names), "disabled": p.disabled}
                  for p in ses.scalars(select(Person).order_by(Person.username))]
        departments = list(ses.scalars(select(Department.name).order_by(Department.name)))
    members = {d: [p["username"] for p in people if d in p["departments"]] for d in departments}
    return ctx.render("admin_people.html", status_code=status_code, people=people, departments=departments,
                      members=members, roles=ROLES, message=message, error=error)


@router.get("/admin/people", response_class=HTMLResponse)
def people_page(ctx: Admin) -> HTMLResponse:
    return _page(ctx)


def _refused(ctx: ConsoleCtx, exc: JingyunError) -> HTMLResponse:
    return _page(ctx, status_code=exc.status if 400 <= exc.status < 500 else 422, error=exc)


@router.post("/admin/people", response_class=HTMLResponse)
def create_user(ctx: Admin, username: Annotated[str, Form(max_length=100)],
                password: Annotated[str, Form(max_length=200)], role: Annotated[str, Form(max_length=20)],
                department: Annotated[str, Form(max_length=100)] = "",
                display_name: Annotated[str, Form(max_length=100)] = "") -> HTMLResponse:
    """A new console user with a role and, optionally, a department (which must exist)."""
    try:
        username = username.strip()
        if len(password) < MIN_PASSWORD:
            raise JingyunError("weak_password", f"the initial password needs at least {MIN_PASSWORD} characters",
                               "password", status=422)
        if role not in ROLES:
            raise JingyunError("bad_role", f"role must be one of {', '.join(ROLES)}", "role", status=422)
        deps = [department] if department else []
        _known_departments(ctx, deps)
        person = auth.create_person(ctx.state.store, username=username, password=password, role=role,
                                    display_name=display_name.strip(), departments=deps, service=ctx.state.service)
    except JingyunError as exc:
        return _refused(ctx, exc)
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="user_created",
                          target=f"person:{person.id}", detail={"role": role, "departments": len(deps), "via": "console"},
                          request_id=request_id(ctx.request))
    return _page(ctx, status_code=201, message=ctx.t("admin.created_user", name=username))


def _known_departments(ctx: ConsoleCtx, names: list[str]) -> None:
    with ctx.state.store.session() as ses:
        for name in names:
            if ses.scalar(select(Department).where(Department.name == name)) is None:
                raise JingyunError("unknown_department", f"no department {name!r}; create it first", "department",
                                   status=422)


@router.post("/admin/people/departments", response_class=HTMLResponse)
def add_to_department(ctx: Admin, username: Annotated[str, Form(max_length=100)],
                      department: Annotated[str, Form(max_length=100)]) -> HTMLResponse:
    """Add a person to a department (kept in the others), audited ``permission_change`` before/after."""
    try:
        _known_departments(ctx, [department])
        with ctx.state.store.session() as ses:
            person = ses.scalar(select(Person).where(Person.username == username))
            if person is None:
                raise JingyunError("not_found", f"no user {username!r}", "username", status=404)
            before = {"departments": list(person.department_names)}
            if department not in before["departments"]:
                person.departments = auth.departments_by_name(ses, [*before["departments"], department])
            ses.flush()
            after = {"departments": list(person.department_names)}
            pid = person.id
    except JingyunError as exc:
        return _refused(ctx, exc)
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="permission_change",
                          target=f"person:{pid}", detail={"before": before, "after": after, "via": "console"},
                          request_id=request_id(ctx.request))
    return _page(ctx, message=ctx.t("admin.added", name=username, department=department))


@router.post("/admin/people/new-department", response_class=HTMLResponse)
def create_department(ctx: Admin, name: Annotated[str, Form(max_length=100)]) -> HTMLResponse:
    name = name.strip()
    try:
        if not name:
            raise JingyunError("bad_department", "a department needs a name", "name", status=422)
        with ctx.state.store.session() as ses:
            if ses.scalar(select(Department).where(Department.name == name)) is not None:
                raise JingyunError("exists", f"department {name!r} already exists", "name", status=409)
            auth.departments_by_name(ses, [name])
    except JingyunError as exc:
        return _refused(ctx, exc)
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="permission_change",
                          target=f"department:{name}", detail={"op": "create_department", "via": "console"},
                          request_id=request_id(ctx.request))
    return _page(ctx, status_code=201, message=ctx.t("admin.created_department", name=name))
