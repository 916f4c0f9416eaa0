"""The ingestion pipeline: parse → validate → normalise → test-account filter →
dedup exactly once → identity mapping → load, one atomic transaction per chunk.

Nothing is lost: every record read is stored, counted as an exact duplicate of
a stored record, or quarantined with its reason and raw payload — so
``received = stored + duplicates + quarantined`` for every chunk and file.

Dedup is by the table's key, within the chunk and against what is stored. A
record whose key is already taken by a *different* payload (a "synthetic"
duplicate) is never merged: it is quarantined as ``conflicting_duplicate`` so
someone can look. Crash safety: a chunk commits with its quarantine rows and
identity links or not at all; re-running a file after a crash finds the
committed chunks' records as duplicates and quarantine rows already present.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from jingyun.errors import JingyunError
from jingyun.ingest import encoding, identity
from jingyun.ingest.mapping import Mapping, load_mapping
from jingyun.ingest.readers import BadRecord, Chunk, detect_format, read_chunks
from jingyun.ingest.report import IngestReport
from jingyun.ingest.validate import SourceShape, StagingBuilder
from jingyun.privacy import tombstones
from jingyun.schema.tables import Table, get_table
from jingyun.schema.tracking import load_plan
from jingyun.warehouse import person_orders, personal
from jingyun.warehouse.claims import Claim
from jingyun.warehouse.connection import Contended, Warehouse
from jingyun.warehouse.sqltext import ident, quote

Progress = Callable[[int, int], None]  # (records done, bytes done)


log = logging.getLogger(__name__)


def _key_join(table: Table, left: str, right: str) -> str:
    # a required key column is never NULL in a valid row, so plain equality (which the
    # join can filter and hash on) matches exactly what IS NOT DISTINCT FROM would
    required = {c.name for c in table.columns if c.required}
    return " AND ".join(
        f"{left}.{ident(k)} = {right}.{ident(k)}" if k in required else f"{left}.{ident(k)} IS NOT DISTINCT FROM {right}.{ident(k)}"
        for k in table.key
    )


def _shape(wh: Warehouse, fmt: str) -> SourceShape:
    if fmt == "ndjson":
        return SourceShape(fmt, {})
    rel = wh.con.sql("SELECT * FROM _chunk LIMIT 0")
    return SourceShape(fmt, {name: str(kind) for name, kind in zip(rel.columns, rel.types, strict=True)})


@dataclass
class LineOutcomes:
    """Per-line outcomes of one load, for callers that answer by index (the API):
    read from the chunk's own temp tables, so no scan of the stored table or quarantine."""

    stored: set[int] = field(default_factory=set)
    rejected: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # line -> (reason, field)


def _split_why(why: str) -> tuple[str, str | None]:
    parts = why.split(":")  # as split_part(why, ':', 1) / NULLIF(split_part(why, ':', 2), '')
    return parts[0], (parts[1] if len(parts) > 1 and parts[1] else None)


class ChunkLoader:
    """Loads chunks of one source into one table."""

    def __init__(self, wh: Warehouse, table: Table, mapping: Mapping, source: str, fmt: str, *,
                 normalise_places: bool = True):  # every way in (files, API, replay): one place step
        self.wh = wh
        self.normalise_places = normalise_places and table.name == "users"
        self.table = table
        self.mapping = mapping
        self.source = source
        self.fmt = fmt
        self.plan = load_plan(wh.settings.tracking_plan_path) if table.name == "events" else None
        self._sql: list[str] | None = None
        self._shape: SourceShape | None = None
        self.outcomes: LineOutcomes | None = None
        self._anon_links = 0
        self._personal: personal.Sealer | None = None
        self.committed: pa.Table | None = None  # rows this chunk stored, when someone listens (after_commit)
        self.mapping_json = json.dumps(mapping.to_dict(), ensure_ascii=False) if mapping.rules or mapping.constants or mapping.timezone else None

    def staging_statements(self, shape: SourceShape) -> list[str]:
        if self._sql is None or shape != self._shape:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            builder = StagingBuilder(self.table, shape, self.mapping, self.wh.settings, self.plan, now, self.source)
            self._sql, self._shape = builder.statements(), shape
        return self._sql

    def load(self, chunk: Chunk, outcomes: LineOutcomes | None = None) -> IngestReport:
        self.outcomes = outcomes
        report = IngestReport(self.table.name, received=chunk.received)
        con = self.wh.con
        table, t = self.table, self.table.name
        if chunk.parquet is not None:
            path, first, end = chunk.parquet
            con.execute(
                f"""CREATE OR REPLACE TEMP VIEW _chunk AS SELECT file_row_number + 1 AS _line, * EXCLUDE (file_row_number)
                    FROM read_parquet({quote(path)}, file_row_number = true)
                    WHERE file_row_number >= {int(first)} AND file_row_number < {int(end)}"""
            )
        elif chunk.table is not None:
            con.register("_chunk", chunk.table)
        # the per-person order summary, if it was current, is stamped again after the commit
        summary_current = t == "orders" and person_orders.stamp_matches(con)
        try:
            if chunk.rows:
                # typed and checked before the transaction: staging reads only the chunk, so inside the
                # service the writer's lock (taken by the transaction) covers only dedup, insert and commit
                self._stage()
                if self.normalise_places:  # official province/city names, before dedup compares hashes
                    from jingyun.places.ingest_step import normalise_staged

                    report.unknown_places.update(normalise_staged(con, table))
            steps = STORE_STEPS.get(t, StoreSteps())
            before = copy.deepcopy(report)
            try:
                # Inside the service a plain load runs its transaction without the writer's lock and takes
                # it only to commit (warehouse.claims); if a write committed meanwhile could clash, it
                # runs again under the lock, which then covers only dedup, insert and commit.
                self._transaction(chunk, report, optimistic=not (steps.merge_first or steps.refresh_orders))
            except Contended as why:
                log.info("a chunk of %s ran again under the writer's lock: %s", self.source, why)
                report = before
                self._transaction(chunk, report, optimistic=False)
            if summary_current and report.stored:
                person_orders.restamp(con)
            if self.committed is not None and self.committed.num_rows:
                self.wh.committed(t, self.committed)
        finally:
            if chunk.parquet is not None:
                con.execute("DROP VIEW IF EXISTS _chunk")
            elif chunk.table is not None:
                con.unregister("_chunk")
            _drop_temps(con)
        if not report.reconciles:  # a bug, never a user error: refuse to hide it
            raise AssertionError(f"ingest counts do not reconcile for {t}: {report.to_dict()}")
        _ = table
        return report

    def _quarantine_unreadable(self, bad: list[BadRecord], report: IngestReport) -> None:
        if not bad:
            return
        rows = pa.table(
            {
                "line": pa.array([b.line for b in bad], pa.int64()),
                "reason": pa.array([b.reason for b in bad], pa.string()),
                "field": pa.array([b.field for b in bad], pa.string()),
                "raw": pa.array([b.raw for b in bad], pa.string()),
            }
        )
        self.wh.con.register("_bad", rows)
        try:
            self._insert_quarantine("SELECT line, reason, field, raw FROM _bad")
        finally:
            self.wh.con.unregister("_bad")
        report.quarantined += len(bad)
        report.reasons.update(b.reason for b in bad)
        if self.outcomes is not None:
            self.outcomes.rejected.update({b.line: (b.reason, b.field) for b in bad})

    def _insert_quarantine(self, select_sql: str) -> None:
        """Quarantine rows not already quarantined for this source and line (re-runs)."""
        self.wh.con.execute(
            f"""INSERT INTO _quarantine (tbl, source, line, reason, field, raw, mapping)
                SELECT ?, ?, b.line, b.reason, b.field, b.raw, ? FROM ({select_sql}) b
                WHERE NOT EXISTS (SELECT 1 FROM _quarantine x WHERE x.tbl = ? AND x.source = ? AND x.line = b.line
                                  AND x.status = 'open')""",
            [self.table.name, self.source, self.mapping_json, self.table.name, self.source],
        )

    def _transaction(self, chunk: Chunk, report: IngestReport, *, optimistic: bool) -> None:
        con, t = self.wh.con, self.table.name
        self.committed = None
        with self.wh.transaction(optimistic=optimistic):
            self._quarantine_unreadable(chunk.bad, report)
            if chunk.rows:
                self._load_rows(report)
            con.execute(
                "INSERT INTO _ingest_log VALUES (?, ?, ?, ?, ?, ?, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
                [t, self.source, report.received, report.stored, report.duplicates, report.quarantined],
            )
            if self.wh.claims_to is not None and not STORE_STEPS.get(t, StoreSteps()).merge_first:
                # a users load merges persons: it says nothing, so every concurrent load is checked again
                self.wh.claim(self._claim(bool(chunk.rows)))

    def _claim(self, staged: bool) -> Claim:
        """The keys this chunk stores and the anonymous ids it carries and may link (warehouse.claims)."""
        if not staged:
            return Claim(self.table.name)
        names = self.table.column_names
        keys = (f"CAST(s.{ident(self.table.key[0])} AS VARCHAR)" if len(self.table.key) == 1
                else "concat_ws(chr(31), " + ", ".join(f"s.{ident(k)}" for k in self.table.key) + ")")
        anon = "s.anonymous_id" if "anonymous_id" in names else "CAST(NULL AS VARCHAR)"
        both = "s.user_id IS NOT NULL" if "user_id" in names else "false"
        got = self.wh.arrow(f"SELECT {keys} AS k, {anon} AS a, {both} AS b FROM _staged s WHERE s._reason IS NULL")
        a = got.column("a").combine_chunks().cast(pa.string())
        present = pc.is_valid(a)
        return Claim(self.table.name, got.column("k").combine_chunks().cast(pa.string()), a.filter(present),
                     a.filter(pc.and_(present, got.column("b").combine_chunks())))

    def _stage(self) -> None:
        for statement in self.staging_statements(_shape(self.wh, self.fmt)):
            self.wh.con.execute(statement)

    def _load_rows(self, report: IngestReport) -> None:
        con, table = self.wh.con, self.table
        shape = self._shape
        assert shape is not None  # staged by _stage
        tombstones.drop_staged(con, self.wh.settings, table.name)  # an erased person is never re-created (PIPL Art. 47)
        keys = ", ".join(ident(k) for k in table.key)
        stored_hash = "hash(" + ", ".join(f"s.{ident(c.name)}" for c in table.source_columns) + ")"
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _outcome AS
            WITH v AS (SELECT _line, {keys}, _hash FROM _staged WHERE _reason IS NULL),
            -- keys seen more than once in the chunk: the first line's hash, by one aggregate
            -- (no window sort); every later line is a duplicate of it or a conflict
            dk AS (SELECT {keys}, arg_min(_hash, _line) AS fh, min(_line) AS fl FROM v GROUP BY ALL HAVING count(*) > 1),
            inbatch AS (
                SELECT v._line, CASE WHEN v._hash = dk.fh THEN 'duplicate' ELSE 'conflict' END AS outcome
                FROM v JOIN dk ON {_key_join(table, "v", "dk")} WHERE v._line <> dk.fl
            ),
            -- match on the key alone (only the key columns of the stored table are
            -- scanned), then hash just the matched stored rows, fetched by rowid
            stored_keys AS MATERIALIZED (
                SELECT v._line, v._hash, s.rowid AS rid
                FROM v JOIN {table.name} s ON {_key_join(table, "v", "s")}
                WHERE v._line NOT IN (SELECT _line FROM inbatch)
            ),
            -- a resend matches the hash stored with the row; rows stored before that column by their columns
            stored AS (
                SELECT k._line, CASE WHEN (k._hash >> 1) = coalesce(s._row_hash, {stored_hash} >> 1)
                                     THEN 'duplicate' ELSE 'conflict' END AS outcome
                FROM stored_keys k JOIN {table.name} s ON s.rowid = k.rid
            )
            SELECT * FROM inbatch UNION ALL SELECT * FROM stored
            """
        )
        # quarantine: invalid rows (their payload was cut in the staging statement) and
        # conflicting duplicates (rare: their payload is read back from the chunk)
        conflict_reason = "conflicting_duplicate:" + "+".join(table.key)
        source_cols = [n for n in shape.types if n != "_line"]
        if self.fmt == "ndjson":
            raw = "c._json"
        elif source_cols:
            packed = ", ".join(f"{ident(n)} := c.{ident(n)}" for n in source_cols)
            raw = f"CAST(to_json(struct_pack({packed})) AS VARCHAR)"
        else:
            raw = "CAST(NULL AS VARCHAR)"
        invalid = """
            SELECT s._line AS line, split_part(s._reason, ':', 1) AS reason,
                   NULLIF(split_part(s._reason, ':', 2), '') AS field, s._raw AS raw
            FROM _staged s WHERE s._reason IS NOT NULL
        """
        conflicts = f"""
            SELECT o._line AS line, 'conflicting_duplicate' AS reason, {quote("+".join(table.key))} AS field, {raw} AS raw
            FROM _outcome o LEFT JOIN _chunk c ON c._line = o._line WHERE o.outcome = 'conflict'
        """
        # one pass for every count (and, for the API, the lines): empty steps are then skipped
        lines = ", list(s._line)" if self.outcomes is not None else ", NULL"
        anon = ", count(*) FILTER (WHERE s.anonymous_id IS NOT NULL AND s.user_id IS NOT NULL)" if table.name == "events" else ", 0"
        counts = con.execute(
            f"""SELECT coalesce(s._reason, CASE o.outcome WHEN 'conflict' THEN '{conflict_reason}' WHEN 'duplicate' THEN 'duplicate' END) AS why,
                       s._tracking, count(*){lines}{anon}
                FROM _staged s LEFT JOIN _outcome o ON o._line = s._line GROUP BY ALL"""
        ).fetchall()
        self._anon_links = 0
        tracking: list[tuple[str, int]] = []
        for why, issue, n, line_list, n_anon in counts:
            if why is None:  # kept rows: stored below
                self._anon_links += n_anon
                if issue is not None:
                    tracking.append((issue, n))
                if self.outcomes is not None:
                    self.outcomes.stored.update(line_list)
            elif why == "duplicate":
                report.duplicates += n
            else:
                report.quarantined += n
                report.reasons[why] += n
                if self.outcomes is not None:
                    self.outcomes.rejected.update(dict.fromkeys(line_list, _split_why(why)))
        if any(why not in (None, "duplicate", conflict_reason) for why, *_ in counts):
            self._insert_quarantine(invalid)
        if any(why == conflict_reason for why, *_ in counts):
            self._insert_quarantine(conflicts)
        for issue, n in tracking:
            report.tracking_issues[issue] += n
        self._store(report)

    def _sealer(self) -> personal.Sealer:
        """The workspace's sealer, made on the first users chunk (inside its transaction), which also
        seals users stored in clear before encryption was turned on."""
        if self._personal is None:
            personal.ensure_columns(self.wh.con)
            self._personal = personal.Sealer.for_workspace(self.wh.settings, self.wh.con)
            personal.seal_stored(self.wh.con, self._personal)
        return self._personal

    def _store(self, report: IngestReport) -> None:
        con, table = self.wh.con, self.table
        steps = STORE_STEPS.get(table.name, StoreSteps())
        names = table.column_names
        out_names = [c.name for c in table.source_columns]
        select = [f"s.{ident(n)}" for n in out_names]
        joins = ""
        if "person_id" in names:
            if steps.own_person:
                select.append("s.user_id AS person_id")
            else:
                person_joins, person = identity.person_sql(table.name)
                joins += " " + person_joins
                select.append(f"{person} AS person_id")
            out_names.append("person_id")
        if steps.own_test:
            select = ["s._test_rule AS is_test" if sel == f"s.{ident('is_test')}" else sel for sel in select]
        elif "is_test" in names:
            joins += " LEFT JOIN (SELECT DISTINCT user_id FROM users WHERE is_test) tu ON tu.user_id = s.user_id"
            select.append("(s._test_rule OR tu.user_id IS NOT NULL) AS is_test")
            out_names.append("is_test")
        if "tracking_issue" in names:
            select.append("s._tracking AS tracking_issue")
            out_names.append("tracking_issue")
        # the record's hash as received (before sealing, merging, test flags): what a resend is compared with
        select += [f"{quote(self.source)} AS _source", "now() AT TIME ZONE 'UTC' AS _ingested_at",
                   "CAST(s._hash >> 1 AS BIGINT) AS _row_hash"]
        out_names += ["_source", "_ingested_at", "_row_hash"]
        keep = "s._reason IS NULL AND s._line NOT IN (SELECT _line FROM _outcome)"
        cols = ", ".join(ident(n) for n in out_names)
        if steps.merge_first:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _insert AS SELECT s._line, {', '.join(select)} FROM _staged s {joins} WHERE {keep}")
            # personal columns sealed (pseudonyms, ciphertexts) before anything compares or stores them
            cols += "".join(f", {ident(n)}" for n in personal.seal_insert(con, self._sealer()))
            identity.merge_users(con)
            identity.flag_test_users(con)
            inserted = con.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM _insert").fetchall()
        else:
            if steps.link_anonymous and self._anon_links:
                # links first, so this chunk's anonymous-only rows resolve in the insert's join
                con.execute(f"CREATE OR REPLACE TEMP VIEW _insert AS SELECT s._line, s.user_id, s.anonymous_id FROM _staged s WHERE {keep}")
                identity.link_anonymous(con)
                con.execute("DROP VIEW _insert")
            insert = f"INSERT INTO {table.name} ({cols}) SELECT {', '.join(select)} FROM _staged s {joins} WHERE {keep}"
            if table.name in WATCHED and self.wh.listening(table.name):
                # the insert hands back what it stored: the listeners' rows, without a scan of the table
                got = con.sql(f"{insert} RETURNING {cols}").to_arrow_table()  # a relation: no second copy, no warning
                assert got is not None
                self.committed = got
                inserted = [(got.num_rows,)]
            else:
                inserted = con.execute(insert).fetchall()
        if steps.refresh_orders and inserted[0][0]:
            # this chunk's rows: its source, stamped with this transaction's start time
            person_orders.refresh_persons(
                con, "SELECT person_id FROM orders WHERE _source = ? AND _ingested_at = now() AT TIME ZONE 'UTC'",
                [self.source])
        report.stored += int(inserted[0][0])  # INSERT answers its row count: no second pass over _staged


@dataclass(frozen=True)
class StoreSteps:
    """How a chunk's checked rows become stored rows, where a table differs from the plain insert
    (person resolved through identities, test flag inherited from the person's users rows)."""

    own_person: bool = False  # person_id is the row's own user_id (persons are merged later), not resolved
    own_test: bool = False  # is_test is the row's own test rule, not also its user's flag
    merge_first: bool = False  # materialise, seal personal columns, merge persons and flag test users, then insert
    link_anonymous: bool = False  # link anonymous ids before the insert, so anonymous-only rows resolve
    refresh_orders: bool = False  # refresh the per-person order summary for the chunk's persons afterwards


WATCHED = frozenset({"events", "orders"})  # tables whose committed rows go to Warehouse.after_commit

STORE_STEPS: dict[str, StoreSteps] = {
    "users": StoreSteps(own_person=True, own_test=True, merge_first=True),
    "events": StoreSteps(link_anonymous=True),
    "orders": StoreSteps(refresh_orders=True),
}


def _drop_temps(con: duckdb.DuckDBPyConnection) -> None:
    # only the ones that exist, each as its kind: a DROP costs a statement's parse and plan
    names = ("_staged", "_outcome", "_insert", "_raw", "_typed", "_merged")
    found = con.execute(
        "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE temporary AND table_name IN ? "
        "UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE temporary AND view_name IN ?",
        [list(names), list(names)],
    ).fetchall()
    for temp, kind in found:
        con.execute(f"DROP {kind} IF EXISTS {temp}")




def ingest_file(
    wh: Warehouse,
    table: str,
    paths: Path | str | Iterable[Path | str],
    *,
    fmt: str | None = None,
    mapping: Path | Mapping | None = None,
    source: str | None = None,
    progress: bool | Progress = False,
    text_encoding: str | None = None,
    sheet: str | None = None,
) -> IngestReport:
    """Ingest files into a canonical table; returns the reconciled report.

    ``text_encoding`` is the encoding of CSV/NDJSON files (None or "auto": detected per
    file); ``sheet`` the Excel sheet (a name, or a number from 1; default the first)."""
    if wh.read_only:
        raise JingyunError("read_only", "the warehouse is open read-only", "home")
    spec = get_table(table)
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise JingyunError("no_file", "give at least one file to ingest", "file")
    loaded_mapping = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    loaded_mapping.check_against(spec)
    total = IngestReport(spec.name)
    for path in files:
        started = time.perf_counter()
        file_format = detect_format(path, fmt)
        loader = ChunkLoader(wh, spec, loaded_mapping, source or str(path.resolve()), file_format,
                             normalise_places=True)
        report = IngestReport(spec.name, files=[str(path)])
        chosen = encoding.decide(path, text_encoding) if file_format in ("csv", "ndjson") else None
        if chosen:
            report.encodings[str(path)] = chosen
        bar = _progress_bar(path, progress)
        try:
            chunks = read_chunks(path, file_format, wh.settings.chunk_rows, text_encoding=chosen, sheet=sheet)
            # NDJSON/CSV chunks are split and validated in Arrow, outside DuckDB:
            # read the next chunk while DuckDB loads this one (one chunk ahead, so
            # memory stays bounded); Parquet slices cost nothing to produce
            for chunk in (_read_ahead(chunks) if file_format != "parquet" else chunks):
                report.add(loader.load(chunk))
                if bar:
                    bar(report.received, chunk.bytes_read)
        finally:
            if bar:
                bar(-1, 0)  # done
        report.seconds = time.perf_counter() - started
        total.add(report)
    return total


def _read_ahead(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The chunks, each produced on a thread while the previous one is loaded.
    Order is kept, a reader error is raised here, and an early stop (a load
    failed) ends the thread."""
    slots: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        slots.put(("chunk", chunk), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(("error", exc))

    worker = threading.Thread(target=produce, name="jingyun-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(item, BaseException)
                raise item
            assert isinstance(item, Chunk)
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full slot
            with contextlib.suppress(queue.Empty):
                slots.get_nowait()
            worker.join(timeout=0.1)


def ingest_rows(wh: Warehouse, table: str, rows: pa.Table, *, source: str, outcomes: LineOutcomes | None = None) -> IngestReport:
    """Ingest an in-memory Arrow table (the API and replay use this)."""
    spec = get_table(table)
    loader = ChunkLoader(wh, spec, Mapping(), source, "parquet")
    if "_line" not in rows.column_names:
        rows = rows.add_column(0, "_line", pa.array(range(1, rows.num_rows + 1), pa.int64()))
    return loader.load(Chunk(rows), outcomes)


def ingest_json_lines(
    wh: Warehouse, table: str, lines: list[tuple[int, str]], *, source: str, outcomes: LineOutcomes | None = None
) -> IngestReport:
    """Ingest JSON texts, each with its line number (replay of NDJSON payloads)."""
    spec = get_table(table)
    loader = ChunkLoader(wh, spec, Mapping(), source, "ndjson")
    chunk = pa.table({"_line": pa.array([n for n, _ in lines], pa.int64()), "_json": pa.array([t for _, t in lines], pa.string())})
    return loader.load(Chunk(chunk), outcomes)


def _progress_bar(path: Path, progress: bool | Progress) -> Progress | None:
    if callable(progress):
        return progress
    if not progress:
        return None
    from jingyun.ingest.progress import file_progress

    return file_progress(path)
