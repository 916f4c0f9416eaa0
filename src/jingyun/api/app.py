"""The FastAPI application: ``create_app(settings)``.

The process opens the metadata store and holds the one DuckDB write
connection (see :mod:`jingyun.api.writer`). Pure-ASGI middlewares run before
routing. Outermost, around even Starlette's 500 handler: request ids
(``X-Request-ID`` echoed when it is a sane token, generated otherwise) and the
security headers (:mod:`jingyun.security.headers`). Then the ingestion arrival
notice and the body rules of :mod:`jingyun.api.bodies` (size cap while reading,
gzip, one strict JSON parser).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jingyun import __version__
from jingyun.api import errors
from jingyun.api.bodies import MAX_BODY, BodyMiddleware
from jingyun.api.deps import ServiceState
from jingyun.api.ratelimit import RateLimiter
from jingyun.config import Settings
from jingyun.localtime import ZoneMiddleware
from jingyun.security.audit import Auditor
from jingyun.security.config import ServiceSettings, load_service_settings
from jingyun.security.headers import SecurityHeadersMiddleware
from jingyun.store import Store, open_store

__all__ = ["MAX_BODY", "JingyunAPI", "app_state", "close_state", "create_app"]
_RID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _RID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message["headers"] = [*headers, (b"x-request-id", rid.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


INGEST_PATHS = frozenset({"/api/v1/events/batch", "/api/v1/orders/batch", "/api/v1/user/sync"})


class IngestArrivalMiddleware:
    """Announces each ingestion request to the writer the moment it arrives.

    The writer then waits briefly for requests already on their way (being read, authenticated
    and parsed) instead of committing the first one alone and the rest one commit later — which
    doubled the latency of most requests under concurrent load. The route marks the arrival
    settled when it queues its job (or knows it will not); this middleware settles it otherwise.
    """

    def __init__(self, app: ASGIApp, state: ServiceState):
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in INGEST_PATHS:
            await self.app(scope, receive, send)
            return
        arrival = self.state.writer.expect()
        scope.setdefault("state", {})["ingest_arrival"] = arrival
        try:
            await self.app(scope, receive, send)
        finally:
            arrival.settle()


class JingyunAPI(FastAPI):
    """FastAPI with request ids and security headers outside everything, 500s included.

    ``add_middleware`` places a middleware inside Starlette's ``ServerErrorMiddleware``, whose
    500 answer would then go out without them.
    """

    def build_middleware_stack(self) -> ASGIApp:
        state = getattr(self.state, "jingyun", None)
        service = state.service if state is not None else None
        return RequestIdMiddleware(SecurityHeadersMiddleware(super().build_middleware_stack(), service))


def create_app(settings: Settings, service: ServiceSettings | None = None, store: Store | None = None,
               *, warehouse_memory: bool = False) -> FastAPI:
    """The service for one workspace. Opens the store (migrated) and the warehouse writer now."""
    from jingyun.api.writer import IngestWriter
    from jingyun.warehouse import Warehouse

    service = service or load_service_settings(settings)
    store = store or open_store(settings)
    wh = Warehouse.open(settings, memory=warehouse_memory)
    state = ServiceState(
        settings=settings, service=service, store=store, auditor=Auditor(store, service, settings.timezone),
        writer=IngestWriter(wh), ingest_limiter=RateLimiter(service.ingest_rate, service.ingest_rate * 2),
        login_limiter=RateLimiter(service.login_rate_per_minute / 60.0, service.login_rate_per_minute),
    )

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        from jingyun.ops.service import ServiceScheduler

        # the scheduler runs inside the service: due jobs of schedule.yaml (none without one)
        scheduler = app_.state.scheduler = ServiceScheduler(settings, store, writer=state.writer)
        scheduler.start()
        from jingyun.web.warm import start_warming

        # the console's default views recomputed after ingests, in one background thread (console_warm)
        warmer = app_.state.warmer = start_warming(state, app_)
        yield
        if warmer is not None:
            warmer.stop()
        scheduler.stop()
        app_.state.scheduler = None
        close_state(state)

    app = JingyunAPI(
        title="Jingyun API 精运接口", version=__version__, lifespan=lifespan,
        description="Ingestion, analyses, profiles and administration. 数据接入、分析、用户画像与管理。",
        responses=errors.ERROR_RESPONSES,
    )
    app.state.jingyun = state
    app.state.scheduler = None  # a ServiceScheduler while the lifespan runs (jingyun serve)
    app.state.warmer = None  # a web.warm.Warmer while the lifespan runs, when the console is mounted
    errors.install(app)
    from jingyun.api.routers import all_routers

    for router in all_routers():
        app.include_router(router)
    # the last added runs first: the arrival is announced before the body is read
    app.add_middleware(BodyMiddleware, parse_later=INGEST_PATHS)
    app.add_middleware(IngestArrivalMiddleware, state=state)
    app.add_middleware(ZoneMiddleware, timezone=settings.timezone)  # times in responses: jingyun.localtime
    return app


def close_state(state: ServiceState) -> None:
    state.writer.close()
    state.writer.wh.close()
    state.store.close()


def app_state(app: Any) -> ServiceState:
    return app.state.jingyun
