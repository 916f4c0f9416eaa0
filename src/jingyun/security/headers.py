"""Security headers on every response: API, console pages, static files, errors and 404s.

The middleware wraps the whole application, outside Starlette's error middleware, so even a 500
carries them. The console needs no inline script: every script is a file under
``/console/static`` (htmx, ECharts, app.js), so ``script-src 'self'`` holds without a nonce or
``unsafe-eval`` (no template uses htmx's evaluated attributes: ``hx-on``, ``hx-vars``, trigger
filters). Styles keep ``'unsafe-inline'``: the templates size charts with ``style="height: …"``
attributes whose values vary, ECharts writes ``style`` attributes into its tooltips, and htmx adds
its indicator ``<style>``; hashes cannot cover values that change, and an injected style cannot
run code. ``Strict-Transport-Security`` goes out only on requests that came over TLS, decided as
for the ``Secure`` cookie (:func:`jingyun.security.config.over_tls`: the ``https`` scheme, or
``X-Forwarded-Proto`` when ``JINGYUN_TRUST_PROXY`` is set): over plain HTTP it would be ignored,
and it would pin a name to HTTPS that may not serve it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jingyun.security.config import ServiceSettings, over_tls

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HSTS = "max-age=31536000; includeSubDomains"

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_NAMES = frozenset(name for name, _ in HEADERS) | {b"strict-transport-security"}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, service: ServiceSettings | None = None):
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ours = list(HEADERS)
        if self._over_tls(scope):
            ours.append((b"strict-transport-security", HSTS.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _NAMES]
                message["headers"] = [*kept, *ours]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _over_tls(self, scope: Scope) -> bool:
        scheme = str(scope.get("scheme", "http"))
        if self.service is None:
            return scheme == "https"
        forwarded = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"x-forwarded-proto"), None)
        return over_tls(self.service, scheme, forwarded)
