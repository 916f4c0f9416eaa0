"""Per-request console context: who is signed in, the locale, templates, a warehouse reader.

Sign-in reuses the service's session cookie (``jingyun_session``) and
:func:`jingyun.api.deps.identify`, so the console and ``/api/v1`` accept the
same sessions and the browser can call the API with the cookie it already has.
Page access is expressed in the service's own permissions (no new roles).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from jingyun import localtime
from jingyun.api.deps import ServiceState, get_state, identify
from jingyun.security.roles import Principal
from jingyun.warehouse import Warehouse
from jingyun.web import enums, i18n

PREFIX = "/console"
LANG_COOKIE = "jy_lang"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# {{ stored_time|localtime(ctx.timezone) }}: 2026-10-01 09:00:00+08:00 (jingyun.localtime, the one conversion)
TEMPLATES.env.filters["localtime"] = lambda value, tz: localtime.local_text(value, tz) or "—"
TEMPLATES.env.filters["enum"] = enums.jinja_filter  # {{ user.gender|enum('gender') }}: 女 / Female (web/enums.py)


@dataclass(frozen=True)
class NavItem:
    key: str  # catalog key of the label
    path: str
    permission: str


# A specialist sees the cockpit, users and dashboards; analyses need analysis:run,
# the quarantine (raw payloads with personal data) is admin only.
#
# One line per page, grouped see · act · manage. A capability adds its page with one NavItem in its group:
# the label key (``nav.<capability>``) lives in the capability's own catalog (i18n/<capability>.<locale>.json),
# the path is its console route, the permission the one its page checks with ``page_ctx`` (so the link shows
# exactly to those the page admits).
NAV: tuple[NavItem, ...] = (
    # see
    NavItem("nav.cockpit", "/", "authenticated"),
    NavItem("nav.analyses", "/analyses", "analysis:run"),
    NavItem("nav.users", "/users", "segments:view"),
    NavItem("nav.experiments", "/experiments", "analysis:run"),
    NavItem("nav.quality", "/quality", "analysis:run"),
    # act
    NavItem("nav.messages", "/messages", "messages:view"),
    NavItem("nav.journeys", "/journeys", "journeys:view"),
    NavItem("nav.coupons", "/coupons", "coupons:view"),
    # manage
    NavItem("nav.approvals", "/approvals", "approvals:decide"),
    NavItem("nav.incidents", "/incidents", "incidents:view"),
    NavItem("nav.alerts", "/alerts", "alerts:view"),
    NavItem("nav.budgets", "/budgets", "budgets:view"),
    NavItem("nav.pricing", "/pricing", "pricing:view"),
    # administer, and your own dashboards
    NavItem("nav.admin", "/admin", "users:manage"),
    NavItem("nav.jobs", "/jobs", "jobs:view"),
    NavItem("nav.dashboards", "/dashboards", "authenticated"),
)


class NotSignedIn(Exception):
    """Raised by :func:`console_ctx` without a session; answered with a redirect to the login page."""


class Forbidden(Exception):
    def __init__(self, permission: str):
        self.permission = permission


@dataclass
class ConsoleCtx:
    request: Request
    state: ServiceState
    principal: Principal
    locale: i18n.Locale
    _readers: list[Warehouse] = field(default_factory=list)

    def t(self, key: str, /, **values: object) -> str:
        return i18n.translate(self.locale, key, **values)

    def may(self, permission: str) -> bool:
        return self.principal.may(permission)

    def require(self, permission: str) -> None:
        if not self.may(permission):
            raise Forbidden(permission)

    @property
    def timezone(self) -> str:
        return self.state.settings.timezone

    @contextmanager
    def reader(self) -> Iterator[Warehouse]:
        wh = self.state.writer.reader()
        try:
            yield wh
        finally:
            wh.close()

    def nav(self) -> list[NavItem]:
        return [n for n in NAV if self.may(n.permission)]

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(self.request, template, {"ctx": self, "t": self.t, **values},
                                          status_code=status_code)

    def url(self, path: str) -> str:
        return PREFIX + path


def request_locale(request: Request) -> i18n.Locale:
    return i18n.parse_locale(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


def console_ctx(request: Request) -> ConsoleCtx:
    """The dependency every signed-in page uses."""
    state = get_state(request)
    principal = identify(state, request)
    if principal is None or principal.kind == "api_key":
        raise NotSignedIn
    return ConsoleCtx(request, state, principal, request_locale(request))


def page_ctx(permission: str) -> Any:
    def dependency(request: Request) -> ConsoleCtx:
        ctx = console_ctx(request)
        ctx.require(permission)
        return ctx

    return dependency


def not_signed_in(request: Request) -> Response:
    target = PREFIX + "/login"
    if request.headers.get("hx-request"):
        # HTMX follows HX-Redirect with a full page load instead of swapping a login form into a panel
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def forbidden(request: Request, exc: Forbidden) -> Response:
    locale = request_locale(request)
    text = i18n.translate(locale, "error.forbidden")
    return HTMLResponse(f"<p class=\"error\" role=\"alert\">{text}</p>", status_code=403)


def today_local(ctx: ConsoleCtx) -> dt.date:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(ctx.timezone)).date()
