"""Budgets and pricing in the console (预算 · 竞品定价): a budget's burn-down (chart with its table) and the
optimiser's proposal; price proposals and one product's price history beside the competitors'.
``budgets:view`` / ``pricing:view`` see the pages; running the optimiser needs ``budgets:manage``."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from jingyun import budgets, pricing
from jingyun.api.deps import reading
from jingyun.approvals.money import parse_amount
from jingyun.budgets.optimize import optimize
from jingyun.budgets.views import budget_dict, proposal_dict, status_dict
from jingyun.errors import JingyunError
from jingyun.localtime import local_iso
from jingyun.pricing.views import change_dict
from jingyun.pricing.views import proposal_dict as price_proposal_dict
from jingyun.warehouse.backends import open_backend
from jingyun.web.context import ConsoleCtx, page_ctx

router = APIRouter()
BudgetViewer = Annotated[ConsoleCtx, Depends(page_ctx("budgets:view"))]
PricingViewer = Annotated[ConsoleCtx, Depends(page_ctx("pricing:view"))]
PAGE = 25


def _burn_chart(st: dict[str, Any], t: Any) -> str:
    days = [d["day"] for d in st["burn_down"]]
    return json.dumps({
        "tooltip": {"trigger": "axis"}, "legend": {}, "xAxis": {"type": "category", "data": days},
        "yAxis": {"type": "value"},
        "series": [{"name": t("budgets.planned_cum"), "type": "line", "data": [d["planned_cumulative"] for d in st["burn_down"]]},
                   {"name": t("budgets.actual_cum"), "type": "line", "data": [d["actual_cumulative"] for d in st["burn_down"]]}],
    }, ensure_ascii=False)


@router.get("/budgets", response_class=HTMLResponse)
def budgets_page(ctx: BudgetViewer, key: Annotated[str, Query(max_length=64)] = "",
                 total: Annotated[str, Query(max_length=20)] = "",
                 days: Annotated[int, Query(ge=1, le=366)] = 30) -> HTMLResponse:
    state = ctx.state
    items, count = budgets.list_budgets(state.store, limit=PAGE)
    rows = [budget_dict(b, ctx.timezone) for b in items]
    chosen = chart = None
    if key:
        b = budgets.get(state.store, key)
        st = reading(state, lambda wh: budgets.status(open_backend(state.settings, warehouse=wh), b))
        chosen = status_dict(st, ctx.timezone)
        chart = _burn_chart(chosen, ctx.t)
    proposal = error = None
    if total and ctx.may("budgets:manage"):
        try:
            money = parse_amount(total, "total")
            prop = reading(state, lambda wh: optimize(open_backend(state.settings, warehouse=wh), total=money,
                                                      days=days))
            proposal = proposal_dict(prop)
        except JingyunError as exc:
            error = exc.message
    return ctx.render("budgets.html", rows=rows, total_budgets=count, chosen=chosen, chart=chart, proposal=proposal,
                      error=error, total=total, days=days, may_optimize=ctx.may("budgets:manage"))


@router.get("/pricing", response_class=HTMLResponse)
def pricing_page(ctx: PricingViewer, product: Annotated[str, Query(max_length=128)] = "",
                 status: Annotated[str, Query(pattern=r"^(|pending|approved|rejected|applied)$")] = "",
                 page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    state = ctx.state
    items, count = pricing.list_proposals(state.store, status=status or None, limit=PAGE, offset=(page - 1) * PAGE)
    rows = [price_proposal_dict(p, ctx.timezone) for p in items]
    history = chart = None
    if product:
        changes = [change_dict(c, ctx.timezone) for c in pricing.changes(state.store, product)]
        obs = pricing.observations(state.store, product_id=product)
        series: dict[str, list[list[Any]]] = {}
        for comp, item, _pid, price, at in obs:
            series.setdefault(f"{comp}/{item}", []).append([local_iso(at, ctx.timezone), float(price)])
        ours = [[c["changed_at"], float(Decimal(c["new"]))] for c in changes]
        chart = json.dumps({
            "tooltip": {"trigger": "axis"}, "legend": {}, "xAxis": {"type": "time"}, "yAxis": {"type": "value"},
            "series": [{"name": ctx.t("pricing.ours"), "type": "line", "step": "end", "data": ours}]
            + [{"name": k, "type": "line", "step": "end", "data": v} for k, v in series.items()],
        }, ensure_ascii=False)
        history = {"product": product, "changes": changes,
                   "observations": [{"series": f"{c}/{i}", "price": f"{p:.2f}", "at": local_iso(at, ctx.timezone)}
                                    for c, i, _pid, p, at in obs]}
    return ctx.render("pricing.html", rows=rows, total=count, page=page, pages=max(1, -(-count // PAGE)),
                      status=status, history=history, chart=chart, product=product)
