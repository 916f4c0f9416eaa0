"""Ordinary mistakes as console pages (错误页): a bad date, a start after the end, an unknown segment, a page
the role may not open. The API answers them as JSON; a person in the console gets a page in their language
saying what went wrong, which field, and a way back — or, for an HTMX request, the same as a fragment.

Pages opt in with ``APIRouter(route_class=ConsoleRoute)``: the route's handler (dependencies included, so the
permission check of ``page_ctx`` too) is wrapped, and only :class:`JingyunError` (4xx), :class:`Forbidden` and
request validation errors are turned into pages; a signed-out browser still goes to the login page.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from jingyun.errors import JingyunError
from jingyun.web import i18n
from jingyun.web.context import PREFIX, Forbidden, console_ctx

# Where "back" leads from a page whose own query was at fault: the page a detail view hangs off.
PARENTS = {PREFIX + "/users/segment": PREFIX + "/users", PREFIX + "/users/profile": PREFIX + "/users"}


def _label(locale: i18n.Locale, key: str, fallback: str) -> str:
    text = i18n.translate(locale, key)
    return fallback if text == key else text


def error_response(request: Request, status: int, code: str, message: str, field: str | None) -> Response:
    """The error as a page (or fragment) in the caller's language; the library's own text stays as a detail."""
    ctx = console_ctx(request)  # signed out: NotSignedIn, answered by the login redirect
    value = request.query_params.get(field or "", "") if field else ""
    what = i18n.translate(ctx.locale, "error.code." + code, value=value, field=field or "")
    if what == "error.code." + code:
        what = i18n.translate(ctx.locale, "error.generic")
    field_label = _label(ctx.locale, "field." + field, field) if field else ""
    path = request.url.path
    back = PARENTS.get(path, path) if status != 403 else PREFIX + "/"
    values = {"status": status, "code": code, "what": what, "field": field or "", "field_label": field_label,
              "detail": message, "back": back}
    template = "parts/error.html" if request.headers.get("hx-request") else "error.html"
    return ctx.render(template, status_code=status, err=values)


class ConsoleRoute(APIRoute):
    """A console route whose ordinary failures are pages, never raw JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Forbidden as exc:
                return error_response(request, 403, "forbidden", f"needs the {exc.permission} permission", None)
            except JingyunError as exc:
                if not 400 <= exc.status < 500:
                    raise
                return error_response(request, exc.status, exc.code, exc.message, exc.field)
            except RequestValidationError as exc:
                first = (exc.errors() or [{}])[0]
                loc = [str(x) for x in first.get("loc", ()) if x not in ("query", "body", "path")]
                return error_response(request, 422, "bad_input", str(first.get("msg", "invalid input")),
                                      ".".join(loc) or None)

        return handler
