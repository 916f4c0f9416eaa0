"""``jingyun serve``: the REST API on uvicorn. 启动服务。"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError

if TYPE_CHECKING:
    from fastapi import FastAPI


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. 监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port. 端口")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level. 日志级别")] = "warning",
) -> None:
    """Run the API (one process: it holds the warehouse writer). 启动接口服务(单进程,持有仓库写连接)。

    While it runs, it owns the home: other `jingyun` commands on this home run through it, over
    the control socket $JINGYUN_HOME/run/control.sock (see `jingyun status`).

    Example: jingyun serve --host 127.0.0.1 --port 8000
    """
    import uvicorn

    check_listen(host, port)
    settings = load_settings()
    check_owner(settings)
    app = service_app(settings)
    own_home(app, f"{host}:{port}")
    _tune_gc()
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1, access_log=False)


def check_listen(host: str, port: int) -> None:
    """Refuse a port out of range or already taken, before any start-up work, in one line
    (uvicorn would print a traceback). Another process could still take it in between."""
    import socket

    if not 1 <= port <= 65535:
        raise JingyunError("bad_port", f"port must be between 1 and 65535, got {port}", "port")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise JingyunError("bad_host", f"cannot resolve host {host!r}: {exc.strerror}", "host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise JingyunError("port_unavailable", f"cannot listen on {host}:{port}: {exc.strerror}", "port") from None


def check_owner(settings: Settings) -> None:
    """Refuse, in one line, a home that a live service already owns (DuckDB would say "lock")."""
    from jingyun.control.owner import live_owner

    found = live_owner(settings.home.resolve())
    if found is not None:
        owner, sock = found
        sock.close()
        raise JingyunError("service_running", f"a service already owns {settings.home} (pid {owner.pid}, "
                           f"http {owner.http}); see `jingyun status`", "home", status=409)


def own_home(app: FastAPI, http: str) -> None:
    """While the app runs, its control channel takes commands for the home (see jingyun.control):
    started after the app's start-up, stopped before its shutdown closes the writer."""
    from contextlib import asynccontextmanager

    from jingyun.api.app import app_state
    from jingyun.control.server import ControlServer

    control = ControlServer(app_state(app).writer, http=http)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            control.start()
            try:
                yield state
            finally:
                control.stop()

    app.router.lifespan_context = lifespan


def _tune_gc() -> None:
    """Fewer, shorter garbage collections in the server (docs/architecture.md, "Measured choices").

    Everything loaded at start-up (FastAPI, pydantic, SQLAlchemy, DuckDB, the routes) lives as
    long as the process: frozen, full collections no longer walk it, in whichever thread (the event
    loop or the writer) happened to allocate. A 500-event request
    allocates thousands of short-lived containers, so the default gen-0 threshold of 700 ran a
    collection every few hundred records; at 20,000 a few remain.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def service_app(settings: Settings) -> FastAPI:
    """The REST API with the web console mounted under /console."""
    from jingyun.api import create_app
    from jingyun.web import mount

    app = create_app(settings)
    mount(app, settings)
    return app


def register(app: typer.Typer) -> None:
    app.command(name="serve")(serve)
