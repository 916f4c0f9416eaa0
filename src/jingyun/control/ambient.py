"""The warehouse a command sees inside the service: a cursor on the service's own database.

``Warehouse.open()`` in a command thread (:func:`ambient_open`) answers a :class:`ServiceWarehouse`:
a DuckDB cursor of the service writer's connection, so reads run beside HTTP ingestion and the
console without waiting. Writes keep the writer's rules: :meth:`ServiceWarehouse.transaction` holds
the writer's lock (``IngestWriter.lock``, the one its group commit and quarantine replay take) for
one transaction, so two ingests never deduplicate against each other's uncommitted rows. A chunk of a
file ingest asks for an *optimistic* transaction: it runs without the lock and takes it only to
commit, after checking the claims of the writes committed meanwhile (:mod:`jingyun.warehouse.claims`);
on a possible clash it raises :class:`~jingyun.warehouse.connection.Contended` and the chunk runs
again under the lock. A file of millions of rows then stalls HTTP ingestion by one chunk's commit. Statements outside a transaction (segment tables, scores) autocommit on their own: DuckDB
appends never conflict.

Cancelling (the client hung up, or the service is stopping) interrupts the command's cursors
(``con.interrupt()``) and makes its next transaction refuse to start: a chunk commits whole or not
at all, and the loop over chunks stops.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

import duckdb

from jingyun.config import Settings
from jingyun.warehouse.claims import Claim
from jingyun.warehouse.connection import Contended, Warehouse

if TYPE_CHECKING:
    from jingyun.api.writer import FairLock, IngestWriter


# how long a command's transaction lets queued HTTP requests go first, at most (a steady stream of
# requests must not hold a file ingest back for ever)
DRAIN_WAIT_S = 1.0


class Cancelled(KeyboardInterrupt):
    """The command was cancelled (Ctrl-C on the client, or the service stopping)."""


class Session:
    """One command running in the service: its cursors, and whether it was cancelled and why."""

    def __init__(self, writer: IngestWriter):
        self.writer = writer
        self.cancelled = threading.Event()
        self.reason = ""
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()

    def open(self, settings: Settings, *, read_only: bool) -> Warehouse:
        self.check()
        cur = self.writer.wh.con.cursor()
        with self._lock:
            self._cursors.append(cur)
        return ServiceWarehouse(cur, settings, self, read_only=read_only)

    def forget(self, cur: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if cur in self._cursors:
                self._cursors.remove(cur)

    def cancel(self, reason: str) -> None:
        if self.cancelled.is_set():
            return
        self.reason = reason
        self.cancelled.set()
        with self._lock:
            cursors = list(self._cursors)
        for cur in cursors:
            with suppress(duckdb.Error):  # already closed
                cur.interrupt()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled(self.reason)

    def close(self) -> None:
        with self._lock:
            cursors, self._cursors = list(self._cursors), []
        for cur in cursors:
            with suppress(duckdb.Error):
                cur.close()


class ServiceWarehouse(Warehouse):
    """A :class:`Warehouse` on a cursor of the service's database (see the module docstring)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, settings: Settings, session: Session, *, read_only: bool):
        # the service created the tables; read_only here skips ensure_tables, the flag is set after
        super().__init__(cur, session.writer.wh.settings, read_only=True)
        self.after_commit = session.writer.wh.after_commit  # file chunks feed the same listeners as HTTP
        self.settings = settings
        self.read_only = read_only
        self.session = session

    def close(self) -> None:
        self.session.forget(self.con)
        with suppress(duckdb.Error):
            self.con.close()  # the cursor, never the service's connection

    @contextmanager
    def transaction(self, *, optimistic: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        self.session.check()
        lock = self.session.writer.lock
        if optimistic:
            with self._optimistic(lock) as con:
                yield con
            return
        # HTTP requests already waiting commit first (up to DRAIN_WAIT_S): with the lock granted in turn
        # order, a request then waits behind at most the one chunk that was running when it came
        self.session.writer.drained(DRAIN_WAIT_S)
        self.session.check()
        with lock:
            self.session.check()
            self.claims_to = lock.note
            try:
                with super().transaction() as con:
                    yield con
            finally:
                self.claims_to = None

    @contextmanager
    def _optimistic(self, lock: FairLock) -> Iterator[duckdb.DuckDBPyConnection]:
        """A load's transaction without the writer's lock; the lock only for the commit, after checking the
        claims of every write committed since it began (:mod:`jingyun.warehouse.claims`)."""
        since = lock.settled()  # read before BEGIN: every write after it is checked
        pending: list[Claim] = []
        self.claims_to = pending.append
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
            self.session.check()
        except BaseException as exc:
            con.execute("ROLLBACK")
            self.claims_to = None
            if isinstance(exc, duckdb.TransactionException):  # DuckDB's own conflict, e.g. on an update
                raise Contended(str(exc)) from exc
            raise
        self.claims_to = None
        mine = pending[0] if len(pending) == 1 else None
        with lock:
            if mine is None or lock.clashes(since, mine):
                con.execute("ROLLBACK")
                raise Contended("a write committed meanwhile may clash: run again under the lock")
            try:
                con.execute("COMMIT")
            except duckdb.TransactionException as exc:  # DuckDB's own conflict (e.g. an update of the same rows)
                with suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise Contended(str(exc)) from exc
            lock.note(mine)


_SESSION: contextvars.ContextVar[Session | None] = contextvars.ContextVar("jingyun_session", default=None)


def current() -> Session | None:
    return _SESSION.get()


def enter(session: Session) -> contextvars.Token[Session | None]:
    return _SESSION.set(session)


def leave(token: contextvars.Token[Session | None]) -> None:
    _SESSION.reset(token)


def ambient_open(settings: Settings, *, read_only: bool) -> Warehouse | None:
    """The command's warehouse when it runs inside the service and names the service's warehouse; else None."""
    session = _SESSION.get()
    if session is None:
        return None
    if settings.warehouse_path.resolve() != session.writer.wh.settings.warehouse_path.resolve():
        return None  # another home: opened directly, as without a service
    return session.open(settings, read_only=read_only)
