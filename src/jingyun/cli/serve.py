"""``jingyun serve``: the REST API on uvicorn. 启动服务。"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from jingyun.config import Settings, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. 监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port. 端口")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level. 日志级别")] = "warning",
) -> None:
    """Run the API (one process: it holds the warehouse writer). 启动接口服务(单进程,持有仓库写连接)。

    Example: jingyun serve --host 127.0.0.1 --port 8000
    """
    import uvicorn

    app = service_app(load_settings())
    _tune_gc()
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1, access_log=False)


def _tune_gc() -> None:
    """Fewer, shorter garbage collections in the server (measured on the ingestion benchmark).

    Everything loaded at start-up (FastAPI, pydantic, SQLAlchemy, DuckDB, the routes) lives as
    long as the process: frozen, full collections no longer walk it — they took 4-20 ms each,
    in whichever thread (the event loop or the writer) happened to allocate. A 500-event request
    allocates thousands of short-lived containers, so the default gen-0 threshold of 700 ran a
    collection every few hundred records (~500 per 100,000 events); at 20,000 a few remain.
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
