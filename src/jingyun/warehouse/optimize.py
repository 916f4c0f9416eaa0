"""``jingyun optimize``: lay fact tables out in time order and rebuild the derived summaries.

Almost every question is about a time window ("viewed 服饰 in the last 30 days",
"no payment in 7 days"). DuckDB keeps each column's min/max per row group (zone
maps) and skips the row groups a filter on ``ts`` cannot match — but only if the
rows are stored roughly in time order. Live data arrives that way; backfills,
replays and files from several sources do not. ``optimize`` rewrites each fact
table sorted by its sort key (``SORT_KEYS``: events by name then time, the others
by time; ClickHouse's ``ORDER BY`` key, Delta's ``OPTIMIZE``), each in one
transaction, then rebuilds the per-person order summary
(:mod:`jingyun.warehouse.person_orders`). Rows, columns and types are unchanged;
only their order on disk is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from jingyun.errors import JingyunError
from jingyun.schema.tables import get_table
from jingyun.warehouse import person_orders
from jingyun.warehouse.connection import Warehouse

DEFAULT_TABLES = ("events", "orders")
# Events by name, then time (PostHog's and most ClickHouse event schemas lead with the
# event too): nearly every question names its events, so "view_product in the last 30
# days" reads one name's slice of the window and "no pay in 7 days" a sliver. Other
# fact tables by their time column.
SORT_KEYS: dict[str, tuple[str, ...]] = {"events": ("event", "ts")}


@dataclass(frozen=True)
class OptimizeReport:
    table: str
    rows: int
    sorted_by: str
    seconds: float


def optimize(wh: Warehouse, tables: tuple[str, ...] = DEFAULT_TABLES, *, summary: bool = True) -> list[OptimizeReport]:
    """Rewrite each table in time order; then (``summary``) rebuild ``person_orders``."""
    if wh.read_only:
        raise JingyunError("read_only", "the warehouse is open read-only", "home")
    specs = []
    for name in tables:
        spec = get_table(name)
        if not spec.ts_column:
            raise JingyunError("bad_table", f"table {name} has no time column to sort by", "table")
        specs.append(spec)
    reports = []
    con = wh.con
    # the sorted INSERT must keep its order on disk (the warehouse turns this off for loads)
    con.execute("SET preserve_insertion_order = true")
    try:
        for spec in specs:
            started = time.perf_counter()
            t, tmp = f'"{spec.name}"', f'"{spec.name}__sorted"'  # names from the schema, not from users
            sort_cols = SORT_KEYS.get(spec.name, (str(spec.ts_column),))
            keys = ", ".join(f'"{k}"' for k in dict.fromkeys((*sort_cols, *spec.key)))  # the key: a stable order
            with wh.transaction():
                con.execute(f"DROP TABLE IF EXISTS {tmp}")
                con.execute(f"CREATE TABLE {tmp} AS SELECT * FROM {t} ORDER BY {keys}")
                rows = int(con.execute(f"SELECT count(*) FROM {tmp}").fetchall()[0][0])
                con.execute(f"DROP TABLE {t}")
                con.execute(f"ALTER TABLE {tmp} RENAME TO {t}")
            reports.append(OptimizeReport(spec.name, rows, ", ".join(sort_cols), round(time.perf_counter() - started, 3)))
    finally:
        con.execute("SET preserve_insertion_order = false")
    if summary:
        started = time.perf_counter()
        state = person_orders.rebuild(wh)
        reports.append(OptimizeReport(person_orders.TABLE, state.rows, "(rebuilt)", round(time.perf_counter() - started, 3)))
    compact(wh)  # hand the old row groups' space back now
    return reports


# DuckDB's default number of vacuum tasks per checkpoint (``max_vacuum_tasks``)
VACUUM_TASKS = 100


def compact(wh: Warehouse) -> bool:
    """A checkpoint that vacuums: merges partly filled row groups and drops deleted rows' space.

    The service turns vacuuming off for its own checkpoints (:class:`jingyun.api.writer.IngestWriter`):
    DuckDB blocks every commit while a checkpoint runs, and a vacuuming one after a big file ingest took
    seconds, so HTTP ingestion stalled. Compaction happens here instead, at a time chosen for it (the
    scheduled ``optimize`` job, 04:30 by default). False for an in-memory warehouse (nothing to do)."""
    con = wh.con
    on_disk = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    if not (on_disk and on_disk[0][0]):
        return False
    before = con.execute("SELECT current_setting('max_vacuum_tasks')").fetchall()[0][0]
    con.execute(f"SET max_vacuum_tasks = {VACUUM_TASKS}")
    try:
        con.execute("CHECKPOINT")
    finally:
        con.execute(f"SET max_vacuum_tasks = {int(before)}")
    return True
