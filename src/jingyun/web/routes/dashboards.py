"""My dashboard (我的看板): pin any panel with its parameters; share a pin within your departments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from jingyun.errors import JingyunError
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.dashboards import DashboardStore
from jingyun.web.panels import PANELS

router = APIRouter()
Viewer = Annotated[ConsoleCtx, Depends(page_ctx("authenticated"))]


def _store(ctx: ConsoleCtx) -> DashboardStore:
    return DashboardStore(ctx.state.settings.home, ctx.state.store)


@router.get("/dashboards", response_class=HTMLResponse)
def dashboards(ctx: Viewer) -> HTMLResponse:
    store = _store(ctx)
    mine = store.pins(ctx.principal.name)
    # a shared pin shows only if the viewer may also open that panel
    shared = [p for p in store.shared_with(ctx.principal.name, ctx.principal.departments)
              if p.panel in PANELS and ctx.may(PANELS[p.panel].permission)]
    return ctx.render("dashboards.html", mine=mine, shared=shared)


@router.post("/dashboards/pin", response_class=HTMLResponse)
def pin(ctx: Viewer, panel: Annotated[str, Form(pattern=r"^[a-z_]{1,40}$")],
        query: Annotated[str, Form(max_length=2000)] = "", title: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    spec = PANELS.get(panel)
    if spec is None or not spec.pinnable:
        raise JingyunError("not_found", f"no pinnable panel {panel!r}", "panel", status=404)
    ctx.require(spec.permission)
    _store(ctx).pin(ctx.principal.name, ctx.principal.departments, panel, query, title or panel)
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
