"""Erasure (PIPL Art. 47, 删除权): the person removed or irreversibly pseudonymised everywhere.

Per table, one choice (docs/privacy.md explains them):

* **pseudonymised** — ``orders`` and ``touches``: the rows stay, so GMV, order counts, buyer counts and
  channel spend attribution keep their totals, but ``user_id`` and ``person_id`` become one random token
  (``erased:<hex>``, drawn from ``secrets``: no key or table maps it back) and ``attributes`` is emptied.
  ``order_items`` and ``payments`` hang off the order id and carry nothing personal.
* **deleted** — everything else that names the person: ``events`` (behaviour), ``users``, ``feedback``
  (free text), ``identities``, ``model_scores``, ``user_tags``, ``segment_members``/``segment_changes``,
  ``person_orders`` (rebuilt for the token), any other warehouse table with a ``user_id`` /
  ``person_id`` / ``anonymous_id`` column, quarantined payloads that mention them; in the metadata
  store consent records, deliveries, coupon codes, journey entries and timers, idempotent API answers
  that mention them, and their place in segment snapshots (group counts decremented); rows of exports
  under the home that mention them. Audit entries about them keep who did what and when, with the
  target replaced by the token.

Then the bytes go (by default at the next nightly ``optimize``, :func:`purge_pending`; at once with
``purge=True``, ``jingyun privacy erase --now``): DuckDB keeps a deleted row's bytes in its row group (a deletion vector) and
stale bytes in partly reused blocks, so each table that held the person is rewritten in place
(``TRUNCATE`` and re-insert: schema and order kept) and the freed blocks are overwritten before the
vacuuming checkpoint (:func:`scrub_free_blocks`); SQLite is vacuumed. Tombstones (keyed digests of
the ids, phone and email) stop a replay of old files from bringing the person back.

The erasure and its purge are audited (action ``erase``, target ``erasure:<id>``, counts only: never an id).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import String, delete, func, inspect, or_, select, update

from jingyun.privacy import files, tombstones
from jingyun.privacy.subject import Subject, find
from jingyun.security import audit
from jingyun.store.db import Store
from jingyun.store.models import AuditEntry, Base, SegmentSnapshot, utcnow
from jingyun.store.privacy import PrivacyErasure, PrivacyTombstone
from jingyun.warehouse import person_orders
from jingyun.warehouse.connection import Warehouse
from jingyun.warehouse.optimize import compact
from jingyun.warehouse.sqltext import ident, quote

PSEUDONYMISED = ("orders", "touches")  # rows kept with the token: totals stay
PERSON_COLUMNS = ("user_id", "person_id", "anonymous_id")
SKIPPED = (tombstones.TABLE, "_ingest_log", "_derived_state")
# metadata-store columns that hold a customer's id (console staff are ``people``, never these)
STORE_SUBJECT_COLUMNS = ("user_id", "subject")


@dataclass
class ErasureReport:
    user_id: str
    token: str
    dry_run: bool
    persons: int = 0
    user_ids: int = 0
    anonymous_ids: int = 0
    warehouse: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> {"deleted": n, "pseudonymised": n}
    store: dict[str, int] = field(default_factory=dict)  # table -> rows removed or rewritten
    files: dict[str, int] = field(default_factory=dict)  # path -> rows removed
    tombstones: int = 0
    seconds: float = 0.0
    purge_seconds: float = 0.0
    # pending (the nightly optimize job purges the bytes) | rewrite (the whole file, when this process owns
    # it) | in_place (inside the service)
    purge: str = ""
    erasure_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _warehouse_tables(wh: Warehouse) -> dict[str, list[str]]:
    rows = wh.rows("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' "
                   "AND column_name IN ('user_id', 'person_id', 'anonymous_id', 'id_value') ORDER BY table_name")
    out: dict[str, list[str]] = {}
    for table, column in rows:
        if table not in SKIPPED and not table.endswith("__sorted"):
            out.setdefault(str(table), []).append(str(column))
    return out


def _match(columns: list[str]) -> str:
    return " OR ".join(f'"{c}" IN (SELECT unnest($ids))' for c in columns)


def erase(wh: Warehouse, store: Store, user_id: str, *, dry_run: bool = False, actor: str = "",
          purge: bool = False, own_file: bool = True, role: str = "") -> ErasureReport:
    """Erase the person behind ``user_id``; with ``dry_run`` only count what would go.

    The rows go at once (no query, export or model sees the person again); the bytes they leave in the
    files are purged by the nightly ``optimize`` job (:func:`purge_pending`; the report says ``pending``),
    or here with ``purge`` (seconds to a minute on a large warehouse). ``own_file``: this process alone
    holds the warehouse connection (the CLI without a service), so the file may be swapped."""
    started = time.perf_counter()
    subject = find(wh, user_id)
    token = "erased:" + secrets.token_hex(12)
    report = ErasureReport(user_id, token, dry_run, len(subject.person_ids), len(subject.user_ids),
                           len(subject.anonymous_ids))
    touched = _erase_warehouse(wh, subject, token, report, dry_run)
    _erase_store(store, subject, token, report, dry_run)
    report.files = files.scrub(wh.settings.home, subject.needles, dry_run=dry_run)
    digests = _digests(wh, subject)
    report.tombstones = len(digests)
    if dry_run:
        report.seconds = round(time.perf_counter() - started, 3)
        return report
    with store.session() as ses:
        row = PrivacyErasure(token=token, requested_by=actor, counts="{}")
        ses.add(row)
        ses.flush()
        report.erasure_id = row.id
        known = set(ses.scalars(select(PrivacyTombstone.digest).where(
            PrivacyTombstone.digest.in_([d for d, _ in digests]))))
        ses.add_all(PrivacyTombstone(digest=d, kind=k, erasure_id=row.id) for d, k in digests if d not in known)
    tombstones.add(wh.con, digests)
    if purge:
        purge_started = time.perf_counter()
        report.purge = purge_bytes(wh, touched, own_file=own_file)
        vacuum_store(store)
        report.purge_seconds = round(time.perf_counter() - purge_started, 3)
    else:
        report.purge = "pending"
    report.seconds = round(time.perf_counter() - started, 3)
    with store.session() as ses:
        done = ses.get(PrivacyErasure, report.erasure_id)
        assert done is not None
        counts: dict[str, Any] = {"warehouse": report.warehouse, "store": report.store, "files": len(report.files),
                                  "tombstones": report.tombstones, "purge": report.purge,
                                  "purge_tables": list(dict.fromkeys(touched))}
        if purge:
            counts["purged_at"] = utcnow().isoformat()
        done.counts = json.dumps(counts)
        done.seconds = report.seconds
        rows = sum(sum(c.values()) for c in report.warehouse.values()) + sum(report.store.values())
        audit.record(store, actor=actor, role=role, action="erase", target=f"erasure:{report.erasure_id}",
                     detail={"erasure_id": report.erasure_id, "step": "erase", "rows": rows,
                             "tables": len(report.warehouse) + len(report.store), "files": len(report.files),
                             "tombstones": report.tombstones, "purge": report.purge}, session=ses)
    return report


@dataclass(frozen=True)
class PurgeReport:
    """What :func:`purge_pending` did: the erasures whose bytes it purged, the tables rewritten, how."""

    erasures: list[int]
    tables: list[str]
    purge: str  # rewrite | in_place | "" (nothing pending)
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def pending(store: Store) -> list[int]:
    """The erasures whose bytes still wait for the purge, oldest first."""
    with store.session() as ses:
        rows = ses.execute(select(PrivacyErasure.id, PrivacyErasure.counts).order_by(PrivacyErasure.id)).all()
    return [i for i, c in rows if json.loads(c or "{}").get("purge") == "pending"]


def purge_pending(wh: Warehouse, store: Store, *, own_file: bool = True, actor: str = "system",
                  now: dt.datetime | None = None) -> PurgeReport:
    """The byte purge of every pending erasure at once (run by the nightly ``optimize`` job): the tables
    they touched rewritten (or the whole file, when this process owns it), the metadata store vacuumed;
    each erasure then records ``purge`` done (how, and ``purged_at``) and an ``erase`` audit entry."""
    started = time.perf_counter()
    with store.session() as ses:
        rows = ses.execute(select(PrivacyErasure.id, PrivacyErasure.counts).order_by(PrivacyErasure.id)).all()
    todo = {i: json.loads(c or "{}") for i, c in rows}
    todo = {i: c for i, c in todo.items() if c.get("purge") == "pending"}
    if not todo:
        return PurgeReport([], [], "", 0.0)
    present = {str(t) for (t,) in wh.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")}
    tables = [t for t in dict.fromkeys(t for c in todo.values() for t in c.get("purge_tables", [])) if t in present]
    how = purge_bytes(wh, tables, own_file=own_file)
    vacuum_store(store)
    at = now or utcnow()
    seconds = round(time.perf_counter() - started, 3)
    with store.session() as ses:
        for i, counts in todo.items():
            row = ses.get(PrivacyErasure, i)
            if row is None:
                continue
            row.counts = json.dumps({**counts, "purge": how, "purged_at": at.isoformat()})
            audit.record(store, actor=actor, action="erase", target=f"erasure:{i}", now=at, session=ses,
                         detail={"erasure_id": i, "step": "purge", "purge": how, "tables": len(tables),
                                 "seconds": seconds})
    return PurgeReport(list(todo), tables, how, seconds)


def _digests(wh: Warehouse, subject: Subject) -> list[tuple[str, str]]:
    key = tombstones.key(wh.settings)
    pairs = [*(("user_id", u) for u in subject.user_ids), *(("anonymous_id", a) for a in subject.anonymous_ids),
             *(("phone", p) for p in subject.phones), *(("email", e) for e in subject.emails)]
    return list({tombstones.digest(v, key): k for k, v in pairs}.items())


def _erase_warehouse(wh: Warehouse, subject: Subject, token: str, report: ErasureReport, dry_run: bool) -> list[str]:
    con = wh.con
    ids = list(subject.ids)
    touched: list[str] = []
    tables = _warehouse_tables(wh)
    with wh.transaction():
        for table, columns in tables.items():
            cond = _match(columns)
            n = int(con.execute(f'SELECT count(*) FROM "{table}" WHERE {cond}', {"ids": ids}).fetchall()[0][0])
            if not n:
                continue
            touched.append(table)
            if table in PSEUDONYMISED:
                report.warehouse[table] = {"deleted": 0, "pseudonymised": n}
                if not dry_run:
                    con.execute(f"""UPDATE "{table}" SET user_id = $token, person_id = $token, attributes = '{{}}'
                                    WHERE {cond}""", {"ids": ids, "token": token})
            else:
                report.warehouse[table] = {"deleted": n, "pseudonymised": 0}
                if not dry_run:
                    con.execute(f'DELETE FROM "{table}" WHERE {cond}', {"ids": ids})
        needles = list(subject.needles)
        if needles:
            hit = "len(list_filter($needles, lambda n: contains(raw, n))) > 0"
            params = {"needles": needles}
            n = int(con.execute(f"SELECT count(*) FROM _quarantine WHERE {hit}", params).fetchall()[0][0])
            if n:
                touched.append("_quarantine")
                report.warehouse["_quarantine"] = {"deleted": n, "pseudonymised": 0}
                if not dry_run:
                    con.execute(f"DELETE FROM _quarantine WHERE {hit}", params)
        if not dry_run and "orders" in touched:
            person_orders.refresh_persons(con, "SELECT unnest(?)", [[*ids, token]])
            touched.append(person_orders.TABLE)
    return touched


def purge_bytes(wh: Warehouse, tables: list[str], *, own_file: bool = True) -> str:
    """Make the erased bytes unreadable from the file: ``rewrite`` the whole file when this process owns
    it (DuckDB also keeps old column statistics in freed metadata blocks, which nothing else clears),
    else (inside the service, which cannot swap its open file) rewrite the touched tables in place and
    overwrite the freed data blocks. Returns which of the two ran."""
    if own_file and type(wh) is Warehouse and not wh.read_only and rewrite_file(wh):
        return "rewrite"
    purge_tables(wh, tables)
    return "in_place"


def rewrite_file(wh: Warehouse) -> bool:
    """Copy the live database into a fresh file (``COPY FROM DATABASE``: schema, sequences, rows) and swap it in."""
    con = wh.con
    found = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    if not (found and found[0][0]):
        return False
    path = Path(found[0][0])
    fresh = path.with_name(path.name + ".privacy-fresh")
    fresh.unlink(missing_ok=True)
    db = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute("CHECKPOINT")
    con.execute(f"ATTACH {quote(str(fresh))} AS _privacy_fresh")
    try:
        con.execute(f"COPY FROM DATABASE {ident(db)} TO _privacy_fresh")
    finally:
        con.execute("DETACH _privacy_fresh")
    con.close()
    os.replace(fresh, path)
    Path(str(path) + ".wal").unlink(missing_ok=True)
    Warehouse.__init__(wh, duckdb.connect(str(path)), wh.settings)
    return True


def purge_tables(wh: Warehouse, tables: list[str]) -> None:
    """Rewrite each table in place so no row group keeps the erased rows' bytes, then overwrite the freed blocks."""
    con = wh.con
    con.execute("SET preserve_insertion_order = true")  # keep optimize's time order
    try:
        with wh.transaction():
            for table in dict.fromkeys(tables):
                con.execute(f'CREATE OR REPLACE TEMP TABLE _privacy_copy AS SELECT * FROM "{table}"')
                con.execute(f'TRUNCATE "{table}"')
                con.execute(f'INSERT INTO "{table}" SELECT * FROM _privacy_copy')
                con.execute("DROP TABLE _privacy_copy")
    finally:
        con.execute("SET preserve_insertion_order = false")
    compact(wh)
    scrub_free_blocks(wh)


def scrub_free_blocks(wh: Warehouse) -> int:
    """Overwrite the file's free blocks (DuckDB frees blocks without clearing them): a filler table,
    stored uncompressed, takes every free block, then goes. Returns the blocks overwritten."""
    con = wh.con
    got = con.execute("SELECT block_size, free_blocks FROM pragma_database_size() "
                      "WHERE database_name = current_database()").fetchall()
    if not got or not got[0][1]:
        return 0
    block_size, free = int(got[0][0]), int(got[0][1])
    rows = free * block_size // 1000 + 1000
    con.execute("SET force_compression = 'uncompressed'")
    try:
        con.execute(f"CREATE OR REPLACE TABLE _privacy_scrub AS SELECT repeat('#', 990) AS f FROM range({rows})")
        con.execute("CHECKPOINT")
    finally:
        con.execute("RESET force_compression")
        con.execute("DROP TABLE IF EXISTS _privacy_scrub")
    con.execute("CHECKPOINT")
    return free


def _erase_store(store: Store, subject: Subject, token: str, report: ErasureReport, dry_run: bool) -> None:
    ids = list(subject.ids)
    subjects = [*ids, *("addr:" + e.lower() for e in subject.emails)]
    addresses = [*subject.phones, *subject.emails]
    present = set(inspect(store.engine).get_table_names())  # a model whose migration is not applied yet holds nothing
    with store.session() as ses:
        for table in Base.metadata.sorted_tables:
            if table.name.startswith("privacy_") or table.name == "audit_log" or table.name not in present:
                continue
            conds: list[Any] = [table.c[c].in_(subjects) for c in STORE_SUBJECT_COLUMNS
                     if c in table.c and isinstance(table.c[c].type, String)]
            if "recipient" in table.c and addresses:
                conds.append(table.c["recipient"].in_(addresses))
            if table.name == "idempotency_keys":
                conds += [table.c["response"].contains(v, autoescape=True) for v in subject.needles]
            if not conds:
                continue
            n = int(ses.scalar(select(func.count()).select_from(table).where(or_(*conds))) or 0)
            if n:
                report.store[table.name] = n
                if not dry_run:
                    ses.execute(delete(table).where(or_(*conds)))
        n = _erase_snapshots(ses, set(subject.person_ids) | set(subject.user_ids), dry_run)
        if n:
            report.store["segment_snapshots"] = n
        about = or_(*[AuditEntry.target == i for i in ids], *[AuditEntry.target.like(f"%:{i}") for i in ids])
        n = len(list(ses.scalars(select(AuditEntry.id).where(about))))
        if n:
            report.store["audit_log"] = n
            if not dry_run:
                ses.execute(update(AuditEntry).where(about).values(target=token))


def _erase_snapshots(ses: Any, persons: set[str], dry_run: bool) -> int:
    changed = 0
    for snap in ses.scalars(select(SegmentSnapshot)):
        data = json.loads(zlib.decompress(snap.data))
        groups = data.get("groups", {})
        gone = [p for p in groups if p in persons]
        if not gone:
            continue
        changed += 1
        if dry_run:
            continue
        counts = data.get("counts", {})
        for p in gone:
            group = groups.pop(p)
            if isinstance(counts.get(str(group)), int):
                counts[str(group)] -= 1
        snap.data = zlib.compress(json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")).encode(), 6)
        snap.counts = json.dumps(counts, ensure_ascii=False, separators=(",", ":"))
        snap.persons = len(groups)
    return changed


def vacuum_store(store: Store) -> None:
    """SQLite keeps deleted rows in free pages and the WAL: rewrite the file. (PostgreSQL's VACUUM is the
    server's; its dead tuples are unreachable by SQL and reclaimed by autovacuum.)"""
    if store.engine.dialect.name != "sqlite":
        return
    with store.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        c.exec_driver_sql("VACUUM")
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

