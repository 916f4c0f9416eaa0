"""Dashboards (看板): named boards, shared read-only per department, a grid of panels and text cards,
a board-level date filter. Every change is a plain form POST answered by a redirect back to the board
(works from the keyboard and without script); dragging a card posts the same move."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from jingyun.errors import JingyunError
from jingyun.web.context import PREFIX, ConsoleCtx, page_ctx
from jingyun.web.dashboards import (
    DEFAULT_NAME,
    SHARED_NAME,
    Board,
    DashboardStore,
    date_filter,
    panel_query,
    render_text,
)
from jingyun.web.errors import ConsoleRoute
from jingyun.web.filters import parse_filters
from jingyun.web.panels import PANELS

router = APIRouter(route_class=ConsoleRoute)  # ordinary mistakes are pages (web.errors)
Viewer = Annotated[ConsoleCtx, Depends(page_ctx("authenticated"))]


def _store(ctx: ConsoleCtx) -> DashboardStore:
    return DashboardStore(ctx.state.settings.home, ctx.state.store)


def _admin(ctx: ConsoleCtx) -> bool:
    return ctx.principal.role == "admin"


def _departments(ctx: ConsoleCtx) -> dict[int, str]:
    """The departments a board may be shared with: the viewer's own (an admin: every department)."""
    from jingyun.store import Department

    with ctx.state.store.session() as ses:
        q = select(Department.id, Department.name).order_by(Department.name)
        if not _admin(ctx):
            q = q.where(Department.id.in_(sorted(ctx.principal.departments)))
        return {int(i): str(n) for i, n in ses.execute(q)}


def _back(board_id: str | None = None) -> RedirectResponse:
    return RedirectResponse(PREFIX + "/dashboards" + (f"?board={board_id}" if board_id else ""), status_code=303)


def _visible(ctx: ConsoleCtx, board: Board) -> Board:
    if not board.can_view(ctx.principal.name, ctx.principal.departments, _admin(ctx)):
        raise JingyunError("not_found", "no such board", "board", status=404)
    return board


@router.get("/dashboards", response_class=HTMLResponse)
def dashboards(ctx: Viewer) -> HTMLResponse:
    store = _store(ctx)
    me = ctx.principal.name
    boards = store.boards(me, ctx.principal.departments)
    chosen = ctx.request.query_params.get("board") or ""
    board: Board | None = None
    if chosen:
        board = _visible(ctx, store.board(chosen))
    elif boards and boards[0].owner == me:
        board = store.board(boards[0].id)
    editable = board is not None and board.can_edit(me, _admin(ctx))
    # a panel shows only if the viewer may also open it (a shared board can hold panels of other roles)
    cards = [(item, panel_query(item.query, board.date_range)) for item in board.items
             if item.kind == "text" or (item.panel in PANELS and ctx.may(PANELS[item.panel].permission))] if board else []
    board_filter = None
    if board is not None and board.date_range:
        board_filter = parse_filters(ctx, dict(_pairs(board.date_range)))
    # the overview (no board chosen) also lists what colleagues shared with the viewer's departments
    ranges = {b.id: b.date_range for b in boards}
    shared = [] if chosen else [
        (p, panel_query(p.query, ranges.get(p.board_id, ""))) for p in store.shared_with(me, ctx.principal.departments)
        if p.panel in PANELS and ctx.may(PANELS[p.panel].permission)]
    return ctx.render("dashboards.html", boards=boards, board=board, cards=cards, editable=editable,
                      board_filter=board_filter, shared=shared, departments=_departments(ctx),
                      render_text=render_text, me=me, default_name=DEFAULT_NAME, shared_name=SHARED_NAME)


def _pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query)


@router.post("/dashboards/boards")
def create_board(ctx: Viewer, name: Annotated[str, Form(max_length=100)],
                 department: Annotated[str, Form(max_length=12)] = "") -> Response:
    dept = _department(ctx, department)
    board = _store(ctx).create_board(ctx.principal.name, name, dept)
    return _back(board.id)


def _department(ctx: ConsoleCtx, value: str) -> int | None:
    if not value:
        return None
    allowed = _departments(ctx)
    if not value.isdigit() or int(value) not in allowed:
        raise JingyunError("bad_department", "share a board only with a department you belong to", "department")
    return int(value)


@router.post("/dashboards/boards/{board_id}")
def update_board(ctx: Viewer, board_id: str, name: Annotated[str | None, Form(max_length=100)] = None,
                 department: Annotated[str | None, Form(max_length=12)] = None) -> Response:
    dept: int | bool | None = False if department is None else _department(ctx, department)
    _store(ctx).update_board(ctx.principal.name, _admin(ctx), board_id, name=name, department_id=dept)
    return _back(board_id)


@router.post("/dashboards/boards/{board_id}/range")
def board_range(ctx: Viewer, board_id: str, range: Annotated[str, Form(max_length=20)] = "",
                date_from: Annotated[str, Form(alias="from", max_length=10)] = "",
                date_to: Annotated[str, Form(alias="to", max_length=10)] = "",
                compare: Annotated[str, Form(max_length=20)] = "") -> Response:
    value = date_filter({"range": range, "from": date_from, "to": date_to, "compare": compare})
    _store(ctx).update_board(ctx.principal.name, _admin(ctx), board_id, date_range=value)
    return _back(board_id)


@router.post("/dashboards/boards/{board_id}/delete")
def delete_board(ctx: Viewer, board_id: str) -> Response:
    _store(ctx).delete_board(ctx.principal.name, _admin(ctx), board_id)
    return _back()


@router.post("/dashboards/boards/{board_id}/text")
def add_text(ctx: Viewer, board_id: str, body: Annotated[str, Form(max_length=4000)],
             title: Annotated[str, Form(max_length=200)] = "") -> Response:
    _store(ctx).add_text(ctx.principal.name, _admin(ctx), board_id, body, title)
    return _back(board_id)


@router.post("/dashboards/items/{item_id}/move")
def move(ctx: Viewer, item_id: str, to: Annotated[int, Form(ge=0, le=1000)]) -> Response:
    board = _store(ctx).move(ctx.principal.name, _admin(ctx), item_id, to)
    return _back(board.id)


@router.post("/dashboards/items/{item_id}/resize")
def resize(ctx: Viewer, item_id: str, width: Annotated[int, Form()], height: Annotated[int, Form()] = 1) -> Response:
    item = _store(ctx).resize(ctx.principal.name, _admin(ctx), item_id, width, height)
    return _back(item.board_id)


@router.post("/dashboards/items/{item_id}/remove")
def remove(ctx: Viewer, item_id: str, board: Annotated[str, Form(max_length=32)] = "") -> Response:
    _store(ctx).remove(ctx.principal.name, _admin(ctx), item_id)
    return _back(board or None)


@router.post("/dashboards/pin", response_class=HTMLResponse)
def pin(ctx: Viewer, panel: Annotated[str, Form(pattern=r"^[a-z_]{1,40}$")],
        query: Annotated[str, Form(max_length=2000)] = "", title: Annotated[str, Form(max_length=200)] = "",
        board: Annotated[str, Form(max_length=32)] = "") -> HTMLResponse:
    spec = PANELS.get(panel)
    if spec is None or not spec.pinnable:
        raise JingyunError("not_found", f"no pinnable panel {panel!r}", "panel", status=404)
    ctx.require(spec.permission)
    store = _store(ctx)
    if board:
        store.add_panel(ctx.principal.name, _admin(ctx), _visible(ctx, store.board(board)).id, panel, query,
                        title or panel)
    else:
        store.pin(ctx.principal.name, ctx.principal.departments, panel, query, title or panel)
    return HTMLResponse(f'<span class="pinned" role="status">{ctx.t("action.pinned")}</span>')


@router.post("/dashboards/{pin_id}/share", response_class=HTMLResponse)
def share(ctx: Viewer, pin_id: str, shared: Annotated[bool, Form()] = True) -> HTMLResponse:
    _store(ctx).share(ctx.principal.name, pin_id, shared, ctx.principal.departments)
    key = "action.shared" if shared else "action.unshared"
    return HTMLResponse(f'<span class="pinned" role="status">{ctx.t(key)}</span>')


@router.post("/dashboards/{pin_id}/unpin")
def unpin(ctx: Viewer, pin_id: str) -> Response:
    _store(ctx).unpin(ctx.principal.name, pin_id)
    return HTMLResponse("")
