"""One module per engine; analysis code never branches on the engine.

:func:`open_backend` is the one way the edges (API, console, CLI, tour) get an
engine: the settings name it (``engine = duckdb | spark``), and nothing else
constructs a backend. Use it as a context manager, or call ``close()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self

import pyarrow as pa

from jingyun.errors import JingyunError

if TYPE_CHECKING:
    from jingyun.config import Settings
    from jingyun.warehouse.connection import Warehouse


class Backend(Protocol):
    name: str

    def run(self, sql: str) -> pa.Table:
        """Run a portable query and return its rows as Arrow."""
        ...


class Engine(Backend, Protocol):
    """A backend the caller owns: close it, or use it in a ``with`` block."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class EngineBase:
    """What every backend shares: ``close()`` and the context-manager protocol."""

    name: str

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


ENGINES = ("duckdb", "spark")


def open_backend(settings: Settings, *, engine: str | None = None, warehouse: Warehouse | None = None,
                 read_only: bool = True, lake: Path | None = None) -> Engine:
    """The engine the settings name (or ``engine``), ready to run portable SQL; close it when done.

    DuckDB reads the warehouse through :meth:`Warehouse.open` — inside the service that is the
    service's own cursor (the control channel), so nothing opens a second writer — unless the
    caller already holds one (``warehouse=``: the service's reader), which is then borrowed,
    not closed. Spark reads the Parquet lake (``lake=``, default ``settings.lake_path``).
    """
    chosen = engine or settings.engine
    if chosen == "duckdb":
        from jingyun.warehouse.backends.duckdb import DuckDBBackend
        from jingyun.warehouse.connection import Warehouse

        if warehouse is not None:
            return DuckDBBackend(warehouse, owned=False)
        return DuckDBBackend(Warehouse.open(settings, read_only=read_only), owned=True)
    if chosen == "spark":
        from jingyun.warehouse.backends.spark import SparkBackend

        return SparkBackend(lake or settings.lake_path)
    raise JingyunError("bad_engine", f"engine must be one of {', '.join(ENGINES)}, not {chosen!r}", "engine")
