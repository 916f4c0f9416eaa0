"""The warehouse: a DuckDB file under ``JINGYUN_HOME``.

DuckDB allows one writer per file, so writes go through one process at a time
(``jingyun ingest`` or the service); readers may open it read-only. Sessions
always run in UTC: timestamps are stored as UTC ``TIMESTAMP`` values and
analyses convert to the workspace time zone explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError
from jingyun.schema.tables import TABLES, Table
from jingyun.warehouse.claims import Claim

# Scores every model writes back and segments read as model tags: the capabilities meet here.
MODEL_SCORES_DDL = """CREATE TABLE IF NOT EXISTS model_scores (
  person_id VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  score_name VARCHAR NOT NULL,
  value DOUBLE,
  scored_at TIMESTAMP
)"""

INTERNAL_DDL = (
    "CREATE SEQUENCE IF NOT EXISTS _quarantine_seq START 1",
    """CREATE TABLE IF NOT EXISTS _quarantine (
        qid BIGINT DEFAULT nextval('_quarantine_seq'),
        tbl VARCHAR NOT NULL,
        source VARCHAR,
        line BIGINT,
        reason VARCHAR NOT NULL,
        field VARCHAR,
        raw VARCHAR,
        mapping VARCHAR,
        status VARCHAR DEFAULT 'open',
        received_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'),
        replayed_at TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS identities (
        id_type VARCHAR NOT NULL,
        id_value VARCHAR NOT NULL,
        person_id VARCHAR NOT NULL,
        updated_at TIMESTAMP
    )""",
    MODEL_SCORES_DDL,
    """CREATE TABLE IF NOT EXISTS _ingest_log (
        tbl VARCHAR, source VARCHAR, received BIGINT, stored BIGINT, duplicates BIGINT,
        quarantined BIGINT, started_at TIMESTAMP, finished_at TIMESTAMP
    )""",
)


def table_ddl(table: Table) -> str:
    cols = ",\n  ".join(f'"{c.name}" {c.sql_type}' for c in table.columns)
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n  {cols}\n)"


class Warehouse:
    """A connection to the warehouse with the canonical tables in place."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, read_only: bool = False):
        self.con = con
        self.settings = settings
        self.read_only = read_only
        # where a load says what it stored (warehouse.claims): the service writer's lock, else nowhere
        self.claims_to: Callable[[Claim], None] | None = None
        # called after a load's transaction commits, with the table and the rows it stored (read back
        # by the insert itself): the live automation runtime's feed; a service shares one list
        self.after_commit: list[Callable[[str, pa.Table], None]] = []
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{settings.memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")  # our own progress bars speak for long work
        from jingyun.warehouse.personal import register_functions

        register_functions(con, settings)  # personal_birth_date(): exact ages over sealed birth dates
        if not read_only:
            self.ensure_tables()

    @classmethod
    def open(
        cls, settings: Settings | None = None, *, read_only: bool = False, memory: bool = False
    ) -> Warehouse:
        settings = settings or load_settings()
        if memory:
            return cls(duckdb.connect(":memory:"), settings)
        from jingyun.control.ambient import ambient_open

        # inside the service, a command's warehouse is a cursor on the service's database
        # (one owner per home: another process could not open the file at all)
        ambient = ambient_open(settings, read_only=read_only)
        if ambient is not None:
            return ambient
        path = settings.warehouse_path
        if read_only and not path.exists():
            raise JingyunError(
                "no_warehouse", f"no warehouse at {path}; ingest data or run `jingyun demo` first", "home"
            )
        from jingyun.security.files import private_dir, private_home

        private_home(settings.home)
        private_dir(path.parent)
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            raise JingyunError("warehouse_busy", f"cannot open {path}: {exc}", "home", status=503) from None
        return cls(con, settings, read_only=read_only)

    def ensure_tables(self) -> None:
        for table in TABLES.values():
            self.con.execute(table_ddl(table))
        # a warehouse made by an older version gains the columns added since (NULL in its old rows)
        have = {(t, c) for t, c in self.con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main'").fetchall()}
        for table in TABLES.values():
            for column in table.columns:
                if (table.name, column.name) not in have:
                    self.con.execute(f'ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS "{column.name}" {column.sql_type}')
        for ddl in INTERNAL_DDL:
            self.con.execute(ddl)
        from jingyun.warehouse.personal import ensure_columns

        ensure_columns(self.con)  # users' sealed columns, added to warehouses created before them

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries ---------------------------------------------------------
    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        # fetchall, not fetchone: DuckDB 2 refuses new work while a result is unfinished
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        # a relation, not a DB-API result: DuckDB 2 warns (on stderr) that the latter copies the rows again
        return self.con.sql(sql, params=list(params) if params else None).to_arrow_table()

    def count(self, table: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table}"))

    @contextmanager
    def transaction(self, *, optimistic: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction. ``optimistic``: the body is a load that calls :meth:`claim` before the end, and
        may run without the service writer's lock (see :class:`jingyun.control.ambient.ServiceWarehouse`;
        it may then raise :class:`Contended`, and the caller runs it again without ``optimistic``). Here,
        with one process owning the file, both are the same plain transaction."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def listening(self, table: str) -> bool:
        """Does any :attr:`after_commit` listener want the rows a load commits into ``table``? (A listener
        with a ``wants(table)`` method is asked; one without always wants them.)"""
        for listener in self.after_commit:
            wants = getattr(getattr(listener, "__self__", None), "wants", None)
            if wants is None or wants(table):
                return True
        return False

    def committed(self, table: str, rows: pa.Table) -> None:
        """A load committed ``rows`` into ``table``: tell every :attr:`after_commit` listener (one that
        fails is logged and never fails the load, which is already durable)."""
        for listener in list(self.after_commit):
            try:
                listener(table, rows)
            except Exception:
                logging.getLogger(__name__).exception("after_commit listener failed on %s", table)

    def claim(self, claim: Claim) -> None:
        """What the current transaction's load stores (called inside it, before its end)."""
        if self.claims_to is not None:
            self.claims_to(claim)


class Contended(Exception):
    """An optimistic transaction was rolled back: a write committed meanwhile could clash with it."""


def open_warehouse(home: str | Path | None = None, *, read_only: bool = False) -> Warehouse:
    return Warehouse.open(load_settings(home), read_only=read_only)
