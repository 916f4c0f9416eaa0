"""Messages over HTTP (消息): the delivery log (masked by role), dead letters and replay, test sends,
template preview, webhook endpoints, consent; plus the public open-pixel and click-redirect links
(signed tokens, no sign-in, nothing about the person in the answer)."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from jingyun.api.deps import PagingDep, StateDep, not_found, permit, request_id
from jingyun.errors import JingyunError
from jingyun.localtime import LocalTime
from jingyun.messaging import consent, core, endpoints, templates
from jingyun.messaging.views import delivery_dict
from jingyun.security.roles import Principal
from jingyun.store.messages import MessageDelivery

router = APIRouter(tags=["messages 消息"])
Viewer = Annotated[Principal, Depends(permit("messages:view"))]
Sender = Annotated[Principal, Depends(permit("messages:send"))]
ConsentWriter = Annotated[Principal, Depends(permit("consent:write"))]
Admin = Annotated[Principal, Depends(permit("users:manage"))]
Public = Annotated[None, Depends(permit("public"))]
PREFIX = "/api/v1/messages"
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
         b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


class DeliveryOut(BaseModel):
    """One delivery; for masked roles ``recipient`` is a pseudonym and personal text in ``subject`` is masked."""

    id: int
    key: str
    channel: str
    recipient: str
    user_id: str | None
    purpose: str
    locale: str
    subject: str
    status: str
    reason: str
    attempts: int
    next_attempt_at: LocalTime | None
    created_at: LocalTime | None
    sent_at: LocalTime | None
    opened_at: LocalTime | None
    clicked_at: LocalTime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int


class SendIn(BaseModel):
    channel: Literal["email", "webhook", "sms", "push", "wechat", "inbox"]
    to: str = Field(min_length=1, max_length=320)
    template: str | None = Field(default=None, max_length=100)
    user_id: str | None = Field(default=None, max_length=200)
    subject: str = Field(default="", max_length=500)
    text: str = Field(default="", max_length=100_000)
    html: str | None = Field(default=None, max_length=500_000)
    purpose: Literal["marketing", "service", "alert"] = "service"
    locale: Literal["zh-CN", "en"] = "zh-CN"
    key: str = Field(default="", max_length=200)
    coupon_code: str | None = Field(default=None, max_length=100)


class SentOut(BaseModel):
    id: int
    key: str
    channel: str
    status: str
    reason: str
    attempts: int


class ReplayIn(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(default=None, max_length=10_000)


class PreviewIn(BaseModel):
    template: str = Field(min_length=1, max_length=100)
    locale: Literal["zh-CN", "en"] = "zh-CN"


class PreviewOut(BaseModel):
    subject: str
    text: str
    html: str | None


class EndpointIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["webhook", "sms", "push", "wechat"] = "webhook"
    url: str = Field(min_length=1, max_length=1000)
    payload: str | None = Field(default=None, max_length=20_000)
    idempotent: bool = True


class EndpointOut(BaseModel):
    id: int
    name: str
    kind: str
    url: str
    payload: str
    idempotent: bool
    active: bool
    secret: str | None = Field(default=None, description="The signing secret: returned once, when the endpoint is added")


class ConsentIn(BaseModel):
    purpose: Literal["marketing", "analytics", "personalisation"]
    channel: Literal["*", "email", "webhook", "sms", "push", "wechat", "inbox"] = "*"
    granted: bool


class ConsentOut(BaseModel):
    subject: str
    purpose: str
    channel: str
    granted: bool
    source: str
    updated_at: LocalTime


class ImportOut(BaseModel):
    recorded: int


def _salt(state: Any, principal: Principal) -> bytes | None:
    return None if principal.sees_raw else state.service.mask_salt


@router.get(PREFIX + "/deliveries", summary="The delivery log, newest first", response_model=DeliveryPage)
def list_deliveries(state: StateDep, principal: Viewer, page: PagingDep,
                    status: Annotated[str | None, Query(pattern="^(queued|sending|sent|failed|suppressed|dead|unknown)$")] = None,
                    channel: Annotated[str | None, Query(pattern="^(email|webhook|sms|push|wechat|inbox)$")] = None,
                    user_id: Annotated[str | None, Query(max_length=200)] = None) -> DeliveryPage:
    result = core.log(state.store, status=status, channel=channel, user_id=user_id, limit=min(page.limit, 500),
                      offset=page.offset)
    salt = _salt(state, principal)
    items = [DeliveryOut(**delivery_dict(r, state.settings.timezone, salt)) for r in result.items]
    return DeliveryPage(items=items, total=result.total, limit=page.limit, offset=page.offset)


@router.get(PREFIX + "/deliveries/{delivery_id}", summary="One delivery", response_model=DeliveryOut)
def get_delivery(state: StateDep, principal: Viewer, delivery_id: Annotated[int, Path(ge=1, le=2**62)]) -> DeliveryOut:
    with state.store.session() as ses:
        row = ses.get(MessageDelivery, delivery_id)
        if row is None:
            raise not_found("delivery", "delivery_id")
        return DeliveryOut(**delivery_dict(row, state.settings.timezone, _salt(state, principal)))


@router.get(PREFIX + "/dead-letters", summary="Deliveries that gave up (dead letters)", response_model=DeliveryPage)
def dead_letters(state: StateDep, principal: Viewer, page: PagingDep) -> DeliveryPage:
    return list_deliveries(state, principal, page, status="dead")


@router.post(PREFIX + "/dead-letters/replay", summary="Send dead letters again (all, or the given ids)",
             response_model=list[SentOut])
def replay_dead(request: Request, state: StateDep, principal: Sender, body: ReplayIn) -> list[dict[str, Any]]:
    done = core.replay(state.store, state.settings, body.ids)
    state.auditor.log(actor=principal.name, role=principal.role, action="replay", target="message-dead-letters",
                      detail={"count": len(done)}, request_id=request_id(request))
    return [_sent(d) for d in done]


@router.post(PREFIX + "/retry", summary="Run the retry worker now (due retries, interrupted sends)")
def retry(state: StateDep, _: Sender) -> dict[str, int]:
    return core.retry_due(state.store, state.settings)


def _sent(d: core.Delivery) -> dict[str, Any]:
    return {"id": d.id, "key": d.key, "channel": d.channel, "status": d.status, "reason": d.reason, "attempts": d.attempts}


@router.post(PREFIX + "/send", summary="Send one message (a template with a person's data, or given text)",
             response_model=SentOut)
def send(request: Request, state: StateDep, principal: Sender, body: SendIn) -> dict[str, Any]:
    message = build_message(state.store, state.settings, body.model_dump(), reader=state.writer.reader)
    d = core.deliver(state.store, state.settings, message, actor=principal.name)
    return _sent(d)


def build_message(store: Any, settings: Any, spec: dict[str, Any], *, reader: Any = None) -> core.Message:
    """A Message from a send request: render ``template`` with the person's data when given."""
    subject, text, html = spec.get("subject") or "", spec.get("text") or "", spec.get("html")
    if spec.get("template"):
        tpl = templates.get(store, spec["template"], spec.get("locale") or "zh-CN")
        ctx: dict[str, Any] = {}
        if spec.get("user_id") and reader is not None:
            wh = reader()
            try:
                ctx = templates.person_context(wh, spec["user_id"])
            finally:
                wh.close()
        if spec.get("coupon_code"):
            ctx["coupon_code"] = spec["coupon_code"]
        out = templates.render(tpl, ctx)
        subject, text, html = out.subject, out.text, out.html
    if not text:
        raise JingyunError("empty_message", "give a template or a text", "text")
    return core.Message(spec["channel"], spec["to"], subject, text, html, purpose=spec.get("purpose") or "service",
                        key=spec.get("key") or "", user_id=spec.get("user_id"), locale=spec.get("locale") or "zh-CN")


@router.get(PREFIX + "/templates", summary="Template names (shipped and the workspace's)")
def list_templates(state: StateDep, _: Viewer) -> list[str]:
    return templates.names(state.store)


@router.post(PREFIX + "/templates/preview", summary="Render a template with a sample person", response_model=PreviewOut)
def preview(state: StateDep, principal: Viewer, body: PreviewIn) -> dict[str, Any]:
    out = templates.preview(templates.get(state.store, body.template, body.locale), mask_salt=_salt(state, principal))
    return {"subject": out.subject, "text": out.text, "html": out.html}


@router.get(PREFIX + "/endpoints", summary="Webhook endpoints and provider adapters", response_model=list[EndpointOut])
def list_endpoints(state: StateDep, _: Admin) -> list[dict[str, Any]]:
    return [e.__dict__ for e in endpoints.listing(state.store)]


@router.post(PREFIX + "/endpoints", summary="Add or replace an endpoint; the signing secret is returned once",
             response_model=EndpointOut)
def add_endpoint(request: Request, state: StateDep, principal: Admin, body: EndpointIn) -> dict[str, Any]:
    ep, secret = endpoints.add(state.store, state.settings, name=body.name, kind=body.kind, url=body.url,
                               payload=body.payload, idempotent=body.idempotent, actor=principal.name)
    return {**ep.__dict__, "secret": secret}


@router.put("/api/v1/consent/{user_id}", summary="Record consent of a person for a purpose (and channel)",
            response_model=ConsentOut)
def put_consent(request: Request, state: StateDep, principal: ConsentWriter,
                user_id: Annotated[str, Path(min_length=1, max_length=200)], body: ConsentIn) -> dict[str, Any]:
    rec = consent.record(state.store, user_id, purpose=body.purpose, channel=body.channel, granted=body.granted,
                         source="api", actor=principal.name)
    return rec.__dict__


@router.get("/api/v1/consent/{user_id}", summary="A person's consent records", response_model=list[ConsentOut])
def get_consent(state: StateDep, _: ConsentWriter, user_id: Annotated[str, Path(min_length=1, max_length=200)]) -> list[dict[str, Any]]:
    return [r.__dict__ for r in consent.of(state.store, user_id)]


@router.post("/api/v1/consent/import", summary="Record consent from CSV (user_id,purpose,channel,granted)",
             response_model=ImportOut)
def import_consent(request: Request, state: StateDep, principal: ConsentWriter,
                   body: Annotated[str, Body(media_type="text/csv", max_length=50_000_000)]) -> dict[str, int]:
    n = consent.import_csv(state.store, body, actor=principal.name)
    return {"recorded": n}


@router.get(PREFIX + "/t/open/{token}.gif", summary="Open pixel (public, signed)", include_in_schema=False)
def open_pixel(state: StateDep, _: Public, token: Annotated[str, Path(max_length=2000)]) -> Response:
    with contextlib.suppress(JingyunError):  # a bad token still gets the pixel: nothing to learn from the answer
        core.track(state.store, state.settings, "open", token)
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


@router.get(PREFIX + "/t/click/{token}", summary="Click redirect (public, signed)", include_in_schema=False)
def click(state: StateDep, _: Public, token: Annotated[str, Path(max_length=4000)]) -> Response:
    target = core.track(state.store, state.settings, "click", token)  # a bad token: 404, never a redirect
    return RedirectResponse(str(target), status_code=302, headers={"Cache-Control": "no-store"})


