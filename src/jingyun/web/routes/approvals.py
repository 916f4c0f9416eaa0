"""Approvals in the console (审批): the inbox — mine to decide and mine submitted — and one request with its chain,
timeline and attachments, where the people it waits for approve, reject or comment.

A request the viewer takes no part in is the same "not found" page as a missing one (as in the API). Forms post
back to the request's own page, so every error page's way back is the request. Times are local with the offset.

The library keeps codes (``marketing``, ``marketing.director``) and writes its timeline in the English of the API;
this page words both in the reader's language: codes through ``web.enums``, the lines the system wrote (submitted,
escalated, decided on someone's behalf) from the request's own values and the catalog (``approvals.line.*``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jingyun import approvals
from jingyun.api.deps import not_found, request_id
from jingyun.approvals import ApprovalRequest, Entry
from jingyun.errors import JingyunError
from jingyun.web import enums
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute
from jingyun.web.timeline import Line

router = APIRouter(route_class=ConsoleRoute)  # ordinary mistakes are pages (web.errors)
Decider = Annotated[ConsoleCtx, Depends(page_ctx("approvals:decide"))]
RequestId = Annotated[int, Path(ge=1, le=2**62)]
PAGE = 20


def _visible(ctx: ConsoleCtx, rid: int) -> ApprovalRequest:
    try:
        req = approvals.get(ctx.state.store, rid)
    except JingyunError as exc:
        if exc.status == 404:
            raise not_found("approval request", "id") from None
        raise
    if ctx.may("approvals:manage") or approvals.visible_to(ctx.state.store, req, ctx.principal.name):
        return req
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="denied", outcome="denied",
                          target="GET /console/approvals/{id}", detail={"object": "approval request"},
                          request_id=request_id(ctx.request))
    raise not_found("approval request", "id")


def _may_decide(ctx: ConsoleCtx, req: ApprovalRequest) -> bool:
    """Shown when the request waits for the viewer, or for someone who delegated to them (the library decides)."""
    if req.status != "pending":
        return False
    me = ctx.principal.name
    if me in req.pending_with:
        return True
    on_chain = me == req.requester or any(me in (s.approver, s.assignee, s.decided_by) for s in req.steps)
    return not on_chain and approvals.visible_to(ctx.state.store, req, me)  # visible only as a delegate


def _line(ctx: ConsoleCtx, req: ApprovalRequest, e: Entry) -> Line:
    text = e.text
    if e.kind == "submit":  # written as "<type in English> ¥<amount> — tier <n>" at submission
        text = ctx.t("approvals.line.submit", type=enums.label("approval_type", req.type, ctx.locale,
                                                                ctx.state.settings),
                     amount=f"{req.amount:,.2f}", tier=req.tier + 1)
    elif e.kind in ("approve", "reject"):  # a delegate's decision carries " (on behalf of <assignee>)"
        step = next((s for s in req.steps if s.id == e.step_id), None)
        suffix = f" (on behalf of {step.assignee})" if step is not None and step.assignee else ""
        if suffix and step is not None and step.assignee != e.author and text.endswith(suffix):
            text = text[: -len(suffix)].strip() + ctx.t("approvals.line.on_behalf", who=step.assignee)
    elif e.kind == "escalate" and (facts := e.facts) is not None:
        clock = ctx.t("approvals.clock." + facts["clock"])
        key = "approvals.line.escalated" if facts["to"] else "approvals.line.reminded"
        text = ctx.t(key, was=facts["was"], hours=facts["hours"], clock=clock, to=facts["to"] or "")
    author = ctx.t("approvals.author.system") if e.author == "system" else e.author  # escalations, callbacks
    return Line(e.ts, author, e.kind, ctx.t("approvals.entry." + e.kind), text)


@router.get("/approvals", response_class=HTMLResponse)
def inbox(ctx: Decider, box: Annotated[Literal["to_decide", "submitted"], Query()] = "to_decide",
          page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    rows, total = approvals.list_requests(ctx.state.store, person=ctx.principal.name, box=box, limit=PAGE,
                                          offset=(page - 1) * PAGE)
    return ctx.render("approvals.html", rows=rows, total=total, box=box, page=page, pages=max(1, -(-total // PAGE)),
                      can_submit=ctx.may("approvals:submit"))


@router.get("/approvals/{rid}", response_class=HTMLResponse)
def request_page(ctx: Decider, rid: RequestId,
                 done: Annotated[Literal["", "approve", "reject", "comment"], Query()] = "") -> HTMLResponse:
    req = _visible(ctx, rid)
    return ctx.render("approval.html", req=req, may_decide=_may_decide(ctx, req), done=done,
                      lines=[_line(ctx, req, e) for e in req.entries])


@router.post("/approvals/{rid}")
def act(ctx: Decider, rid: RequestId, action: Annotated[Literal["approve", "reject", "comment"], Form()],
        comment: Annotated[str, Form(max_length=4000)] = "") -> Response:
    _visible(ctx, rid)
    if action == "comment":
        approvals.comment(ctx.state.store, rid, author=ctx.principal.name, text=comment)
    else:
        approvals.decide(ctx.state.store, ctx.state.settings, rid, actor=ctx.principal.name, decision=action,
                         comment=comment)
    return RedirectResponse(ctx.url(f"/approvals/{rid}?done={action}"), status_code=303)
