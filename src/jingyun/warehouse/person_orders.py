"""The per-person order summary: one row per person over their valid orders.

RFM and every audience condition on all-time order aggregates ("lifetime spend
>= 200") group the whole ``orders`` table by person. ``person_orders`` keeps that
grouping maintained, so they read ~1 row per customer instead:

- ``rebuild`` computes it in full (``jingyun optimize``, the demo, the schedule);
- once it exists, the ingestion pipeline and identity mapping keep it current in
  the same transaction as their write (``refresh_persons``: the touched persons'
  rows are recomputed from ``orders``, so an incremental refresh equals a rebuild);
- readers call ``usable``: the summary is used only when it exists, its stamp
  (row count and largest rowid of ``orders``) still matches — which catches rows
  inserted or deleted by plain SQL outside the pipeline — and the question's
  ``as_of`` lies after every order in it. Otherwise they group ``orders`` as before.

Plain-SQL ``UPDATE`` of ``orders`` changes no stamp: run ``jingyun optimize``
(or :func:`rebuild`) after one. Jingyun's own writers are all covered.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import duckdb

from jingyun.metrics.definitions import SHIPPED
from jingyun.warehouse.connection import Warehouse

# A customer's purchases (RFM, lifecycle, audiences, this summary): the valid_orders
# definition over real people (metrics/definitions.py).
VALID_ORDER = SHIPPED.order_rows("valid_orders")

TABLE = "person_orders"

_DDL = f"""CREATE TABLE {TABLE} (
  person_id VARCHAR NOT NULL,
  orders BIGINT NOT NULL,
  priced_orders BIGINT NOT NULL,
  amount DECIMAL(18,2),  -- a person's total below 10^16 yuan: 64-bit sums and casts, twice as fast as 38 digits
  max_amount DECIMAL(18,2),
  coupon_orders BIGINT NOT NULL,
  first_ts TIMESTAMP,
  last_ts TIMESTAMP
)"""

_STATE_DDL = """CREATE TABLE IF NOT EXISTS _derived_state (
  name VARCHAR PRIMARY KEY,
  source_rows BIGINT,
  source_max_rowid BIGINT,
  max_ts TIMESTAMP,
  refreshed_at TIMESTAMP,
  seconds DOUBLE
)"""

_SELECT = (
    "SELECT person_id, count(*) AS orders, count(amount) AS priced_orders, CAST(sum(amount) AS DECIMAL(18,2)) AS amount, "
    "max(amount) AS max_amount, "
    "count(coupon_id) AS coupon_orders, min(ts) AS first_ts, max(ts) AS last_ts FROM orders "
    f"WHERE person_id IS NOT NULL AND {VALID_ORDER}"
)


@dataclass(frozen=True)
class SummaryState:
    exists: bool
    current: bool
    rows: int
    max_ts: dt.datetime | None
    refreshed_at: dt.datetime | None
    seconds: float | None


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE NOT temporary AND schema_name = 'main' AND table_name = ?", [TABLE]
    ).fetchall()
    return bool(found[0][0])


def _stamp(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    rows, max_rowid = con.execute("SELECT count(*), coalesce(max(rowid), -1) FROM orders").fetchall()[0]
    return int(rows), int(max_rowid)


def _record(con: duckdb.DuckDBPyConnection, seconds: float | None) -> None:
    rows, max_rowid = _stamp(con)
    con.execute(_STATE_DDL)
    con.execute(
        f"""INSERT OR REPLACE INTO _derived_state
            SELECT ?, ?, ?, (SELECT max(last_ts) FROM {TABLE}), now() AT TIME ZONE 'UTC',
                   coalesce(?, (SELECT seconds FROM _derived_state WHERE name = ?))""",
        [TABLE, rows, max_rowid, seconds, TABLE],
    )


def rebuild(wh: Warehouse) -> SummaryState:
    """Compute the summary in full (one GROUP BY of ``orders``), in one transaction."""
    started = time.perf_counter()
    with wh.transaction() as con:
        con.execute(f"DROP TABLE IF EXISTS {TABLE}")
        con.execute(_DDL)
        con.execute(f"INSERT INTO {TABLE} {_SELECT} GROUP BY person_id")
        _record(con, time.perf_counter() - started)
    return state(wh)


def refresh_persons(con: duckdb.DuckDBPyConnection, persons_sql: str, params: list[object] | None = None) -> None:
    """Recompute the rows of the persons ``persons_sql`` selects (one column), when the
    summary exists; call it inside the transaction that changed their orders. Naming
    a person who did not change costs a little and changes nothing.

    The latest order time is updated here, in the transaction; the stamp is not: rows
    inserted in an open transaction have provisional rowids, so a writer that inserts
    calls :func:`restamp` after its commit (see :func:`stamp_matches`)."""
    if not _exists(con):
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE _po_touched AS SELECT DISTINCT p FROM ({persons_sql}) t(p) "
                "WHERE p IS NOT NULL", params or [])
    con.execute(f"DELETE FROM {TABLE} WHERE person_id IN (SELECT p FROM _po_touched)")
    con.execute(f"INSERT INTO {TABLE} {_SELECT} AND person_id IN (SELECT p FROM _po_touched) GROUP BY person_id")
    con.execute("DROP TABLE _po_touched")
    con.execute(f"UPDATE _derived_state SET max_ts = (SELECT max(last_ts) FROM {TABLE}) WHERE name = ?", [TABLE])


def stamp_matches(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the summary exists and its stamp matches ``orders`` now. A writer that
    inserts orders asks this before its transaction and, if so, calls :func:`restamp`
    after the commit: a summary that was stale before stays stale (a crash between the
    commit and the restamp leaves it stale too, which only means it is not used)."""
    if not _exists(con):
        return False
    try:
        row = con.execute("SELECT source_rows, source_max_rowid FROM _derived_state WHERE name = ?", [TABLE]).fetchall()
    except duckdb.CatalogException:
        return False
    return bool(row) and (int(row[0][0]), int(row[0][1])) == _stamp(con)


def restamp(con: duckdb.DuckDBPyConnection) -> None:
    """Record the stamp of ``orders`` as it is now (outside any write transaction)."""
    rows, max_rowid = _stamp(con)
    con.execute("UPDATE _derived_state SET source_rows = ?, source_max_rowid = ? WHERE name = ?",
                [rows, max_rowid, TABLE])


def state(wh: Warehouse) -> SummaryState:
    con = wh.con
    if not _exists(con):
        return SummaryState(False, False, 0, None, None, None)
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE NOT temporary AND table_name = '_derived_state'"
    ).fetchall()[0][0]
    row = con.execute(
        "SELECT source_rows, source_max_rowid, max_ts, refreshed_at, seconds FROM _derived_state WHERE name = ?", [TABLE]
    ).fetchall() if found else []
    if not row:
        return SummaryState(True, False, 0, None, None, None)
    rows, max_rowid, max_ts, refreshed_at, seconds = row[0]
    current = (int(rows), int(max_rowid)) == _stamp(con)
    n = int(con.execute(f"SELECT count(*) FROM {TABLE}").fetchall()[0][0])
    return SummaryState(True, current, n, max_ts, refreshed_at, seconds)


def usable(wh: Warehouse, as_of: dt.datetime) -> bool:
    """Whether a question about all orders up to ``as_of`` (naive UTC, inclusive) can read the summary.
    One catalog-and-stamp query: it runs before every RFM and audience that could use it."""
    try:  # naming the summary table in the query raises when it is missing
        row = wh.con.execute(
            f"""SELECT s.source_rows = o.n AND s.source_max_rowid = o.r AND (s.max_ts IS NULL OR s.max_ts <= ?)
                FROM _derived_state s, (SELECT count(*) AS n, coalesce(max(rowid), -1) AS r FROM orders) o
                WHERE s.name = ? AND (SELECT count(*) FROM {TABLE}) >= 0""",
            [as_of, TABLE],
        ).fetchall()
    except duckdb.CatalogException:  # no summary built in this warehouse
        return False
    return bool(row and row[0][0])
