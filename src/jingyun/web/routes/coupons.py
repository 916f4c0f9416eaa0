"""Coupons in the console (优惠券): the templates with stock and budget left, and one template's report
(issued, redeemed, rate, discount cost, rejected uses by reason). Every role that may view coupons
sees the page; the lift against a holdout needs a holdout list and lives in the CLI and API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from jingyun import coupons
from jingyun.api.deps import reading
from jingyun.coupons.report import report
from jingyun.coupons.views import template_dict, template_report_dict
from jingyun.warehouse.backends import open_backend
from jingyun.web.context import ConsoleCtx, page_ctx

router = APIRouter()
Viewer = Annotated[ConsoleCtx, Depends(page_ctx("coupons:view"))]
PAGE = 25


@router.get("/coupons", response_class=HTMLResponse)
def coupons_page(ctx: Viewer, page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                 template: Annotated[str, Query(pattern=r"^[A-Za-z0-9_\-]{0,64}$")] = "") -> HTMLResponse:
    state = ctx.state
    items, total = coupons.list_templates(state.store, limit=PAGE, offset=(page - 1) * PAGE)
    rows = [template_dict(t, ctx.timezone) for t in items]
    chosen = None
    if template:
        coupons.get_template(state.store, template)  # 404 for an unknown key
        rep = reading(state, lambda wh: report(state.store, state.settings, open_backend(state.settings, warehouse=wh),
                                               templates=[template]))
        chosen = template_report_dict(rep.templates[0])
    return ctx.render("coupons.html", rows=rows, total=total, page=page, pages=max(1, -(-total // PAGE)),
                      report=chosen)
