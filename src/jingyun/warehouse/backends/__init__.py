"""One module per engine; analysis code never branches on the engine.

:func:`open_backend` is the one way the edges (API, console, CLI, tour) get an
engine: the settings name it (``engine = duckdb | spark``), and nothing else
constructs a backend. Use it as a context manager, or call ``close()``.

Capabilities (analysis, metrics, segments, models, experiments) read through
``engine.run(sql)`` (and the ``rows``/``scalar``/``has_table`` helpers built on it) and
never touch a DuckDB connection. What an engine cannot do is declared in :data:`GAPS`
(``(capability, engine) -> reason``, Ibis-style): :func:`require` refuses it with that
reason, :func:`writer` hands out the warehouse of record only where writing is possible,
and the shared engine suite (tests/conftest.py) reads the same registry to mark the gap.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeAlias

import pyarrow as pa

from jingyun.errors import JingyunError

if TYPE_CHECKING:
    from jingyun.config import Settings
    from jingyun.warehouse.connection import Warehouse

# -- declared gaps -------------------------------------------------------------------------------
# (capability, engine) -> why it does not run there. Nothing falls back silently: a capability
# listed here raises ``engine_gap`` naming the reason (or, for an accelerator, is not used).
GAPS: dict[tuple[str, str], str] = {
    ("warehouse_writes", "spark"): (
        "Spark reads the Parquet lake, a read-only export of the DuckDB warehouse: segment membership, tags, "
        "model scores and exposures are written to the warehouse of record; run them with engine=duckdb, "
        "then `jingyun export-lake`"),
    ("derived_tables", "spark"): (
        "user_tags, model_scores, segment_members and identities are written by Jingyun into the DuckDB "
        "warehouse and are not part of the lake export (jingyun export-lake writes the canonical tables only)"),
    ("personal_reveal", "spark"): (
        "sealed personal columns are decrypted from the DuckDB warehouse (warehouse.personal); the lake "
        "holds ciphertext and the Spark backend has no decryption yet (docs/security.md)"),
    ("person_orders_summary", "spark"): (
        "an accelerator, not a result: the summary's freshness stamp reads DuckDB's rowid, so on Spark RFM "
        "and audiences group the orders table (same numbers)"),
}


def gap(capability: str, engine: str) -> str | None:
    """Why ``capability`` does not run on ``engine``, or None when it does."""
    return GAPS.get((capability, engine))


def require(engine: Backend, capability: str) -> None:
    """Refuse a declared gap with its reason (``engine_gap``, HTTP 501)."""
    reason = gap(capability, engine.name)
    if reason is not None:
        raise JingyunError("engine_gap", f"{capability} does not run on the {engine.name} engine: {reason}",
                           "engine", status=501)


def writer(engine: Backend, capability: str = "warehouse_writes") -> Warehouse:
    """The warehouse of record behind ``engine``, for a capability that writes to it.

    Only the DuckDB engine has one; any other engine refuses with the declared reason. This is the
    one place a capability may reach a DuckDB warehouse, and only to write (or to run a function
    the registry says is DuckDB-only).
    """
    require(engine, capability)
    warehouse: Warehouse | None = getattr(engine, "warehouse", None)
    if warehouse is None:  # an engine the registry does not know yet: a bug, not a fallback
        raise JingyunError("engine_gap", f"{capability} has no declared support on the {engine.name} engine",
                           "engine", status=501)
    return warehouse


class Backend(Protocol):
    name: str

    @property
    def settings(self) -> Settings:
        """The workspace settings the engine reads for (time zone, definitions)."""
        ...

    def run(self, sql: str) -> pa.Table:
        """Run a portable query and return its rows as Arrow."""
        ...


class Engine(Backend, Protocol):
    """A backend the caller owns: close it, or use it in a ``with`` block."""

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def scalar(self, sql: str) -> Any: ...

    def has_table(self, name: str) -> bool: ...

    def interrupt(self) -> None: ...

    def summary_usable(self, as_of: dt.datetime) -> bool: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


def table_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Arrow rows as tuples, by position (a result may repeat a column name)."""
    return list(zip(*(c.to_pylist() for c in table.columns), strict=True))


class EngineBase:
    """What every backend shares: row helpers over ``run``, ``close()`` and the context-manager protocol."""

    name: str
    settings: Settings

    def run(self, sql: str) -> pa.Table:  # pragma: no cover - overridden
        raise NotImplementedError

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return table_rows(self.run(sql))

    def scalar(self, sql: str) -> Any:
        table = self.run(sql)
        return table.column(0)[0].as_py() if table.num_rows else None

    def has_table(self, name: str) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def interrupt(self) -> None:
        """Cancel the queries running on this engine (a refresh past its timeout)."""

    def summary_usable(self, as_of: dt.datetime) -> bool:
        """Whether the per-person order summary answers all-time order questions up to ``as_of``
        (an accelerator; :data:`GAPS` names the engines without it)."""
        return False

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

        return SparkBackend(lake or settings.lake_path, settings=settings)
    raise JingyunError("bad_engine", f"engine must be one of {', '.join(ENGINES)}, not {chosen!r}", "engine")


Source: TypeAlias = "Engine | Warehouse"
"""What a capability accepts: an engine, or a warehouse the caller holds (read as the DuckDB engine)."""


def engine_of(source: Engine | Warehouse) -> Engine:
    """The engine to read through: an engine as given, or a warehouse the caller holds borrowed as the
    DuckDB engine (through :func:`open_backend`, not closed by it). Capabilities call this first, so
    callers that hold a warehouse keep working while every query goes through the seam."""
    from jingyun.warehouse.connection import Warehouse

    if isinstance(source, Warehouse):
        return open_backend(source.settings, engine="duckdb", warehouse=source)
    return source
