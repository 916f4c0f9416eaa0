"""Approvals over HTTP (审批): submit, the two inboxes (mine to decide, mine submitted), one request with its
chain and timeline, approve/reject/comment/withdraw, delegation, private attachments, the route preview, SLA
statistics and the organisation (import and chart).

Who may see a request: its requester, the people on its chain (approver, assignee, decider), a live delegate
of someone it waits for, and holders of ``approvals:manage``. Everyone else gets the same 404 as for a
request that does not exist, so ids cannot be probed. The caller acts as the organisation person of the same
username (``jingyun org import``). Amounts are exact decimal text; times carry the workspace offset.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from jingyun import approvals
from jingyun.api.deps import PagingDep, ServiceState, StateDep, deny_object, not_found, permit
from jingyun.approvals import org
from jingyun.approvals.engine import MAX_ATTACHMENT, ApprovalRequest
from jingyun.errors import JingyunError
from jingyun.localtime import LocalTime
from jingyun.security.roles import Principal

router = APIRouter(prefix="/api/v1", tags=["approvals 审批"])
Submitter = Annotated[Principal, Depends(permit("approvals:submit"))]
Decider = Annotated[Principal, Depends(permit("approvals:decide"))]
Manager = Annotated[Principal, Depends(permit("approvals:manage"))]
OrgAdmin = Annotated[Principal, Depends(permit("org:manage"))]
RequestId = Annotated[int, Path(ge=1, le=2**62, description="Request id 审批单号")]
TypeQ = Annotated[str, Query(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_\-]+$", description="Request type 类型")]
AMOUNT = r"^\d{1,13}(\.\d{1,2})?$"


# -- shapes ------------------------------------------------------------------------------------
class ApprovalStepOut(BaseModel):
    id: int | None
    stage: int
    position: str
    approver: str | None
    assignee: str | None
    status: str
    activated_at: LocalTime | None
    decided_at: LocalTime | None
    decided_by: str | None
    escalations: int
    timed_out: bool


class ApprovalEntryOut(BaseModel):
    ts: LocalTime
    author: str
    kind: str
    text: str
    step_id: int | None


class ApprovalAttachmentOut(BaseModel):
    id: int
    filename: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: LocalTime


class ApprovalOut(BaseModel):
    id: int
    type: str
    amount: str = Field(description="Exact yuan, two decimals 金额（元）")
    title: str
    payload: dict[str, Any]
    requester: str
    status: str
    tier: int = Field(description="The amount tier, 1 = the lowest 金额档位")
    created_at: LocalTime
    decided_at: LocalTime | None
    pending_with: list[str]
    steps: list[ApprovalStepOut]
    timeline: list[ApprovalEntryOut]
    attachments: list[ApprovalAttachmentOut]


class ApprovalPage(BaseModel):
    items: list[ApprovalOut]
    total: int
    limit: int
    offset: int


class ApprovalSubmitIn(BaseModel):
    type: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_\-]+$")
    amount: str = Field(pattern=AMOUNT, description="Yuan as text with at most two decimals (floats are refused)")
    title: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict)


class ApprovalDecisionIn(BaseModel):
    comment: str = Field(default="", max_length=4000)


class ApprovalCommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ApprovalCommentOut(BaseModel):
    ts: LocalTime
    author: str
    kind: str
    text: str


class ApprovalDelegationIn(BaseModel):
    delegate: str = Field(min_length=1, max_length=100)
    until: dt.datetime = Field(description="End (exclusive); a time without an offset is read in the workspace zone")
    starts: dt.datetime | None = Field(default=None, description="Start; now when left out")
    type: str | None = Field(default=None, max_length=50)
    delegator: str | None = Field(default=None, max_length=100,
                                  description="Whose approvals move (admins only; yourself when left out)")


class ApprovalDelegationOut(BaseModel):
    id: int
    delegator: str
    delegate: str
    type: str | None
    starts_at: LocalTime
    ends_at: LocalTime


class ApprovalRouteStepOut(BaseModel):
    stage: int
    position: str
    approver: str | None


class ApprovalRouteOut(BaseModel):
    type: str
    amount: str
    steps: list[ApprovalRouteStepOut]


class ApprovalSlaRowOut(BaseModel):
    key: str
    steps: int
    decided: int
    timed_out: int
    avg_hours: float | None
    timeout_rate: float | None


class ApprovalSlaOut(BaseModel):
    overall: ApprovalSlaRowOut
    by_type: list[ApprovalSlaRowOut]
    by_approver: list[ApprovalSlaRowOut]


class OrgPersonOut(BaseModel):
    username: str
    display_name: str
    role: str
    title: str
    departments: list[str]
    superior: str | None


class OrgRowErrorOut(BaseModel):
    row: int
    field: str
    message: str


class OrgImportOut(BaseModel):
    received: int
    created: int
    updated: int
    errors: list[OrgRowErrorOut]


# -- helpers -----------------------------------------------------------------------------------
def request_out(r: ApprovalRequest) -> ApprovalOut:
    return ApprovalOut(
        id=r.id, type=r.type, amount=f"{r.amount:.2f}", title=r.title, payload=r.payload, requester=r.requester,
        status=r.status, tier=r.tier + 1, created_at=r.created_at, decided_at=r.decided_at,
        pending_with=r.pending_with, steps=[ApprovalStepOut(**s.to_dict()) for s in r.steps],
        timeline=[ApprovalEntryOut(ts=e.ts, author=e.author, kind=e.kind, text=e.text, step_id=e.step_id) for e in r.entries],
        attachments=[ApprovalAttachmentOut(**a.__dict__) for a in r.attachments])


def visible(state: ServiceState, request: Request, who: Principal, request_id: int) -> ApprovalRequest:
    """The request if the caller takes part in it (or manages approvals); else the uniform 404."""
    try:
        req = approvals.get(state.store, request_id)
    except JingyunError as exc:
        if exc.status == 404:
            raise not_found("approval request", "id") from None
        raise
    if who.may("approvals:manage") or approvals.visible_to(state.store, req, who.name):
        return req
    raise deny_object(state, request, who, "approval request", "id")


def _local(value: dt.datetime, tz: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz))


# -- routes ------------------------------------------------------------------------------------
@router.get("/approvals/route", summary="The chain a request of this type and amount would follow 审批路径预览",
            response_model=ApprovalRouteOut)
def preview_route(state: StateDep, who: Submitter, type: TypeQ,
                  amount: Annotated[str, Query(pattern=AMOUNT, description="Yuan 金额")]) -> ApprovalRouteOut:
    steps = approvals.route(state.store, type, Decimal(amount), settings=state.settings, requester=who.name)
    return ApprovalRouteOut(type=type, amount=f"{Decimal(amount):.2f}",
                    steps=[ApprovalRouteStepOut(stage=s.stage, position=s.position, approver=s.approver) for s in steps])


@router.post("/approvals", summary="Submit a request as yourself 提交审批", status_code=201, response_model=ApprovalOut)
def submit(state: StateDep, who: Submitter, body: ApprovalSubmitIn) -> ApprovalOut:
    req = approvals.submit(state.store, state.settings, type=body.type, amount=Decimal(body.amount), title=body.title,
                           payload=body.payload, requester=who.name)
    return request_out(req)


@router.get("/approvals", summary="Mine to decide, mine submitted, or all (managers of approvals) 审批列表",
            response_model=ApprovalPage)
def list_requests(state: StateDep, who: Decider, page: PagingDep,
                  box: Annotated[Literal["to_decide", "submitted", "all"], Query()] = "to_decide",
                  status: Annotated[Literal["pending", "approved", "rejected", "withdrawn"] | None, Query()] = None,
                  type: Annotated[str | None, Query(max_length=50)] = None) -> ApprovalPage:
    if box == "all" and not who.may("approvals:manage"):
        raise JingyunError("forbidden", "box=all lists everyone's requests: ask an admin, or use to_decide or "
                           "submitted", "box", status=403)
    items, total = approvals.list_requests(state.store, person=who.name, box=box, status=status, type=type,
                                           limit=min(page.limit, 500), offset=page.offset)
    return ApprovalPage(items=[request_out(r) for r in items], total=total, limit=page.limit, offset=page.offset)


@router.get("/approvals/sla", summary="Average decision hours and timeout rate per type and approver 审批时效",
            response_model=ApprovalSlaOut)
def sla(state: StateDep, _: Manager, type: Annotated[str | None, Query(max_length=50)] = None,
        since: Annotated[dt.datetime | None, Query()] = None,
        until: Annotated[dt.datetime | None, Query()] = None) -> ApprovalSlaOut:
    def utc(v: dt.datetime | None) -> dt.datetime | None:
        return None if v is None else _local(v, state.settings.timezone).astimezone(dt.UTC).replace(tzinfo=None)

    stats = approvals.sla_stats(state.store, since=utc(since), until=utc(until), type=type)
    return ApprovalSlaOut.model_validate(stats.to_dict())


@router.get("/approvals/{request_id}", summary="One request: chain, timeline, attachments 审批详情",
            response_model=ApprovalOut)
def show(request: Request, state: StateDep, who: Decider, request_id: RequestId) -> ApprovalOut:
    return request_out(visible(state, request, who, request_id))


def _decide(request: Request, state: ServiceState, who: Principal, request_id: int, decision: Literal["approve", "reject"],
            comment: str) -> ApprovalOut:
    visible(state, request, who, request_id)
    return request_out(approvals.decide(state.store, state.settings, request_id, actor=who.name, decision=decision,
                                        comment=comment))


@router.post("/approvals/{request_id}/approve", summary="Approve your waiting steps (yours or delegated) 同意",
             response_model=ApprovalOut)
def approve(request: Request, state: StateDep, who: Decider, request_id: RequestId,
            body: Annotated[ApprovalDecisionIn | None, Body()] = None) -> ApprovalOut:
    return _decide(request, state, who, request_id, "approve", body.comment if body else "")


@router.post("/approvals/{request_id}/reject", summary="Reject: the whole request is rejected 驳回",
             response_model=ApprovalOut)
def reject(request: Request, state: StateDep, who: Decider, request_id: RequestId,
           body: Annotated[ApprovalDecisionIn | None, Body()] = None) -> ApprovalOut:
    return _decide(request, state, who, request_id, "reject", body.comment if body else "")


@router.post("/approvals/{request_id}/comments", summary="Comment on the timeline 评论", status_code=201,
             response_model=ApprovalCommentOut)
def comment(request: Request, state: StateDep, who: Decider, request_id: RequestId, body: ApprovalCommentIn) -> ApprovalCommentOut:
    visible(state, request, who, request_id)
    e = approvals.comment(state.store, request_id, author=who.name, text=body.text)
    return ApprovalCommentOut(ts=e.ts, author=e.author, kind=e.kind, text=e.text)


@router.post("/approvals/{request_id}/withdraw", summary="Withdraw your own pending request 撤回",
             response_model=ApprovalOut)
def withdraw(request: Request, state: StateDep, who: Submitter, request_id: RequestId) -> ApprovalOut:
    visible(state, request, who, request_id)
    return request_out(approvals.withdraw(state.store, request_id, actor=who.name))


@router.post("/approvals/{request_id}/attachments", summary="Attach a file (kept privately, read back through the "
             "request) 上传附件", status_code=201, response_model=ApprovalAttachmentOut)
def upload(request: Request, state: StateDep, who: Decider, request_id: RequestId,
                 file: Annotated[UploadFile, File(description="The file; the API body cap applies (about 1 MB), "
                                                             "larger files through `jingyun approval`")]) -> ApprovalAttachmentOut:
    visible(state, request, who, request_id)
    data = file.file.read(MAX_ATTACHMENT + 1)
    a = approvals.attach(state.store, state.settings, request_id, filename=file.filename or "", data=data,
                         uploaded_by=who.name)
    return ApprovalAttachmentOut(**a.__dict__)


@router.get("/approvals/{request_id}/attachments/{attachment_id}", summary="Download an attachment 下载附件",
            response_class=Response, responses={200: {"content": {"application/octet-stream": {}}}})
def download(request: Request, state: StateDep, who: Decider, request_id: RequestId,
             attachment_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    visible(state, request, who, request_id)
    try:
        name, data = approvals.read_attachment(state.store, state.settings, request_id, attachment_id)
    except JingyunError as exc:
        if exc.status == 404:
            raise not_found("attachment", "attachment_id") from None
        raise
    from urllib.parse import quote

    return Response(data, media_type="application/octet-stream", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


@router.post("/approvals/delegations", summary="Let someone decide for you in a period 委托审批", status_code=201,
             response_model=ApprovalDelegationOut)
def delegate(state: StateDep, who: Decider, body: ApprovalDelegationIn) -> ApprovalDelegationOut:
    delegator = body.delegator or who.name
    if delegator != who.name and not who.may("approvals:manage"):
        raise JingyunError("forbidden", "you delegate your own approvals; leave delegator out", "delegator", status=403)
    tz = state.settings.timezone
    starts = _local(body.starts, tz) if body.starts else dt.datetime.now(dt.UTC)
    d = approvals.delegate(state.store, delegator=delegator, delegate=body.delegate, starts_at=starts,
                           ends_at=_local(body.until, tz), type=body.type, settings=state.settings, actor=who.name)
    return ApprovalDelegationOut(**d.__dict__)


@router.delete("/approvals/delegations/{delegation_id}", summary="Revoke your delegation 撤销委托", status_code=204,
               response_class=Response)
def revoke(state: StateDep, who: Decider, delegation_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    try:
        approvals.revoke_delegation(state.store, delegation_id, actor=who.name)
    except JingyunError as exc:
        if exc.status in (403, 404):  # someone else's delegation reads like a missing one
            raise not_found("delegation", "delegation_id") from None
        raise
    return Response(status_code=204)


@router.get("/org", summary="The organisation chart 组织架构", response_model=list[OrgPersonOut])
def org_chart(state: StateDep, _: OrgAdmin) -> list[OrgPersonOut]:
    return [OrgPersonOut(**p.to_dict()) for p in org.org_chart(state.store)]


@router.post("/org/import", summary="Import people, positions and superiors from CSV 导入组织架构",
             response_model=OrgImportOut)
def org_import(state: StateDep, _: OrgAdmin,
               body: Annotated[str, Body(media_type="text/csv", max_length=1_000_000)]) -> OrgImportOut:
    rep = org.import_csv(state.store, state.settings, body)
    return OrgImportOut(received=rep.received, created=rep.created, updated=rep.updated,
                        errors=[OrgRowErrorOut(**e.__dict__) for e in rep.errors])
