"""Scheduled jobs (定时任务): next run in local time, last outcome, history; "run now" for admins.

Managers and admins read (error lines can name tables and files); only admins
start a run. The run-now form is a POST carrying the session cookie, which is
``SameSite=Strict`` like every console form, so another site cannot submit it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jingyun.api.deps import request_id
from jingyun.errors import JingyunError
from jingyun.localtime import local_iso
from jingyun.ops.scheduler import Scheduler
from jingyun.ops.service import run_now_from_console
from jingyun.web.context import ConsoleCtx, page_ctx

router = APIRouter()
Viewer = Annotated[ConsoleCtx, Depends(page_ctx("jobs:view"))]
Runner = Annotated[ConsoleCtx, Depends(page_ctx("jobs:run"))]
PAGE = 25


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(ctx: Viewer, page: Annotated[int, Query(ge=1, le=10_000)] = 1,
              started: Annotated[str, Query(max_length=60)] = "",
              refused: Annotated[str, Query(max_length=60)] = "") -> HTMLResponse:
    sched = Scheduler(ctx.state.settings, ctx.state.store)
    try:
        rows, problem = sched.status(), None
    except JingyunError as exc:  # no schedule.yaml yet, or a broken one: say so, keep the history
        rows, problem = [], exc.message
    history, total = sched.ledger.history(offset=(page - 1) * PAGE, limit=PAGE)
    for r in rows:
        r["last_started_local"] = local_iso(_parse(r["last_started"]), ctx.timezone)
    hist = [{**h.to_dict(), "started_local": local_iso(_parse(h.started_at), ctx.timezone)} for h in history]
    names = {r["job"] for r in rows}
    return ctx.render("jobs.html", rows=rows, problem=problem, history=hist, page=page,
                      pages=max(1, -(-total // PAGE)), total=total, can_run=ctx.may("jobs:run"),
                      started=started if started in names else "", refused=refused if refused in names else "")


@router.post("/jobs/{name}/run")
def run_now(ctx: Runner, name: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,60}$")]) -> Response:
    app_scheduler = getattr(ctx.request.app.state, "scheduler", None)
    try:
        run_now_from_console(ctx.state.settings, ctx.state.store, name, app_scheduler)
        outcome, flag = "ok", "started"
    except JingyunError as exc:
        if exc.code != "job_running":
            raise
        outcome, flag = "denied", "refused"
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="job_run", target=name,
                          outcome=outcome, detail={"via": "console"}, request_id=request_id(ctx.request))
    return RedirectResponse(ctx.url(f"/jobs?{flag}={name}"), status_code=303)


def _parse(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None
