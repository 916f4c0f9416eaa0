"""Cache warming: the console's default views recomputed in the background after new data arrives.

The cockpit and the funnel page keep their results per data version (:mod:`jingyun.web.datacache`, the
scorecard and alerts caches of :mod:`jingyun.web.routes.cockpit`); an ingest changes the version, so the
first view after it paid for the whole computation (1.9 s p95 for the cockpit on the 50,000-user demo,
bench/results/console.md). Inside the service a :class:`Warmer` hears of every commit into ``events`` or
``orders`` (HTTP group commits and file chunks alike: it is an ``after_commit`` listener of the writer's
warehouse) and, in ONE background thread, runs the default views through the very panel functions the
pages call — each KPI card, the GMV trend, the scorecard and the alerts of the cockpit's default range and
filters, and the funnel page's chart, drop-off list and breakdown.
Single flight in the data cache means a page asking while the warm-up computes the same KPI card or
funnel waits for it instead of computing it twice.

Bounded:

* debounced: it starts ``quiet_s`` after the last commit it heard of, at most once per ``min_interval_s``
  (30 s), and never while a command that committed (a file ingest, one chunk at a time) still runs —
  after its last chunk;
* ``console_warm = false`` turns it off;
* it only reads (cursors of the writer's database, like a page), never takes the writer's lock;
* its thread runs at a lower CPU priority (``nice`` + 10, Linux: per thread; DuckDB's own worker threads
  keep theirs), one view at a time, and stops between views when the service stops;
* a failure is logged, never raised; the page then computes on its first view as before.

A commit the listener cannot hear of (a ``users`` load, which hands no rows to listeners) is found by
reading the data version every ``poll_s``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from jingyun.web import datacache

if TYPE_CHECKING:
    from jingyun.api.deps import ServiceState
    from jingyun.warehouse import Warehouse
    from jingyun.web.context import ConsoleCtx

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 30.0  # at most one warm-up per this many seconds
QUIET_S = 2.0  # after the last commit heard of: HTTP ingestion comes in bursts of group commits
POLL_S = 15.0  # read the data version this often (commits that hand no rows to listeners)
NICE = 10


@dataclass
class WarmRun:
    """One warm-up: the data version it computed for, its views and how long it took."""

    version: str
    began: float = 0.0  # time.monotonic() when it started
    views: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)


class Warmer:
    """Recomputes the console's default views after commits (see the module docstring)."""

    def __init__(self, state: ServiceState, *, min_interval_s: float = MIN_INTERVAL_S, quiet_s: float = QUIET_S,
                 poll_s: float = POLL_S):
        self.state = state
        self.min_interval_s = min_interval_s
        self.quiet_s = quiet_s
        self.poll_s = poll_s
        self.runs: list[WarmRun] = []  # the last few, for diagnosis and the bench
        self.version: str | None = None  # the data version last warmed (or found at start)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._heard = 0.0  # time.monotonic() of the last commit heard of
        self._started = float("-inf")  # time.monotonic() when the last warm-up began
        self._commands: list[threading.Thread] = []  # command threads that committed (file ingests)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cursors: list[Any] = []

    # -- hearing of commits (Warehouse.after_commit) --------------------------------------------------
    def attach(self, wh: Warehouse) -> None:
        if self.on_commit not in wh.after_commit:
            wh.after_commit.append(self.on_commit)

    def detach(self, wh: Warehouse) -> None:
        if self.on_commit in wh.after_commit:
            wh.after_commit.remove(self.on_commit)

    def wants(self, table: str) -> bool:
        """Asked by a load before it inserts into ``events``/``orders``: noted as a commit on its way. The rows
        themselves are never needed (False: no load reads back what it stored for this listener)."""
        self._hear()
        return False

    def on_commit(self, table: str, rows: pa.Table) -> None:
        """A load committed (called when another listener asked for the rows): noted, never work here."""
        self._hear()

    def _hear(self) -> None:
        from jingyun.control import ambient

        with self._lock:
            self._heard = time.monotonic()
            if ambient.current() is not None:  # a command's load (a file ingest): warm after it ends
                me = threading.current_thread()
                if me not in self._commands:
                    self._commands.append(me)
        self._wake.set()

    # -- the thread -----------------------------------------------------------------------------------
    def start(self) -> None:
        with contextlib.suppress(Exception):  # a warehouse without a version yet: the first commit sets one
            self.version = self._read_version()
        self.attach(self.state.writer.wh)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="jingyun-console-warm", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.detach(self.state.writer.wh)
        self._stop.set()
        self._wake.set()
        with self._lock:
            cursors = list(self._cursors)
        for cur in cursors:  # a view being computed stops now, not at its end
            with contextlib.suppress(Exception):
                cur.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, version: str | None = None, timeout: float = 30.0) -> WarmRun | None:
        """Wait until a warm-up for ``version`` (any new one when None) has finished; the run, or None."""
        deadline = time.monotonic() + timeout
        seen = len(self.runs)
        with self._done:
            while True:
                runs = self.runs[seen:] if version is None else [r for r in self.runs if r.version == version]
                if runs:
                    return runs[-1]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._done.wait(left)

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: a thread's own nice value
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stop.is_set() or not self._due():
                continue
            try:
                version = self._read_version()
            except Exception:
                log.exception("console warm-up: could not read the data version")
                continue
            if version == self.version:
                continue
            self._started = time.monotonic()
            run = self.warm(version)
            if run is not None:
                self.version = version
                with self._done:
                    self.runs = [*self.runs[-19:], run]
                    self._done.notify_all()

    def _due(self) -> bool:
        """Wait until the warm-up may start: no command that committed still runs, ``quiet_s`` since the
        last commit heard of and ``min_interval_s`` since the last warm-up. False: the service is stopping."""
        while not self._stop.is_set():
            with self._lock:
                self._commands = [t for t in self._commands if t.is_alive()]
                busy = bool(self._commands)
                wait = max(self._heard + self.quiet_s, self._started + self.min_interval_s) - time.monotonic()
            if busy:
                wait = max(wait, 0.5)
            if wait <= 0:
                return True
            self._stop.wait(min(wait, 1.0))
        return False

    def _read_version(self) -> str:
        wh = self.state.writer.reader()
        try:
            return datacache.data_version(wh)
        finally:
            wh.close()

    # -- the views ------------------------------------------------------------------------------------
    def warm(self, version: str) -> WarmRun | None:
        """Compute every default view once (each through its page's own cached function); None if stopped."""
        run = WarmRun(version, time.monotonic())
        began = time.perf_counter()
        ctx = self._ctx()
        for name, view in default_views(ctx):
            if self._stop.is_set():
                return None
            try:
                view()
                run.views.append(name)
            except Exception:
                if self._stop.is_set():
                    return None
                run.failed.append(name)
                log.exception("console warm-up: %s failed (the page computes it on its first view)", name)
        run.seconds = round(time.perf_counter() - began, 3)
        log.info("console warm-up for data version %s: %d views in %.2f s%s", version, len(run.views), run.seconds,
                 f", {len(run.failed)} failed" if run.failed else "")
        return run

    def _ctx(self) -> ConsoleCtx:
        from starlette.requests import Request

        from jingyun.security.roles import Principal
        from jingyun.web.context import ConsoleCtx

        warmer = self

        class WarmCtx(ConsoleCtx):
            @contextmanager
            def reader(self) -> Iterator[Warehouse]:
                wh = self.state.writer.reader()
                with warmer._lock:
                    warmer._cursors.append(wh.con)
                try:
                    yield wh
                finally:
                    with warmer._lock:
                        warmer._cursors.remove(wh.con)
                    wh.close()

        request = Request({"type": "http", "method": "GET", "path": "/console/", "query_string": b"", "headers": []})
        # the results are the library's, kept before any per-viewer masking: who asks does not change them
        return WarmCtx(request, self.state, Principal("console-warm", "analyst", "session"), "zh-CN")


View = tuple[str, Callable[[], Any]]


def default_views(ctx: ConsoleCtx) -> list[View]:
    """What the cockpit (``/console/``) and the funnel page (``/console/analyses``) ask for with no query
    string, as their templates write the panel requests: the same functions, the same parameters."""
    from jingyun.analysis import FunnelParams
    from jingyun.web.filters import parse_filters
    from jingyun.web.metrics_view import targets
    from jingyun.web.routes import analyses, cockpit

    views: list[View] = []
    for t in targets(ctx.state.settings).targets:
        views.append((f"kpi:{t.id}", functools.partial(cockpit.kpi_card, ctx, {"id": t.id})))
    views += [("trend", lambda: cockpit.trend(ctx, {"metric": "gmv"})),  # the page's default metric
              ("scorecard", lambda: cockpit.scorecard_panel(ctx, {})),
              ("alerts", lambda: cockpit.alerts(ctx, {}))]
    funnel = {"steps": analyses.DEFAULT_STEPS, "window": "24h"}

    def drop_off() -> Any:  # web/routes/drill.py funnel_drill: the same run as the drop-off list under the chart
        f = parse_filters(ctx, funnel)
        p = FunnelParams.create(analyses.funnel_steps(funnel), funnel["window"], f.date_from, f.date_to,
                                timezone=ctx.timezone)
        return analyses._run_funnel(ctx, p, compare=False, ttc=False)

    views += [("funnel", lambda: analyses.funnel(ctx, funnel)),
              ("funnel_drop_off", drop_off),
              ("funnel_breakdown", lambda: analyses.funnel_breakdown(ctx, {**funnel, "by": "platform"}))]
    return views


def start_warming(state: ServiceState, app: Any) -> Warmer | None:
    """The service's warmer, started; None when ``console_warm`` is off or the app has no console."""
    if not state.settings.console_warm:
        return None
    if not any(str(getattr(r, "path", "")).startswith("/console") for r in getattr(app, "routes", ())):
        return None  # an API-only app: nobody views these pages
    warmer = Warmer(state, min_interval_s=MIN_INTERVAL_S, quiet_s=QUIET_S, poll_s=POLL_S)
    warmer.start()
    return warmer
