"""Messages in the console (消息): the delivery log, masked by role; and the public one-click
unsubscribe page that every marketing email links to (GET asks in the person's language, POST
applies — RFC 8058 mail clients POST ``List-Unsubscribe=One-Click`` to the same URL).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from jingyun.api.deps import get_state
from jingyun.automation import deliveries
from jingyun.errors import JingyunError
from jingyun.localtime import local_text
from jingyun.messaging import core, links
from jingyun.messaging.views import delivery_dict
from jingyun.web import i18n
from jingyun.web.context import TEMPLATES, ConsoleCtx, page_ctx

router = APIRouter()
Viewer = Annotated[ConsoleCtx, Depends(page_ctx("messages:view"))]
PAGE = 50
Token = Annotated[str, Path(min_length=10, max_length=2000)]


@router.get("/messages", response_class=HTMLResponse)
def messages_page(ctx: Viewer, page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                  status: Annotated[str, Query(pattern="^(|queued|sending|sent|failed|suppressed|dead|unknown)$")] = "",
                  channel: Annotated[str, Query(pattern="^(|email|webhook|sms|push|wechat|inbox)$")] = "",
                  journey: Annotated[str, Query(pattern="^(|[a-z][a-z0-9_-]{0,63})$")] = "") -> HTMLResponse:
    result = deliveries.log(ctx.state.store, journey=journey or None, status=status or None, channel=channel or None,
                            limit=PAGE, offset=(page - 1) * PAGE)
    salt = None if ctx.principal.sees_raw else ctx.state.service.mask_salt
    rows = []
    for r in result.items:
        d = delivery_dict(r, ctx.timezone, salt)
        rows.append({**d, **{k: local_text(d[k], ctx.timezone) if d[k] else "" for k in ("created_at", "sent_at", "opened_at", "clicked_at")}})
    return ctx.render("messages.html", rows=rows, total=result.total, page=page, pages=max(1, -(-result.total // PAGE)),
                      status=status, channel=channel, journey=journey, statuses=core.STATUSES, channels=core.CHANNELS,
                      masked=salt is not None)


def _unsub_page(request: Request, token: str, *, done: bool) -> HTMLResponse:
    state = get_state(request)
    try:
        data = links.verify(state.settings, "unsub", token)
    except JingyunError:
        data = None
    locale = i18n.parse_locale(str(data["l"]) if data else request.query_params.get("lang"))

    def t(key: str, /, **values: object) -> str:
        return i18n.translate(locale, key, **values)

    if data is None:
        return TEMPLATES.TemplateResponse(request, "messages_unsubscribe.html",
                                          {"t": t, "locale": locale, "state": "invalid", "action": ""}, status_code=404)
    if done:
        core.unsubscribe(state.store, state.settings, token)
    return TEMPLATES.TemplateResponse(request, "messages_unsubscribe.html", {
        "t": t, "locale": locale, "state": "done" if done else "ask", "action": request.url.path,
        "channel": t(f"messages.channel.{data['c']}")}, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_ask(request: Request, token: Token) -> HTMLResponse:
    return _unsub_page(request, token, done=False)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_apply(request: Request, token: Token) -> HTMLResponse:
    return _unsub_page(request, token, done=True)
