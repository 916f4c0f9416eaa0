"""Data quality (数据质量) and administration (系统管理).

The quarantine holds raw payloads (personal data), so it shows only to roles
with ``quarantine:view`` (admin); replay goes through the service's one writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse

from jingyun.api.deps import request_id
from jingyun.errors import JingyunError
from jingyun.ingest import quarantine as q
from jingyun.ingest.tracking_report import tracking_report
from jingyun.quality.checks import run_checks
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute
from jingyun.web.panels import Callout, Column, PanelData, Table, bar_option, panel, param_int

router = APIRouter(route_class=ConsoleRoute)  # ordinary mistakes are pages (web.errors)
Analyst = Annotated[ConsoleCtx, Depends(page_ctx("analysis:run"))]
Replayer = Annotated[ConsoleCtx, Depends(page_ctx("quarantine:replay"))]
Admin = Annotated[ConsoleCtx, Depends(page_ctx("users:manage"))]


@router.get("/quality", response_class=HTMLResponse)
def quality(ctx: Analyst) -> HTMLResponse:
    return ctx.render("quality.html")


@panel("tracking", "analysis:run")
def tracking(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    with ctx.reader() as wh:
        rep = tracking_report(wh)
        # the quarantine list's own count per source (every open row, whatever its reason), so the two
        # tables on the page agree; the library's compliance counts only tracking-plan quarantines
        held = {str(src): int(n) for src, n in wh.rows(
            "SELECT source, count(*) FROM _quarantine WHERE status = 'open' AND tbl = 'events' GROUP BY 1")}
    opt = bar_option([r.source for r in rep], [(ctx.t("col.compliance"), [round(r.compliance * 100, 2) for r in rep])],
                     horizontal=True, percent_axis=True)
    opt["yAxis"]["inverse"] = True
    rows = [[r.source, r.events, r.violations, r.unknown_events, held.get(r.source, 0), r.compliance] for r in rep]
    cols = [Column(ctx.t("col.source")), Column(ctx.t("col.events"), "int"), Column(ctx.t("col.violations"), "int"),
            Column(ctx.t("col.unknown_events"), "int"), Column(ctx.t("col.quarantined"), "int"),
            Column(ctx.t("col.compliance"), "pct")]
    return PanelData(ctx.t("panel.tracking"), Table(cols, rows), opt, chart_height=max(180, 30 * len(rows) + 60))


@panel("checks", "analysis:run")
def checks(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    with ctx.reader() as wh:
        results = run_checks(wh, limit=5)
    rows = [[r.zh if ctx.locale == "zh-CN" else r.en, r.count, ctx.t("label.ok") if r.ok else ctx.t("label.failing")]
            for r in results]
    bad = sum(1 for r in results if not r.ok)
    callouts = [Callout("warn" if bad else "good", ctx.t("msg.checks", bad=bad, n=len(results)))]
    return PanelData(ctx.t("panel.checks"), Table([Column(ctx.t("col.check")), Column(ctx.t("col.count"), "int"),
                                                   Column(ctx.t("col.status"))], rows), None, callouts,
                     template="parts/table_only.html")


QUARANTINE_PAGE = 20


def reason_text(ctx: ConsoleCtx, reason: str, field: str | None) -> str:
    """A quarantine reason in the reader's language (an unknown code shows as itself), with its field."""
    key = "reason." + reason
    text = ctx.t(key)
    text = reason if text == key else text
    return f"{text} ({field})" if field else text


@panel("quarantine", "quarantine:view", pinnable=False)
def quarantine(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """Open quarantined rows, a page at a time, with their reasons translated; replay one row, a selection
    or everything."""
    page = param_int(params, "page", 1, 1, 1_000_000)
    with ctx.reader() as wh:
        total, items = q.list_rows(wh, status="open", limit=QUARANTINE_PAGE, offset=(page - 1) * QUARANTINE_PAGE)
        summary = q.summary(wh, "open")
    pages = max(1, -(-total // QUARANTINE_PAGE))
    rows: list[list[Any]] = [[r.qid, r.table, reason_text(ctx, r.reason, r.field), r.source, r.received_at]
                            for r in items]
    cols = [Column("ID", "int"), Column(ctx.t("col.table")), Column(ctx.t("col.reason")), Column(ctx.t("col.source")),
            Column(ctx.t("col.received_at"))]
    callouts = [Callout("warn" if total else "good", ctx.t("msg.quarantine", n=f"{total:,}"))]
    shown_summary = [(tbl, reason_text(ctx, code.partition(":")[0], code.partition(":")[2] or None), n)
                     for tbl, code, n in summary]
    return PanelData(ctx.t("panel.quarantine"), Table(cols, rows), None, callouts, template="parts/quarantine.html",
                     extra={"total": total, "summary": shown_summary, "can_replay": ctx.may("quarantine:replay"),
                            "page": page, "pages": pages, "items": items, "page_size": QUARANTINE_PAGE})


@router.post("/quality/replay", response_class=HTMLResponse)
def replay(ctx: Replayer, table: Annotated[str, Form(pattern=r"^[a-z_]{0,40}$")] = "",
           ids: Annotated[list[int] | None, Form()] = None) -> HTMLResponse:
    """Replay the chosen rows (``ids``: one row's button or the ticked ones), else everything open."""
    if ids is not None and not ids:
        raise JingyunError("no_selection", "tick at least one row to replay", "ids")
    with ctx.state.writer.lock:
        result = q.replay(ctx.state.writer.wh, ids=ids or None, table=table or None)
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="replay", target="quarantine",
                          detail={"selected": result.selected, "stored": result.stored, "via": "console",
                                  "ids": ids or "all"},
                          request_id=request_id(ctx.request))
    return ctx.render("parts/replayed.html", result=result.to_dict())


@router.get("/admin", response_class=HTMLResponse)
def admin(ctx: Admin) -> HTMLResponse:
    from sqlalchemy import select

    from jingyun.store.models import AuditEntry, Person

    with ctx.state.store.session() as ses:
        people = [(p.username, p.display_name, p.role, ", ".join(p.department_names), p.disabled)
                  for p in ses.scalars(select(Person).order_by(Person.username))]
        audit = [(a.ts, a.actor, a.action, a.target, a.outcome)
                 for a in ses.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(30))]
    return ctx.render("admin.html", people=people, audit=audit)
