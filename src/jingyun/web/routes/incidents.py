"""Incidents in the console (应急事件): the list (open first by default) with deadlines and overdue marks, a form to
report one from a playbook, and one incident's page — playbook steps, timeline, notes, and for managers the
ticks and the closing review. Times are local with the offset; forms post back to the page they came from.

The library keeps codes (``stock_out``, ``manual``, ``supply.manager``) and writes its timeline in the English of the
API; this page words both in the reader's language: codes through ``web.enums``, the lines the library wrote
(opened, step done, level changed, closed) from the entry's ``facts`` and the catalog (``incidents.line.*``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jingyun import incidents
from jingyun.errors import JingyunError
from jingyun.store.models import utcnow
from jingyun.web import enums
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute
from jingyun.web.timeline import Line

router = APIRouter(route_class=ConsoleRoute)  # ordinary mistakes are pages (web.errors)
Viewer = Annotated[ConsoleCtx, Depends(page_ctx("incidents:view"))]
Reporter = Annotated[ConsoleCtx, Depends(page_ctx("incidents:open"))]
IncidentId = Annotated[int, Path(ge=1, le=2**62)]
PAGE = 20


def _line(ctx: ConsoleCtx, inc: incidents.Incident, e: incidents.TimelineEntry) -> Line:
    def name(kind: str, value: Any) -> str:
        return enums.label(kind, value, ctx.locale, ctx.state.settings)

    text, facts = e.text, e.facts
    if facts is not None and e.kind == "opened":
        who = facts["responder"] or ctx.t("incidents.line.nobody_holds",
                                          position=name("approval_position", facts["position"]))
        text = ctx.t("incidents.line.opened", playbook=name("incident_playbook", inc.playbook),
                     level=name("incident_level", facts["level"]), source=name("incident_source", facts["source"]),
                     who=who)
    elif facts is not None and e.kind == "step":
        idx = int(facts["step"])
        step = next((s for s in inc.steps if s.idx == idx), None)
        what = (step.zh if ctx.locale == "zh-CN" else step.en) if step is not None else ""
        text = ctx.t("incidents.line.step", n=idx, step=what)
    elif facts is not None and e.kind == "level":
        text = ctx.t("incidents.line.level", was=name("incident_level", facts["was"]),
                     level=name("incident_level", facts["level"]))
    elif facts is not None and e.kind == "closed":
        text = ctx.t("incidents.line.closed_late", summary=facts["summary"]) if facts["late"] else facts["summary"]
    return Line(e.ts, e.author, e.kind, ctx.t("incidents.entry." + e.kind), text)


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(ctx: Viewer, status: Annotated[Literal["open", "closed", "all"], Query()] = "open",
                  page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    rows, total = incidents.list_incidents(ctx.state.store, status=None if status == "all" else status, limit=PAGE,
                                           offset=(page - 1) * PAGE)
    return ctx.render("incidents.html", rows=rows, total=total, status=status, page=page,
                      pages=max(1, -(-total // PAGE)), now=utcnow(), library=incidents.library(),
                      can_open=ctx.may("incidents:open"))


@router.post("/incidents")
def open_incident(ctx: Reporter, playbook: Annotated[str, Form(max_length=50)],
                  title: Annotated[str, Form(max_length=200)],
                  level: Annotated[Literal["", "1", "2", "3"], Form()] = "") -> Response:
    lvl = int(level) if level else incidents.playbook(playbook).default_level
    inc = incidents.open_incident(ctx.state.store, ctx.state.settings, playbook=playbook, level=lvl, title=title,
                                  source="manual", opened_by=ctx.principal.name)
    return RedirectResponse(ctx.url(f"/incidents/{inc.id}"), status_code=303)


@router.get("/incidents/{iid}", response_class=HTMLResponse)
def incident_page(ctx: Viewer, iid: IncidentId) -> HTMLResponse:
    inc = incidents.get(ctx.state.store, iid)
    return ctx.render("incident.html", inc=inc, pb=incidents.library().get(inc.playbook), now=utcnow(),
                      lines=[_line(ctx, inc, e) for e in inc.timeline],
                      can_note=ctx.may("incidents:open"), can_manage=ctx.may("incidents:manage"))


@router.post("/incidents/{iid}")
def act(ctx: Reporter, iid: IncidentId, action: Annotated[Literal["note", "step", "close"], Form()],
        text: Annotated[str, Form(max_length=4000)] = "", step: Annotated[int, Form(ge=1, le=100)] = 1,
        summary: Annotated[str, Form(max_length=4000)] = "", root_cause: Annotated[str, Form(max_length=4000)] = "",
        actions: Annotated[str, Form(max_length=20_000)] = "") -> Response:
    who = ctx.principal.name
    if action == "note":
        incidents.add_note(ctx.state.store, iid, author=who, text=text)
    else:
        if not ctx.may("incidents:manage"):
            raise JingyunError("forbidden", "managers tick steps and close incidents", None, status=403)
        if action == "step":
            incidents.complete_step(ctx.state.store, iid, step, author=who)
        else:
            review = {"summary": summary, "root_cause": root_cause,
                      "actions": [line for line in actions.splitlines() if line.strip()]}
            incidents.close(ctx.state.store, iid, author=who, review=review)
    return RedirectResponse(ctx.url(f"/incidents/{iid}"), status_code=303)
