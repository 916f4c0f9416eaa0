"""The service's one DuckDB writer, with group commit.

DuckDB allows one writer per file, so this process holds the only write
connection and every ingestion request goes through one thread. Requests that
arrive while a commit is running are coalesced into the next one (up to
``max_rows``): one ``ingest_json_lines`` call — one transaction — stores them
all, and each request is answered only after that commit. Throughput grows
with concurrency instead of serialising ~50 ms per 500-event batch.

Per-record outcomes come back by index: ``rejected`` lines are the ones the
pipeline quarantined under this commit's source; of the rest, the first line
of each key that this commit stored is ``accepted`` and every other one a
``duplicate`` (already stored before, or earlier in the same commit).
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from jingyun.ingest import ingest_json_lines, ingest_rows
from jingyun.ingest.pipeline import LineOutcomes
from jingyun.schema.tables import get_table
from jingyun.warehouse import Warehouse


@dataclass(frozen=True)
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


class IngestWriter:
    def __init__(self, wh: Warehouse, *, max_rows: int = 20_000):
        self.wh = wh
        self.max_rows = max_rows
        self.lock = threading.Lock()  # also taken by other writes (quarantine replay)
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="jingyun-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Future[list[Outcome]]:
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def reader(self) -> Warehouse:
        """A read connection (cursor) on the same database: readers never wait for the writer."""
        return Warehouse(self.wh.con.cursor(), self.wh.settings, read_only=True)

    # -- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        pending: Job | None = None
        while True:
            job = pending or self._queue.get()
            pending = None
            if job is None:
                return
            group, rows = [job], len(job.items)
            while rows < self.max_rows:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None or (nxt.table, nxt.origin) != (job.table, job.origin):
                    pending = nxt
                    if nxt is None:
                        self._queue.put(None)
                        pending = None
                    break
                group.append(nxt)
                rows += len(nxt.items)
            self._commit(group)

    def _commit(self, group: list[Job]) -> None:
        try:
            with self.lock:
                results = self._ingest(group)
        except Exception as exc:  # never leave a request hanging; retry alone so one job cannot sink others
            if len(group) > 1:
                for job in group:
                    self._commit([job])
                return
            group[0].future.set_exception(exc)
            return
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
