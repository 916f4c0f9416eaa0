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
from jingyun.ingest import quarantine as q
from jingyun.ingest.tracking_report import tracking_report
from jingyun.quality.checks import run_checks
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute
from jingyun.web.panels import Callout, Column, PanelData, Table, bar_option, panel

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
    opt = bar_option([r.source for r in rep], [(ctx.t("col.compliance"), [round(r.compliance * 100, 2) for r in rep])],
                     horizontal=True, percent_axis=True)
    opt["yAxis"]["inverse"] = True
    rows = [[r.source, r.events, r.violations, r.unknown_events, r.quarantined, r.compliance] for r in rep]
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


@panel("quarantine", "quarantine:view", pinnable=False)
def quarantine(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    with ctx.reader() as wh:
        total, items = q.list_rows(wh, status="open", limit=50, offset=0)
        summary = q.summary(wh, "open")
    rows: list[list[Any]] = [[r.qid, r.table, r.reason + (f":{r.field}" if r.field else ""), r.source, r.received_at]
                            for r in items]
    cols = [Column("ID", "int"), Column(ctx.t("col.table")), Column(ctx.t("col.reason")), Column(ctx.t("col.source")),
            Column(ctx.t("col.received_at"))]
    callouts = [Callout("warn" if total else "good", ctx.t("msg.quarantine", n=f"{total:,}"))]
    return PanelData(ctx.t("panel.quarantine"), Table(cols, rows), None, callouts, template="parts/quarantine.html",
                     extra={"total": total, "summary": summary, "can_replay": ctx.may("quarantine:replay")})


@router.post("/quality/replay", response_class=HTMLResponse)
def replay(ctx: Replayer, table: Annotated[str, Form(pattern=r"^[a-z_]{0,40}$")] = "") -> HTMLResponse:
    with ctx.state.writer.lock:
        result = q.replay(ctx.state.writer.wh, table=table or None)
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="replay", target="quarantine",
                          detail={"selected": result.selected, "stored": result.stored, "via": "console"},
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
