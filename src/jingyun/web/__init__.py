"""The web console (运营控制台): server-rendered pages (Jinja2 + HTMX), ECharts served
from the package (no CDN), Chinese by default with an English switch.

``mount(app, settings)`` adds everything under ``/console`` to the service's
FastAPI app; sign-in shares the service's session cookie.
"""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from jingyun.config import Settings
from jingyun.web.context import PREFIX, Forbidden, NotSignedIn, forbidden, not_signed_in

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI, settings: Settings) -> None:
    """Add the console's routes, static files and error pages to ``app`` (``settings``: the same workspace)."""
    from jingyun.web.routes import all_routers

    del settings  # the routes read the service state's settings; kept in the signature for the wiring
    for router in all_routers():
        app.include_router(router, prefix=PREFIX, include_in_schema=False)
    app.mount(PREFIX + "/static", StaticFiles(directory=str(STATIC)), name="console-static")

    @app.exception_handler(NotSignedIn)
    async def _login(request: Request, _: NotSignedIn) -> Response:
        return not_signed_in(request)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return forbidden(request, exc)

    @app.get(PREFIX, include_in_schema=False)
    def _console_root() -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=307)

    # Everything imported so far (FastAPI, DuckDB, pandas, the catalogs…) lives as long as the
    # process: move it out of the collector's way, so a full collection inside a request does not
    # walk the long-lived objects (docs/architecture.md, "Measured choices").
    gc.collect()
    gc.freeze()
