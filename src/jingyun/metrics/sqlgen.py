"""Compile metric leaves to one portable SQL query (DESIGN §3).

Every leaf of a metric (a ratio has two, NPS three) becomes a block of CTEs
and one grouped SELECT with the same four columns — ``part`` (``leaf:part``),
``b`` (bucket start date), ``dv`` (breakdown value) and ``v`` (DECIMAL) — and
the blocks are joined with ``UNION ALL``: one query per metric, grain and
breakdown. Python only divides the parts (and averages per-period counts), so
the database does all aggregation. All values reach SQL through
the SQL toolkit (:mod:`jingyun.warehouse.sqltext`) and identifier checks made when the
dictionary was validated.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jingyun.errors import JingyunError
from jingyun.metrics.definitions import real_people
from jingyun.metrics.model import Leaf, Source
from jingyun.schema.tables import USERS
from jingyun.warehouse.filters import Filter
from jingyun.warehouse.sqltext import date_literal, local_day, ts_literal, utc_start, with_ctes

_NUM = "DECIMAL(38,6)"


@dataclass(frozen=True)
class Frame:
    """What every leaf shares: range, grain, breakdown, time zone, test policy."""

    date_from: dt.date
    date_to: dt.date
    grain: str
    by: str | None
    timezone: str
    include_test: bool = False
    # Several disjoint periods computed in one query (a scorecard's current, previous and
    # year-ago periods); empty means the one range [date_from, date_to].
    windows: tuple[tuple[dt.date, dt.date], ...] = ()

    @property
    def spans(self) -> tuple[tuple[dt.date, dt.date], ...]:
        return self.windows or ((self.date_from, self.date_to),)

    def bucket(self, day_sql: str) -> str:
        if self.grain == "total" and len(self.spans) > 1:
            # The whole-period bucket of each window is labelled by its first day.
            whens = " ".join(f"WHEN {day_sql} BETWEEN {date_literal(a)} AND {date_literal(b)} THEN {date_literal(a)}"
                             for a, b in self.spans)
            return f"CASE {whens} END"
        return period_sql(day_sql, self.grain, self.date_from)

    def day_in(self, day_sql: str) -> str:
        """The local day falls in one of the windows."""
        if len(self.spans) == 1:
            return f"{day_sql} >= {date_literal(self.date_from)} AND {day_sql} <= {date_literal(self.date_to)}"
        return "(" + " OR ".join(f"{day_sql} BETWEEN {date_literal(a)} AND {date_literal(b)}" for a, b in self.spans) + ")"


def period_sql(day_sql: str, grain: str, start: dt.date) -> str:
    if grain == "day":
        return day_sql
    if grain in ("week", "month"):
        return f"CAST(date_trunc('{grain}', {day_sql}) AS DATE)"
    return date_literal(start)


def day_sql(src: Source, alias: str, timezone: str) -> str:
    col = f"{alias}.{src.time}"
    if src.time_type == "date":
        return col
    # Local calendar day, written the portable way (DuckDB and Spark agree); a shift instead of a
    # time-zone conversion per row where the zone has kept one offset (bench/results/notes.md).
    return local_day(col, timezone)


def range_sql(src: Source, alias: str, frame: Frame, *, upper: bool = True) -> str:
    """Rows in the frame's range (in one of its windows); ``upper=False``: from its first day on."""
    if not upper:
        return _span_sql(src, alias, frame.date_from, frame.date_to, frame.timezone, upper=False)
    conds = [_span_sql(src, alias, a, b, frame.timezone) for a, b in frame.spans]
    # On the raw time column, so the engine can still skip row groups by their min/max.
    return conds[0] if len(conds) == 1 else "(" + " OR ".join(f"({c})" for c in conds) + ")"


def _span_sql(src: Source, alias: str, lo_day: dt.date, hi_day: dt.date, timezone: str, *, upper: bool = True) -> str:
    col = f"{alias}.{src.time}"
    if src.time_type == "date":
        lo, hi = f"{col} >= {date_literal(lo_day)}", f"{col} <= {date_literal(hi_day)}"
    else:
        end = hi_day + dt.timedelta(days=1)
        lo = f"{col} >= {ts_literal(utc_start(lo_day, timezone))}"
        hi = f"{col} < {ts_literal(utc_start(end, timezone))}"
    return f"{lo} AND {hi}" if upper else lo


def column_sql(src: Source, alias: str, column: str) -> str:
    """A source column, ``users.<col>`` (via the ``_ud_<col>`` CTE) or ``properties.<key>``."""
    head, _, rest = column.partition(".")
    if column in src.columns:
        return f"{alias}.{column}"
    if head in ("properties", "attributes") and src.extras:
        return f"json_extract_string({alias}.{src.extras}, '$.{rest}')"
    raise JingyunError("bad_metric", f"{src.name} has no column {column!r}", "column")


def filter_sql(src: Source, alias: str, flt: Filter) -> str:
    head, _, rest = flt.field.partition(".")
    if head == "users" and flt.field not in src.columns:
        # A person passes when one of their users rows matches (identity merges can give several).
        inner = filter_sql(_USERS_SRC, "u", Filter(rest, flt.op, flt.value))
        return f"{alias}.{src.person} IN (SELECT u.person_id FROM users u WHERE {inner})"
    col = column_sql(src, alias, flt.field)
    return flt.json_sql(col) if col.startswith("json_extract_string") else flt.sql(col)


_USERS_SRC = Source("users", "users", "registered_at", "ts", USERS.column_names, extras=USERS.extras_column)


def check_by(src: Source, by: str, metric: str) -> None:
    head, _, rest = by.partition(".")
    ok = (by in src.columns or (head == "users" and src.person is not None and bool(rest))
          or (head in ("properties", "attributes") and src.extras is not None and bool(rest)))
    if not ok:
        extra = ", users.<column>" if src.person else ""
        extra += f", properties.<key> (the {src.extras} JSON)" if src.extras else ""
        raise JingyunError(
            "bad_dimension",
            f"metric {metric} reads {src.name}, which cannot be broken down by {by!r}; "
            f"use a column of {src.name} ({', '.join(c for c in src.columns if not c.startswith('_'))}){extra}",
            "by",
        )


def dim_sql(src: Source, alias: str, by: str | None) -> tuple[str, str]:
    """(value expression, join) for the breakdown on rows of ``src``."""
    if by is None:
        return "CAST(NULL AS VARCHAR)", ""
    head, _, _rest = by.partition(".")
    if head == "users" and by not in src.columns:
        return "_ud.v", f" LEFT JOIN _ud ON _ud.person_id = {alias}.{src.person}"
    return f"CAST({column_sql(src, alias, by)} AS VARCHAR)", ""


def users_dim_cte(by: str | None) -> list[tuple[str, str]]:
    if by is None or not by.startswith("users."):
        return []
    col = by.partition(".")[2]
    # A person can own several users rows after identity merges: take the smallest value, deterministically.
    return [("_ud", f"SELECT person_id, min(CAST({col} AS VARCHAR)) AS v FROM users GROUP BY person_id")]


def base_rows(src: Source, filters: tuple[Filter, ...], frame: Frame, *, ranged: bool, per: str | None = None) -> str:
    """Rows of ``src`` with ``_d`` (local day), ``_b`` (bucket), ``_pb`` (per-period) and ``_dv`` (breakdown)."""
    d = day_sql(src, "t", frame.timezone)
    dv, join = dim_sql(src, "t", frame.by)
    conds = []
    if src.test and not frame.include_test:
        conds.append(real_people("t", column=src.test))
    conds += [rule.where("t") for rule in src.rules]
    conds += [filter_sql(src, "t", f) for f in (*src.filters, *filters)]
    if ranged:
        conds.append(range_sql(src, "t", frame))
    where = " AND ".join(conds) or "TRUE"
    # The local day once, in an inner query: bucket expressions refer to it rather than repeat the
    # time-zone arithmetic (a scorecard's query would otherwise be mostly that text, parsed by the
    # portability check on every run).
    inner = f"(SELECT t.*, {d} AS _d, {dv} AS _dv FROM {src.sql} t{join} WHERE {where}) r"
    if per:
        return f"SELECT r.*, {frame.bucket('r._d')} AS _b, {period_sql('r._d', per, frame.date_from)} AS _pb FROM {inner}"
    return f"SELECT b.*, b._b AS _pb FROM (SELECT r.*, {frame.bucket('r._d')} AS _b FROM {inner}) b"


def _select(i: int, part: str, value: str, frm: str, group: bool = True) -> str:
    tail = " GROUP BY _b, _dv" if group else ""
    return f"SELECT '{i}:{part}' AS part, _b AS b, _dv AS dv, CAST({value} AS {_NUM}) AS v FROM {frm}{tail}"


def _first_rows(cte: str, src: Source) -> str:
    """Each person's first-ever rows (over all history: a customer is new once)."""
    return (f"SELECT * FROM (SELECT x.*, min(x.{src.time}) OVER (PARTITION BY x.{src.person}) AS _t0 FROM {cte} x) f "
            f"WHERE f.{src.time} = f._t0")


def leaf_sql(i: int, leaf: Leaf, sources: dict[str, Source], frame: Frame) -> tuple[list[tuple[str, str]], list[str]]:
    """(CTEs, SELECTs) computing the parts of leaf ``i``."""
    src = sources[leaf.source]
    s = f"_s{i}"
    history = leaf.first or leaf.kind in ("interval", "retention", "cohort_revenue")
    if leaf.filters and len(frame.spans) > 1:
        # A scorecard's leaves over one source (CSAT, NPS on feedback) read the source's rows once and
        # filter them apart: the shared CTE is found by its text (see compute.build_periods_query).
        ctes = [(f"_t{i}", base_rows(src, (), frame, ranged=not history, per=leaf.per)),
                (s, f"SELECT * FROM _t{i} t WHERE {' AND '.join(filter_sql(src, 't', f) for f in leaf.filters)}")]
    else:
        ctes = [(s, base_rows(src, leaf.filters, frame, ranged=not history, per=leaf.per))]
    kind = leaf.kind
    if kind == "count":
        return ctes, [_select(i, "value", "count(*)", s)]
    if kind == "sum":
        return ctes, [_select(i, "value", f"sum({leaf.column})", s)]
    if kind == "avg":
        return ctes, [_select(i, "sum", f"sum({leaf.column})", s), _select(i, "n", f"count({leaf.column})", s)]
    if kind == "sql":
        return ctes, [_select(i, "value", str(leaf.expression), s)]
    if kind == "count_distinct":
        col = str(leaf.column)
        rows = s
        if leaf.first:
            ctes.append((f"_f{i}", f"SELECT * FROM ({_first_rows(s, src)}) r WHERE {range_sql(src, 'r', frame)}"))
            rows = f"_f{i}"
        # Entities per (bucket, per-period, breakdown) with at least min_rows rows, then summed over per-periods.
        ctes.append((f"_e{i}", f"SELECT _b, _pb, _dv, {col} FROM {rows} WHERE {col} IS NOT NULL "
                               f"GROUP BY _b, _pb, _dv, {col} HAVING count(*) >= {int(leaf.min_rows)}"))
        ctes.append((f"_n{i}", f"SELECT _b, _pb, _dv, count(*) AS n FROM _e{i} GROUP BY _b, _pb, _dv"))
        return ctes, [_select(i, "value", "sum(n)", f"_n{i}")]
    if kind == "interval":
        col = str(leaf.column)
        # The earlier row may precede the range: the gap belongs to the later row's bucket.
        ctes.append((f"_g{i}", f"SELECT * FROM (SELECT x.*, date_diff('day', lag(x._d) OVER (PARTITION BY x.{col} "
                               f"ORDER BY x.{src.time}), x._d) AS _gap FROM {s} x WHERE x.{col} IS NOT NULL) g "
                               f"WHERE g._gap IS NOT NULL AND {range_sql(src, 'g', frame)}"))
        return ctes, [_select(i, "sum", "sum(_gap)", f"_g{i}"), _select(i, "n", "count(_gap)", f"_g{i}")]
    return _cohort_sql(i, leaf, src, sources[str(leaf.returns)], frame, ctes)


def _cohort_sql(i: int, leaf: Leaf, src: Source, ret: Source, frame: Frame,
                ctes: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    s = f"_s{i}"
    # Cohort: each person's first row (over all history) whose local day falls in the range.
    ctes.append((f"_c{i}", f"SELECT {src.person} AS pid, min(_d) AS _cd, min(_dv) AS _dv "
                           f"FROM ({_first_rows(s, src)}) f GROUP BY {src.person}"))
    ctes.append((f"_k{i}", f"SELECT pid, _cd, _dv, {frame.bucket('_cd')} AS _b FROM _c{i} "
                           f"WHERE {frame.day_in('_cd')}"))
    rconds = [range_sql(ret, "t", frame, upper=False)]
    if ret.test and not frame.include_test:
        rconds.append(real_people("t", column=ret.test))
    rconds += [rule.where("t") for rule in ret.rules]
    rconds += [filter_sql(ret, "t", f) for f in (*ret.filters, *leaf.returns_filters)]
    rday = day_sql(ret, "t", frame.timezone)
    where = " AND ".join(rconds)
    if leaf.kind == "retention":
        n = int(leaf.day)
        ctes.append((f"_r{i}", f"SELECT DISTINCT t.{ret.person} AS pid, {rday} AS _rd FROM {ret.sql} t WHERE {where}"))
        ctes.append((f"_m{i}", f"SELECT max(_rd) AS _mx FROM _r{i}"))
        # Only cohorts whose day N has been observed (day N on or before the last return day) count.
        ctes.append((f"_x{i}", f"SELECT k._b, k._dv, k.pid, r.pid AS rpid FROM _k{i} k CROSS JOIN _m{i} m "
                               f"LEFT JOIN _r{i} r ON r.pid = k.pid AND date_diff('day', k._cd, r._rd) = {n} "
                               f"WHERE date_diff('day', k._cd, m._mx) >= {n}"))
        return ctes, [_select(i, "cohort", "count(pid)", f"_x{i}"), _select(i, "retained", "count(rpid)", f"_x{i}")]
    h = int(leaf.horizon_days)
    ctes.append((f"_r{i}", f"SELECT t.{ret.person} AS pid, {rday} AS _rd, t.{leaf.column} AS _v "
                           f"FROM {ret.sql} t WHERE {where}"))
    ctes.append((f"_x{i}", f"SELECT k._b, k._dv, k.pid, sum(r._v) AS amt FROM _k{i} k LEFT JOIN _r{i} r "
                           f"ON r.pid = k.pid AND date_diff('day', k._cd, r._rd) BETWEEN 0 AND {h - 1} "
                           "GROUP BY k._b, k._dv, k.pid"))
    return ctes, [_select(i, "cohort", "count(pid)", f"_x{i}"), _select(i, "revenue", "sum(coalesce(amt, 0))", f"_x{i}")]


def assemble(ctes: list[tuple[str, str]], selects: list[str]) -> str:
    body = "\nUNION ALL\n".join(f"SELECT * FROM ({sel}) q{j}" for j, sel in enumerate(selects))
    return with_ctes(ctes, body)
