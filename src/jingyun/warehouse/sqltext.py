"""The SQL toolkit (SQL 工具): every value, name and time that reaches portable SQL is written here.

The portable layer has no bind parameters on Spark, so parameter objects are
turned into SQL text; this module is the one place that text is made:

- :func:`quote` — a literal (strings single-quoted with quotes doubled); :func:`literal` — the same,
  with datetimes and dates as TIMESTAMP/DATE literals;
- :func:`ident` — a double-quoted identifier; :func:`json_key` — a key in a ``$.key`` JSON path;
- :func:`ts_literal` / :func:`date_literal` — timestamps at one precision, the microsecond
  (whole seconds are written without a fraction, so the text of most queries stays short);
- :func:`with_ctes` — ``WITH a AS (...), b AS (...) body``;
- :func:`local_ts`, :func:`local_date`, :func:`local_day` — a naive-UTC column's wall-clock time
  and calendar day in the workspace time zone, written the way DuckDB and Spark agree on;
- :func:`utc_start` — the naive-UTC instant a local day begins (window bounds are computed once,
  in Python, so the SQL compares the raw column and engines can skip row groups).

Everything written here stays inside the subset :mod:`jingyun.warehouse.portable` accepts.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo


def quote(value: Any) -> str:
    """A SQL literal: NULL, TRUE/FALSE, numbers as written, anything else as single-quoted text."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A double-quoted identifier (a column or table name that came from data), quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def json_key(name: str) -> str:
    """A key as it stands in a ``$.key`` JSON path: bare when plain ASCII, else double-quoted."""
    if name.replace("_", "").isalnum() and name.isascii():
        return name
    return '"' + name.replace('"', '\\"') + '"'


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def ts_literal(value: dt.datetime) -> str:
    """``TIMESTAMP '2026-10-31 00:00:00.000001'``: exact to the microsecond; an aware value is converted to
    naive UTC first (the warehouse stores naive UTC)."""
    return f"TIMESTAMP '{_naive_utc(value).isoformat(sep=' ')}'"


def date_literal(value: dt.date) -> str:
    """``DATE '2026-10-31'`` (a datetime is cut to its date)."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return f"DATE '{day.isoformat()}'"


def literal(value: Any) -> str:
    """A typed literal: datetimes and dates as TIMESTAMP/DATE, anything else as :func:`quote` writes it."""
    if isinstance(value, dt.datetime):
        return ts_literal(value)
    if isinstance(value, dt.date):
        return date_literal(value)
    return quote(value)


def with_ctes(ctes: Iterable[tuple[str, str]], body: str) -> str:
    """``WITH name AS (sql), ... body``: how every builder chains its steps."""
    return "WITH " + ",\n".join(f"{name} AS (\n  {sql}\n)" for name, sql in ctes) + "\n" + body


def utc_start(day: dt.date, timezone: str) -> dt.datetime:
    """The naive-UTC instant at which local ``day`` begins (bounds computed once, in Python)."""
    local = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def local_ts(column: str, timezone: str) -> str:
    """Local wall-clock time of a naive-UTC column, written so both engines agree."""
    return f"(({column} AT TIME ZONE 'UTC') AT TIME ZONE {quote(timezone)})"


def local_date(column: str, timezone: str) -> str:
    """Local calendar date of a naive-UTC column (a time-zone conversion per row)."""
    return f"CAST({local_ts(column, timezone)} AS DATE)"


# Fixed offsets are trusted up to here only: tzdata may still change any zone's rules later on.
_FAST_UNTIL = dt.datetime(2100, 1, 1)


@functools.lru_cache(maxsize=64)
def constant_offset(timezone: str) -> tuple[dt.datetime, int] | None:
    """(T, seconds): the zone's UTC offset is ``seconds`` at every instant from naive-UTC T up to 2100, or None.

    Found by walking back from 2100 one day at a time until the offset differs (rule changes are never
    undone within a day). Asia/Shanghai: +08:00 since 1991; zones with daylight saving get a T in 2099."""
    zone = ZoneInfo(timezone)
    end = _FAST_UNTIL.replace(tzinfo=dt.UTC)
    offset = end.astimezone(zone).utcoffset()
    if offset is None:
        return None
    t = end
    while t.year > 1900:
        prev = t - dt.timedelta(days=1)
        if prev.astimezone(zone).utcoffset() != offset:
            break
        t = prev
    return t.replace(tzinfo=None), int(offset.total_seconds())


def local_day(column: str, timezone: str) -> str:
    """Local calendar date of a naive-UTC column, as :func:`local_date`, but cheap where the zone has kept one
    offset: a shift instead of a time-zone conversion per row (the measurements are in bench/results/)."""
    full = local_date(column, timezone)
    fixed = constant_offset(timezone)
    if fixed is None or fixed[0] >= _FAST_UNTIL - dt.timedelta(days=366):
        return full
    since, seconds = fixed
    return (f"CASE WHEN {column} >= {ts_literal(since)} AND {column} < {ts_literal(_FAST_UNTIL)} "
            f"THEN CAST({column} + INTERVAL '{seconds}' SECOND AS DATE) ELSE {full} END")
