"""Routes every panel shares: the fragment, its CSV/Excel download, sign-in and the language switch."""

from __future__ import annotations

import csv
import io
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jingyun.api.deps import SESSION_COOKIE, get_state, request_id
from jingyun.api.routers.auth import set_session_cookie, sign_in, sign_out
from jingyun.errors import JingyunError
from jingyun.security import auth
from jingyun.security.exports import safe_row
from jingyun.web import i18n
from jingyun.web.context import LANG_COOKIE, PREFIX, TEMPLATES, ConsoleCtx, console_ctx, request_locale
from jingyun.web.panels import PANELS, PanelData, cell, chart_json, plain
from jingyun.web.segment_trends import sparkline_points

router = APIRouter()
Ctx = Annotated[ConsoleCtx, Depends(console_ctx)]
PanelName = Annotated[str, Path(pattern=r"^[a-z_]{1,40}$")]


def run_panel(ctx: ConsoleCtx, name: str) -> tuple[PanelData, dict[str, str]]:
    spec = PANELS.get(name)
    if spec is None:
        raise JingyunError("not_found", f"no panel {name!r}", "panel", status=404)
    ctx.require(spec.permission)
    params = {k: v for k, v in ctx.request.query_params.items() if k != "lang"}
    return spec.fn(ctx, params), params


@router.get("/panel/{name}", response_class=HTMLResponse)
def panel_fragment(name: PanelName, ctx: Ctx) -> HTMLResponse:
    try:
        data, params = run_panel(ctx, name)
    except JingyunError as exc:
        if exc.status in (403, 404):
            raise
        # a bad filter shows in the panel, with the field at fault, instead of breaking the page
        return ctx.render("parts/panel_error.html", message=exc.message, field=exc.field)
    spec = PANELS[name]
    query = urlencode(params)
    # on a board (X-JY-Board) a panel offers no pin; elsewhere one already pinned says so instead of offering it
    on_board = bool(ctx.request.headers.get("x-jy-board"))
    pinned = spec.pinnable and not on_board and _pinned(ctx, name, query)
    return ctx.render(data.template or "parts/panel.html", p=data, name=name, query=query,
                      pinnable=spec.pinnable and not on_board, pinned=pinned, chart=chart_json(data.chart), cell=cell,
                      plain=plain,
                      spark_points=sparkline_points)


def _pinned(ctx: ConsoleCtx, name: str, query: str) -> bool:
    from jingyun.web.dashboards import DashboardStore

    return DashboardStore(ctx.state.settings.home, ctx.state.store).pinned(ctx.principal.name, name, query)


def _csv(data: PanelData) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(safe_row(c.label for c in data.table.columns))
    for row in data.table.rows:
        w.writerow(safe_row("" if plain(v) is None else plain(v) for v in row))
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 Chinese correctly


def _xlsx(data: PanelData) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = data.title[:31].replace("/", "-").replace(":", " ") or "data"
    ws.append(safe_row(c.label for c in data.table.columns))
    for row in data.table.rows:
        ws.append(safe_row(plain(v) for v in row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@router.get("/export/{name}.{fmt}")
def export(name: PanelName, fmt: Annotated[str, Path(pattern="^(csv|xlsx)$")], ctx: Ctx) -> Response:
    data, _ = run_panel(ctx, name)
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="export", target=f"panel:{name}",
                          detail={"rows": len(data.table.rows), "format": fmt}, request_id=request_id(ctx.request))
    filename = f"{name}.{fmt}"
    if fmt == "csv":
        return Response(_csv(data), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return Response(_xlsx(data), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# -- sign-in ---------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    locale = request_locale(request)
    return TEMPLATES.TemplateResponse(request, "login.html", {"t": lambda k, **v: i18n.translate(locale, k, **v),
                                                               "locale": locale, "error": None})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, username: Annotated[str, Form(max_length=100)],
          password: Annotated[str, Form(max_length=1000)]) -> Response:
    state = get_state(request)
    locale = request_locale(request)
    try:
        person = sign_in(request, state, username, password, "console")
    except JingyunError as exc:
        if exc.status not in (401, 429):
            raise
        headers = getattr(exc, "headers", None)
        seconds = (headers or {}).get("Retry-After", "")
        message = i18n.translate(locale, "login.locked", seconds=seconds) if exc.status == 429 \
            else i18n.translate(locale, "login.bad")
        return TEMPLATES.TemplateResponse(request, "login.html", {
            "t": lambda k, **v: i18n.translate(locale, k, **v), "locale": locale, "error": message},
            status_code=exc.status, headers=headers)
    token = auth.create_session(state.store, state.service, person.id)
    response = RedirectResponse(PREFIX + "/", status_code=303)
    set_session_cookie(request, response, state.service, token)
    return response


@router.post("/logout")
def logout(request: Request, ctx: Ctx) -> Response:
    sign_out(request, ctx.state, ctx.principal, "console")
    response = RedirectResponse(PREFIX + "/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{locale}")
def switch_language(locale: Annotated[str, Path(pattern="^(zh-CN|en)$")], request: Request,
                    next: str = PREFIX + "/") -> Response:
    # only local paths: the switch must not become an open redirect
    target = next if next.startswith(PREFIX + "/") and "//" not in next and "\\" not in next else PREFIX + "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax", path="/")
    return response
