"""Saved segments (已保存人群): create with a size estimate, refresh, export, compare.

Membership of saved segments lives in the warehouse table ``segment_members``;
every change is appended to ``segment_changes`` as an entry or exit event that
automation can trigger on.

Freshness: a full refresh recomputes everyone (scheduled; status, duration,
timeout and retries recorded, and a run can never stay "running" past its
deadline). Segments that automation uses are also refreshed incrementally:
only persons touched by rows ingested since the last run (``_ingested_at``) are
re-evaluated — seconds instead of a rebuild. A windowed rule ("in the last 30
days") can also change for people who did nothing; the scheduled full refresh
catches those.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from jingyun.errors import JingyunError
from jingyun.security.exports import safe_row
from jingyun.security.masking import MIN_COUNT, Masker, small_count
from jingyun.segments import audience
from jingyun.segments.common import now_utc
from jingyun.segments.rfm import resolve_as_of
from jingyun.segments.store import RunRecord, SavedSegment, SegmentStore
from jingyun.segments.tags import tag_types
from jingyun.warehouse import personal
from jingyun.warehouse.backends import Engine, Source, engine_of, require, writer
from jingyun.warehouse.sqltext import quote, ts_literal

MEMBERS_DDL = (
    "CREATE TABLE IF NOT EXISTS segment_members (segment VARCHAR NOT NULL, person_id VARCHAR NOT NULL, "
    "since TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS segment_changes (segment VARCHAR NOT NULL, person_id VARCHAR NOT NULL, "
    "change VARCHAR NOT NULL, changed_at TIMESTAMP NOT NULL, run_id VARCHAR)",
)


@dataclass(frozen=True)
class SizeEstimate:
    size: int
    universe: int
    share: float
    sql: str
    as_of: dt.datetime
    seconds: float
    warning: str | None = None

    def shown(self, *, sees_raw: bool, threshold: int = MIN_COUNT) -> dict[str, Any]:
        """The estimate as a viewer sees it: for roles without raw access a size below ``threshold`` reads
        ``"<10"`` (and its share and warning go with it), so counts cannot single a person out."""
        out = {f: getattr(self, f) for f in ("size", "universe", "share", "sql", "as_of", "seconds", "warning")}
        out["suppressed"] = False
        if not sees_raw and self.size < threshold:
            out.update(size=small_count(self.size, threshold), share=None, suppressed=True,
                       warning=f"fewer than {threshold} people match: the exact count is withheld")
        return out


@dataclass(frozen=True)
class RefreshResult:
    segment: str
    kind: str
    status: str
    members: int
    entries: int
    exits: int
    evaluated: int  # persons re-evaluated (everyone for a full refresh)
    seconds: float
    run_id: str


def context(source: Source, store: SegmentStore, as_of: Any = None) -> audience.RuleContext:
    engine = engine_of(source)
    segs = store.segments()
    at = resolve_as_of(engine, as_of)
    return audience.RuleContext(
        tag_types(engine.settings), lambda name: segs[name].rule if name in segs else None, at,
        order_summary=engine.summary_usable(at),
    )


def _compile(engine: Engine, rule: dict[str, Any], ctx: audience.RuleContext) -> audience.CompiledAudience:
    """A rule compiled for ``engine``: a rule naming tags reads ``user_tags``, a declared gap off DuckDB."""
    compiled = audience.compile_rule(rule, ctx)
    if re.search(r"\buser_tags\b", compiled.sql):
        require(engine, "derived_tables")
    return compiled


def estimate(source: Source, rule: dict[str, Any], *, as_of: Any = None) -> SizeEstimate:
    """Validate, compile and count a rule (nothing is saved)."""
    engine = engine_of(source)
    store = SegmentStore(engine.settings)
    compiled = _compile(engine, rule, context(engine, store, as_of))
    t0 = time.perf_counter()
    size = int(engine.scalar(f"SELECT count(*) FROM ({compiled.sql}) s") or 0)
    universe = int(engine.scalar(f"SELECT count(*) FROM ({audience.universe_sql()}) u") or 0)
    share = size / universe if universe else 0.0
    warning = None
    if size == 0:
        warning = "the rule matches no one"
    elif share > 0.8:
        warning = "the rule matches more than 80% of users: too coarse to target"
    elif share < 0.05:
        warning = "the rule matches less than 5% of users: check it is not too fine"
    return SizeEstimate(size, universe, round(share, 6), compiled.sql, compiled.as_of,
                        round(time.perf_counter() - t0, 4), warning)


def create(source: Source, seg: SavedSegment, *, replace_existing: bool = False, department: str | None = None
           ) -> tuple[SavedSegment, SizeEstimate]:
    """Validate and estimate first; only a valid rule is saved (never half-saved).

    ``department`` gives the segment an owning department (it must exist); without one it is a workspace
    segment, seen by everyone with ``segments:view`` (a replace keeps the department it had).
    """
    if seg.playbook is not None:
        from jingyun.segments.playbooks import get_playbook

        get_playbook(seg.playbook)
    engine = engine_of(source)
    store = SegmentStore(engine.settings)
    dep_id = None
    if department is not None:
        dep_id = store.department_id(department)
        if dep_id is None:
            raise JingyunError("unknown_department", f"no department {department!r}; an admin creates departments "
                               "with `jingyun admin create-user --department`", "department")
    size = estimate(engine, seg.rule)
    saved = store.save_segment(seg, replace=replace_existing, department_id=dep_id)
    return saved, size


def ensure_member_tables(source: Source) -> None:
    wh = writer(engine_of(source))
    for ddl in MEMBERS_DDL:
        wh.con.execute(ddl)


def members(source: Source, name: str) -> list[str]:
    engine = engine_of(source)
    require(engine, "derived_tables")
    if not engine.has_table("segment_members"):
        return []
    return [str(r[0]) for r in engine.rows(f"SELECT person_id FROM segment_members WHERE segment = {quote(name)} "
                                           "ORDER BY 1")]


def _apply(engine: Engine, name: str, new_sql: str, scope_sql: str | None, run_id: str, at: dt.datetime
           ) -> tuple[int, int, int]:
    """Replace membership (within scope) by ``new_sql`` and log entries/exits, in one transaction."""
    scope = f" AND person_id IN ({scope_sql})" if scope_sql else ""
    seg = quote(name)
    wh = writer(engine)
    with wh.transaction() as con:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _seg_new AS SELECT DISTINCT person_id FROM ({new_sql}) n")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _seg_old AS SELECT person_id FROM segment_members "
                    f"WHERE segment = {seg}{scope}")
        entries = con.execute("SELECT count(*) FROM _seg_new WHERE person_id NOT IN (SELECT person_id FROM _seg_old)"
                              ).fetchall()[0][0]
        exits = con.execute("SELECT count(*) FROM _seg_old WHERE person_id NOT IN (SELECT person_id FROM _seg_new)"
                            ).fetchall()[0][0]
        stamp = ts_literal(at)
        con.execute(f"INSERT INTO segment_changes SELECT {seg}, person_id, 'entry', {stamp}, '{run_id}' FROM _seg_new "
                    "WHERE person_id NOT IN (SELECT person_id FROM _seg_old)")
        con.execute(f"INSERT INTO segment_changes SELECT {seg}, person_id, 'exit', {stamp}, '{run_id}' FROM _seg_old "
                    "WHERE person_id NOT IN (SELECT person_id FROM _seg_new)")
        con.execute(f"DELETE FROM segment_members WHERE segment = {seg} AND person_id IN (SELECT person_id FROM "
                    "_seg_old) AND person_id NOT IN (SELECT person_id FROM _seg_new)")
        con.execute(f"INSERT INTO segment_members SELECT {seg}, person_id, {stamp} FROM _seg_new "
                    "WHERE person_id NOT IN (SELECT person_id FROM _seg_old)")
        con.execute("DROP TABLE _seg_new")
        con.execute("DROP TABLE _seg_old")
    total = int(engine.scalar(f"SELECT count(*) FROM segment_members WHERE segment = {seg}") or 0)
    return int(entries), int(exits), total


def _watermark_sql() -> str:
    return "SELECT max(t) FROM (SELECT max(_ingested_at) AS t FROM events UNION ALL SELECT max(_ingested_at) FROM orders) x"


def refresh(
    source: Source, name: str, *, kind: Literal["full", "incremental"] = "full", timeout_s: float = 600.0,
    retries: int = 1, as_of: Any = None,
) -> RefreshResult:
    """Recompute one saved segment; the run record always ends ok, failed or timeout."""
    engine = engine_of(source)
    store = SegmentStore(engine.settings)
    seg = store.get_segment(name)
    ensure_member_tables(engine)
    state_key = f"watermark:{name}"
    watermark = store.state().get(state_key)
    if kind == "incremental" and watermark is None:
        kind = "full"  # the first run has nothing to be incremental against
    started = now_utc()
    run = RunRecord(uuid.uuid4().hex[:12], kind, name, "running", started.isoformat(),
                    (started + dt.timedelta(seconds=timeout_s)).isoformat())
    store.put_run(run)
    last_error = ""
    for attempt in range(1, retries + 2):
        t0 = time.perf_counter()
        timer = threading.Timer(timeout_s, engine.interrupt)
        timer.start()
        try:
            new_mark = engine.scalar(_watermark_sql())
            compiled = _compile(engine, seg.rule, context(engine, store, as_of))
            scope = None
            if kind == "incremental":
                mark = ts_literal(dt.datetime.fromisoformat(str(watermark)))
                scope = (f"SELECT person_id FROM events WHERE _ingested_at > {mark} AND person_id IS NOT NULL "
                         f"UNION SELECT person_id FROM orders WHERE _ingested_at > {mark} AND person_id IS NOT NULL")
            new_sql = compiled.sql if scope is None else f"SELECT person_id FROM ({compiled.sql}) c WHERE person_id IN ({scope})"
            evaluated = (int(engine.scalar(f"SELECT count(*) FROM ({scope}) s") or 0) if scope
                         else int(engine.scalar(f"SELECT count(*) FROM ({audience.universe_sql()}) u") or 0))
            if time.perf_counter() - t0 >= timeout_s:  # between statements the interrupt has nothing to stop
                raise TimeoutError(f"no result within {timeout_s} s")
            entries, exits, total = _apply(engine, name, new_sql, scope, run.run_id,
                                          dt.datetime.now(dt.UTC).replace(tzinfo=None))
            timer.cancel()
            secs = round(time.perf_counter() - t0, 4)
            if new_mark is not None:
                store.put_state(state_key, new_mark.isoformat())
            store.put_run(replace(run, status="ok", finished_at=now_utc().isoformat(), seconds=secs,
                                  attempts=attempt, rows=total, extra={"entries": entries, "exits": exits}))
            return RefreshResult(name, kind, "ok", total, entries, exits, evaluated, secs, run.run_id)
        except Exception as exc:  # recorded, retried, then raised as a visible error
            timer.cancel()
            timed_out = (isinstance(exc, TimeoutError) or time.perf_counter() - t0 >= timeout_s
                         or "interrupt" in str(exc).lower())
            last_error = f"{type(exc).__name__}: {exc}"
            if timed_out or attempt > retries:
                status = "timeout" if timed_out else "failed"
                store.put_run(replace(run, status=status, finished_at=now_utc().isoformat(),
                                      seconds=round(time.perf_counter() - t0, 4), attempts=attempt, error=last_error))
                if isinstance(exc, JingyunError):
                    raise
                raise JingyunError(f"refresh_{status}", f"refresh of {name} {status} after {attempt} attempt(s): "
                                   f"{last_error}", "segment") from None
    raise JingyunError("refresh_failed", last_error, "segment")  # pragma: no cover


def run_status(store: SegmentStore) -> list[RunRecord]:
    """Runs, with any ``running`` one past its deadline shown as ``timeout`` (never stuck)."""
    now = now_utc()
    out = []
    for r in store.runs():
        if r.status == "running" and dt.datetime.fromisoformat(r.deadline_at) < now:
            r = replace(r, status="timeout", error="no result before the deadline (process died?)")
        out.append(r)
    return out


@dataclass(frozen=True)
class SegmentDiff:
    a: str
    b: str
    size_a: int
    size_b: int
    both: int
    only_a: int
    only_b: int
    jaccard: float


def diff(source: Source, a: str, b: str, *, as_of: Any = None) -> SegmentDiff:
    engine = engine_of(source)
    store = SegmentStore(engine.settings)
    ctx = context(engine, store, as_of)
    qa = _compile(engine, store.get_segment(a).rule, ctx).sql
    qb = _compile(engine, store.get_segment(b).rule, ctx).sql
    row = engine.rows(
        f"SELECT count(*) FILTER (WHERE x.person_id IS NOT NULL), count(*) FILTER (WHERE y.person_id IS NOT NULL), "
        "count(*) FILTER (WHERE x.person_id IS NOT NULL AND y.person_id IS NOT NULL) "
        f"FROM ({qa}) x FULL OUTER JOIN ({qb}) y ON x.person_id = y.person_id"
    )[0]
    sa, sb, both = int(row[0]), int(row[1]), int(row[2])
    union = sa + sb - both
    return SegmentDiff(a, b, sa, sb, both, sa - both, sb - both, round(both / union, 6) if union else 0.0)


# -- export ----------------------------------------------------------------------------

EXPORT_COLUMNS = ("person_id", "user_id", "name", "phone", "email", "gender", "birth_date", "province", "city",
                  "address", "member_level", "channel")


def export(source: Source, name: str, path: Path, *, mask: Masker | None, as_of: Any = None,
           purpose: str = "analytics") -> int:
    """Write members with their attributes to CSV or .xlsx.

    ``mask`` is the caller's de-identification gate (:class:`jingyun.security.masking.Masker`) for
    roles that may not see personal data, or None for raw rows: the edge decides, by role. ``purpose``
    (marketing, analytics, personalisation): people without consent for it are left out when the
    workspace requires it (``consent_required``; docs/privacy.md).
    """
    engine = engine_of(source)
    require(engine, "personal_reveal")
    store = SegmentStore(engine.settings)
    compiled = _compile(engine, store.get_segment(name).rule, context(engine, store, as_of))
    cols = ", ".join(f"u.{c}" for c in EXPORT_COLUMNS[1:])
    rows = engine.rows(
        f"SELECT s.person_id, {cols} FROM ({compiled.sql}) s LEFT JOIN (SELECT *, ROW_NUMBER() OVER "
        "(PARTITION BY person_id ORDER BY registered_at, user_id) AS rn FROM users) u "
        "ON u.person_id = s.person_id AND u.rn = 1 ORDER BY s.person_id"
    )
    headers: list[str] = list(EXPORT_COLUMNS)
    # personal columns are encrypted at rest: decrypted here, server-side, then masked below for masked roles
    clear = personal.reveal(writer(engine, "personal_reveal"), [dict(zip(headers, r, strict=True)) for r in rows])
    from jingyun.privacy.consent_gate import consented

    allowed = consented(engine.settings, purpose)  # PIPL: a marketing export holds only people who consented
    if allowed is not None:
        clear = [r for r in clear if r["person_id"] in allowed or r["user_id"] in allowed]
    out_rows: list[list[Any]] = [[r[h] for h in headers] for r in clear]
    if mask is not None:
        mask = replace(mask, today=mask.today or compiled.as_of.date())
        headers, out_rows = mask.named(headers, out_rows, table="users")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet(name[:31])
        ws.append(safe_row(headers))
        for r in out_rows:
            ws.append(safe_row(v.isoformat() if isinstance(v, dt.date) else v for v in r))
        wb.save(path)
    elif path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(safe_row(headers))
            w.writerows(safe_row(r) for r in out_rows)  # formula injection: see security.exports
    else:
        raise JingyunError("bad_path", "export to a .csv or .xlsx file", "path")
    return len(out_rows)
