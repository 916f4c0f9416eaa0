"""The service's one DuckDB writer, with group commit.

DuckDB allows one writer per file, so this process holds the only write
connection and every ingestion request goes through one thread. Requests that
arrive while a commit is running are coalesced into the next one: one
``ingest_json_lines`` call — one transaction — stores them all, and each
request is answered only after that commit (durable: DuckDB writes and syncs
its WAL at commit). A commit's cost is nearly all fixed (docs/architecture.md,
"Measured choices"), so throughput grows with concurrency instead of
serialising one commit per batch.

Where the latency tail came from, and what this module does about it
(the 8- and 16-client benchmark, ``bench/results/api.md``):

* **Stragglers split groups.** Taking whatever was queued the moment a commit
  ended gave alternating groups of 7 requests and 1 (the 7 were still being
  parsed), so each request waited two commits. The routes now *announce* a
  request when it arrives (:meth:`IngestWriter.expect`); before committing, the
  writer waits for announced requests still being read and parsed (up to the
  last commit's duration, ``max_linger_s`` at most: leaving one behind would
  cost it a whole commit) and, right after a commit, up to ``linger_s`` for as
  many jobs as that commit answered — the clients it answered tend to send
  again at once. At 8 clients every commit then holds all 8 batches.
* **Groups are capped** at ``max_rows`` events, so one commit never grows
  without bound under a burst and latency stays one or two commits.
* **Checkpoints off the request path.** DuckDB checkpoints inside the commit
  that pushes the WAL past ``checkpoint_threshold`` (16 MB, ~100,000 events):
  that commit took ~180 ms instead of ~90. The writer checkpoints itself when
  it is idle (no request for ``idle_s``) or, under sustained load, between
  commits once the WAL passes ``busy_checkpoint_bytes`` and nothing is waiting;
  DuckDB's own threshold is raised to a backstop. Durability is unchanged: a
  checkpoint only moves what the WAL already holds into the database file.
  The service's checkpoints do not vacuum (DuckDB blocks commits while one runs,
  and merging row groups made it take seconds); compaction is a separate,
  scheduled step (:func:`jingyun.warehouse.optimize.compact`).

Per-record outcomes come back by index: ``rejected`` lines are the ones the
pipeline quarantined under this commit's source; of the rest, the first line
of each key that this commit stored is ``accepted`` and every other one a
``duplicate`` (already stored before, or earlier in the same commit).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from jingyun.ingest import ingest_json_lines, ingest_rows
from jingyun.ingest.pipeline import LineOutcomes
from jingyun.schema.tables import get_table
from jingyun.warehouse import Warehouse
from jingyun.warehouse.claims import NOTHING, Claim, Journal

log = logging.getLogger(__name__)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ is slower (docs/architecture.md, "Measured choices")
class Outcome:
    index: int
    status: str  # accepted | duplicate | rejected
    reason: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.status == "rejected":
            out["reason"] = self.reason
            out["field"] = self.field
        return out


@dataclass
class Job:
    table: str
    items: list[Any]  # parsed JSON values, one per record
    texts: list[str]  # the same records as JSON text (serialised once, by the request thread)
    pre_rejected: dict[int, tuple[str, str | None]]  # index -> (reason, field), e.g. record too large
    origin: str = ""
    future: Future[list[Outcome]] = field(default_factory=Future)
    submitted: float = 0.0  # time.perf_counter() when queued


@dataclass(frozen=True)
class CommitStats:
    """One commit of the writer (or one checkpoint), kept for diagnosis: where a slow answer's time went."""

    started: float  # time.perf_counter()
    jobs: int
    rows: int
    max_wait_ms: float  # longest a job of this group sat in the queue before its commit began
    ingest_ms: float  # the transaction (zero for a checkpoint)
    checkpoint_ms: float  # a checkpoint run by the writer after this commit, or when idle
    wal_bytes: int  # the WAL's size before the checkpoint (or after the commit), -1 without a WAL file


# Tables sent as Arrow string columns instead of JSON lines: the NDJSON reader of
# jingyun.ingest fails on orders (Binder Error: "_extras" not found), the Parquet/Arrow path works.
ARROW_TABLES = frozenset({"orders"})


def _as_arrow(group: list[Job], offsets: list[int]) -> pa.Table:
    """Records as string columns (nested values as JSON text); the pipeline types and validates them."""
    names: dict[str, None] = {}
    picked: list[tuple[int, dict[str, Any]]] = []
    for job, offset in zip(group, offsets, strict=True):
        for i, item in enumerate(job.items):
            if i not in job.pre_rejected and isinstance(item, dict):
                picked.append((offset + i + 1, item))
                names.update(dict.fromkeys(str(k) for k in item))

    def text(v: Any) -> str | None:
        if v is None:
            return None
        if isinstance(v, dict | list | bool):
            return json.dumps(v, ensure_ascii=False)
        return str(v)

    columns = {"_line": pa.array([n for n, _ in picked], pa.int64())}
    for name in names:
        columns[name] = pa.array([text(item.get(name)) for _, item in picked], pa.string())
    return pa.table(columns)


class Arrival:
    """An ingestion request announced to the writer (:meth:`IngestWriter.expect`), settled exactly once:
    by :meth:`take` when its job is queued, or by :meth:`settle` when none will come."""

    def __init__(self, writer: IngestWriter):
        self.writer = writer
        self.pending = True

    def take(self) -> bool:
        """True (once) if the request was announced and its job is being queued now."""
        was, self.pending = self.pending, False
        return was

    def settle(self) -> None:
        if self.take():
            self.writer.forget()


class FairLock:
    """A lock granted in the order it was asked for (a ticket lock).

    ``threading.Lock`` lets the thread that releases it take it straight back: a file ingest running
    through the control channel (one transaction per chunk) then commits chunk after chunk while the
    writer thread, woken but not yet scheduled, finds the lock taken again each time — HTTP requests
    waited 10-50 s behind a 5M-row file instead of one chunk (bench/results/always_on.md). In turn
    order, whoever waits during a chunk goes before the next chunk.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._next = 0  # the next ticket handed out
        self._serving = 0  # the ticket that holds the lock
        self._abandoned: set[int] = set()  # tickets whose waiter was interrupted before its turn
        self._journal = Journal()  # what each holding wrote (warehouse.claims)

    def acquire(self) -> None:
        with self._cv:
            ticket, self._next = self._next, self._next + 1
            try:
                self._cv.wait_for(lambda: self._serving == ticket)
            except BaseException:  # interrupted while waiting: the turn must not be lost
                if self._serving == ticket:
                    self._advance()
                else:
                    self._abandoned.add(ticket)
                raise
            self._journal.opened()

    def note(self, claim: Claim) -> None:
        """The holder says what its write touched (:mod:`jingyun.warehouse.claims`); call with the lock held."""
        with self._cv:
            self._journal.note(claim)

    def settled(self) -> int:
        """The last holding whose writes a transaction begun now will see (every later one is checked)."""
        with self._cv:
            return self._journal.generation - (1 if self._serving < self._next else 0)

    def clashes(self, since: int, claim: Claim) -> bool:
        """Call with the lock held: could ``claim`` be wrong after the holdings since ``since``?"""
        with self._cv:
            return any(claim.clashes(other) for other in self._journal.since(since))

    def release(self) -> None:
        with self._cv:
            self._advance()

    def _advance(self) -> None:
        self._serving += 1
        while self._serving in self._abandoned:
            self._abandoned.discard(self._serving)
            self._serving += 1
        self._cv.notify_all()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class IngestWriter:
    def __init__(self, wh: Warehouse, *, max_rows: int = 8_000, linger_s: float = 0.025, max_linger_s: float = 0.2,
                 idle_s: float = 0.1, busy_checkpoint_bytes: int = 8 << 20, backstop_checkpoint: str = "64MB"):
        self.wh = wh
        self.max_rows = max_rows
        self.linger_s = linger_s
        self.max_linger_s = max_linger_s
        self.idle_s = idle_s
        self.busy_checkpoint_bytes = busy_checkpoint_bytes
        self.lock = FairLock()  # also taken by other writes (quarantine replay, commands' transactions)
        self.stats: collections.deque[CommitStats] = collections.deque(maxlen=2_000)
        queue_lock = threading.RLock()
        self._cv = threading.Condition(queue_lock)
        # bulk writers (commands' chunks) wait here for the queue to empty, see drained()
        self._idle_cv = threading.Condition(queue_lock)
        self._jobs: collections.deque[Job | None] = collections.deque()
        self._preparing = 0  # requests announced by expect() whose job is not queued yet
        self._busy = False  # a group was taken and its commit has not answered yet
        self._dirty = False  # committed since the last checkpoint
        self._wave = 0  # jobs answered by the last commit plus those that queued up while it ran
        self._wave_end = 0.0  # when the last commit answered (time.perf_counter())
        self._last_commit_s = 0.0  # how long the last commit took
        self._wal = self._wal_path()
        if self._wal is not None:
            # DuckDB's automatic checkpoint runs inside a commit, on some request's path: keep it as a
            # backstop only, for load that never leaves the writer a gap (see _checkpoint)
            wh.con.execute(f"SET checkpoint_threshold = '{backstop_checkpoint}'")
            # A checkpoint that vacuums (merges the partly filled row groups each chunk of a file ingest
            # leaves) blocks every commit for seconds; without vacuuming it is short (bench/results/
            # always_on.md). Compaction is left to warehouse.optimize.compact (the scheduled optimize job).
            wh.con.execute("SET max_vacuum_tasks = 0")
        wh.claims_to = self.lock.note  # loads on this warehouse say what they stored (the lock is held then)
        self._thread = threading.Thread(target=self._run, name="jingyun-writer", daemon=True)
        self._thread.start()

    def _wal_path(self) -> str | None:
        rows = self.wh.con.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
        path = rows[0][0] if rows else None
        return f"{path}.wal" if path else None  # None: an in-memory warehouse has no WAL

    def expect(self) -> Arrival:
        """A request has arrived whose job will follow: the writer may wait for it (``max_linger_s`` at most)."""
        with self._cv:
            self._preparing += 1
        return Arrival(self)

    def forget(self) -> None:
        """An announced request ends without a job (refused, or failed before it was queued)."""
        with self._cv:
            self._preparing -= 1
            self._cv.notify()
            self._idle_cv.notify_all()

    def drained(self, timeout: float) -> bool:
        """Wait (up to ``timeout``) until no request is queued or being read. A bulk write (one chunk of a
        command's file ingest) calls it before taking :attr:`lock`: requests already waiting are then
        committed first, even a backlog bigger than one group (``max_rows``), so an HTTP request waits
        behind at most the chunk that was running when it came. Bounded, so a steady stream of requests
        cannot hold the bulk write back for ever."""
        with self._cv:
            return self._idle_cv.wait_for(lambda: not (self._jobs or self._busy) and self._preparing <= 0,
                                          timeout=timeout)

    def submit(self, job: Job, *, expected: bool = False) -> Future[list[Outcome]]:
        """Queue a job; ``expected`` when its request was announced by :meth:`expect`."""
        job.submitted = time.perf_counter()
        with self._cv:
            self._jobs.append(job)
            if expected:
                self._preparing -= 1
            self._cv.notify()
        return job.future

    def close(self) -> None:
        with self._cv:
            self._jobs.append(None)
            self._cv.notify()
        self._thread.join(timeout=30)

    def reader(self) -> Warehouse:
        """A read connection (cursor) on the same database: readers never wait for the writer."""
        return Warehouse(self.wh.con.cursor(), self.wh.settings, read_only=True)

    # -- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            if group:
                try:
                    self._commit(group)
                finally:
                    with self._cv:
                        self._busy = False
                        self._idle_cv.notify_all()
            self._checkpoint(idle=not group)

    def _take(self) -> list[Job] | None:
        """The next group: None to stop, [] after ``idle_s`` without a request (time to checkpoint)."""
        with self._cv:
            while not self._jobs:
                # no timeout when there is nothing to checkpoint: an idle service does not wake up
                idle_s = self.idle_s if self._dirty and self._wal is not None else None
                if self._cv.wait_for(lambda: bool(self._jobs), timeout=idle_s):
                    break
                if self._preparing <= 0:
                    return []
                # idle, but a request is still arriving (a slow upload): no checkpoint in its way
                self._cv.wait_for(lambda: bool(self._jobs) or self._preparing <= 0)
            first = self._jobs.popleft()
            if first is None:
                return None
            group, rows = [first], len(first.items)
            now = time.perf_counter()
            # Right after a commit, the clients it answered are likely to send again at once (a
            # closed loop, or a steady stream): wait up to linger_s for that many jobs, not just the
            # first one back. Requests already announced (being read and parsed while the event loop
            # works through the wave) are worth a longer wait: leaving one behind costs it a whole
            # commit, so wait for them up to the last commit's duration (max_linger_s at most).
            # (a wave is still "just answered" up to max_linger_s later: on a busy machine the first
            # client back can take longer than linger_s; waiting for the rest is bounded by linger_s)
            target = self._wave if now - self._wave_end < self.max_linger_s else 0
            expected_until = now + self.linger_s
            announced_until = now + min(self.max_linger_s, max(self.linger_s, self._last_commit_s))
            while rows < self.max_rows:
                if self._jobs:
                    nxt = self._jobs[0]
                    # another table or source starts the next group; so does a job over the cap
                    if nxt is None or (nxt.table, nxt.origin) != (first.table, first.origin) \
                            or rows + len(nxt.items) > self.max_rows:
                        break
                    self._jobs.popleft()
                    group.append(nxt)
                    rows += len(nxt.items)
                    continue
                now = time.perf_counter()
                if self._preparing > 0 and now < announced_until:
                    self._cv.wait(announced_until - now)
                elif len(group) < target and now < expected_until:
                    self._cv.wait(expected_until - now)
                else:
                    break
            self._busy = True  # until this group's commit has answered (drained() waits for it)
            return group

    def _wal_bytes(self) -> int:
        if self._wal is None:
            return -1
        try:
            return os.path.getsize(self._wal)
        except OSError:  # no WAL file: nothing committed since the last checkpoint
            return 0

    def _checkpoint(self, *, idle: bool) -> None:
        """Fold the WAL into the database file when no request is waiting for the writer.

        Idle (nothing for ``idle_s``): whenever something was committed since the last one. Busy:
        only past ``busy_checkpoint_bytes``, and only if no job is queued or announced, so the
        checkpoint (~50 ms at 8 MB) delays at most the requests that arrive while it runs.
        """
        if not self._dirty or self._wal is None:
            return
        wal = self._wal_bytes()
        if not idle:
            if wal < self.busy_checkpoint_bytes:
                return
            with self._cv:
                if self._jobs or self._preparing > 0:
                    return
        started = time.perf_counter()
        try:
            with self.lock:
                self.lock.note(NOTHING)
                self.wh.con.execute("CHECKPOINT")
        except (duckdb.Error, OSError) as exc:  # e.g. a long reader holds an old snapshot: try again later
            log.warning("checkpoint skipped: %s", exc)
            return
        self._dirty = False
        self.stats.append(CommitStats(started, 0, 0, 0.0, 0.0, (time.perf_counter() - started) * 1000, wal))

    def _commit(self, group: list[Job]) -> None:
        started = time.perf_counter()
        try:
            with self.lock:
                self._dirty = True
                results = self._ingest(group)
        except Exception as exc:  # never leave a request hanging; retry alone so one job cannot sink others
            if len(group) > 1:
                for job in group:
                    self._commit([job])
                return
            group[0].future.set_exception(exc)
            return
        ingest_ms = (time.perf_counter() - started) * 1000
        with self._cv:
            self._wave, self._wave_end = len(group) + len(self._jobs), time.perf_counter()
            self._last_commit_s = ingest_ms / 1000
        self.stats.append(CommitStats(started, len(group), sum(len(j.items) for j in group),
                                      max(started - j.submitted for j in group) * 1000, ingest_ms, 0.0,
                                      self._wal_bytes()))
        for job, outcome in zip(group, results, strict=True):
            job.future.set_result(outcome)

    def _ingest(self, group: list[Job]) -> list[list[Outcome]]:
        table = get_table(group[0].table)
        source = f"api:{table.name}:{group[0].origin + ':' if group[0].origin else ''}{uuid.uuid4().hex}"
        lines: list[tuple[int, str]] = []
        offsets: list[int] = []
        for job in group:
            offsets.append(len(lines))
            for i, text in enumerate(job.texts):
                # a pre-rejected record keeps its line number (indexes stay aligned) but is never sent
                lines.append((len(lines) + 1, "" if i in job.pre_rejected else text))
        sent = [ln for ln in lines if ln[1]]
        # the pipeline reports each line's outcome from its own chunk tables: no scan of the
        # growing events table or quarantine per commit
        seen = LineOutcomes()
        if sent and table.name in ARROW_TABLES:
            ingest_rows(self.wh, table.name, _as_arrow(group, offsets), source=source, outcomes=seen)
        elif sent:
            ingest_json_lines(self.wh, table.name, sent, source=source, outcomes=seen)
        self._quarantine_pre_rejected(group, offsets, source, table.name)
        rejected = dict(seen.rejected)
        for job, offset in zip(group, offsets, strict=True):
            for i, why in job.pre_rejected.items():
                rejected[offset + i + 1] = why
        results: list[list[Outcome]] = []
        for job, offset in zip(group, offsets, strict=True):
            out: list[Outcome] = []
            for i in range(len(job.items)):
                line = offset + i + 1
                if line in rejected:
                    reason, fld = rejected[line]
                    out.append(Outcome(i, "rejected", reason, fld))
                    continue
                if line in seen.stored:  # the first line of its key that this commit stored
                    out.append(Outcome(i, "accepted"))
                else:
                    out.append(Outcome(i, "duplicate"))
            results.append(out)
        return results

    def _quarantine_pre_rejected(self, group: list[Job], offsets: list[int], source: str, table: str) -> None:
        """Records refused before the pipeline (too large) still go to the quarantine, with their payload."""
        rows = []
        for job, offset in zip(group, offsets, strict=True):
            for i, (reason, fld) in job.pre_rejected.items():
                rows.append((table, source, offset + i + 1, reason, fld, job.texts[i]))
        if not rows:
            return
        con = self.wh.con
        for row in rows:  # rare (oversized records): a few rows, so plain statements are fine
            con.execute("INSERT INTO _quarantine (tbl, source, line, reason, field, raw) VALUES (?, ?, ?, ?, ?, ?)", list(row))
