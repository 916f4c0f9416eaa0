"""Retention and cohorts (留存与同期群分析).

A person's cohort is the period (day, week or month, local calendar) of their
first cohort occurrence inside [from, to]: the first cohort event, the
registration, or the first purchase. ``retained[k]`` counts cohort members
with a return (an event, or a purchase) in period k after their cohort period
— calendar periods in the workspace time zone, so day 0 is the rest of the
cohort day and an event at 23:59 local followed by one at 00:01 is day 1.
Unbounded retention (``on or after period k``) counts members whose last
return is at k or later. Revenue: cumulative order amount per cohort member by
period (LTV curve). This matches ClickHouse ``retention(c0, c1, ..., cN)``
evaluated per person with c0 = "in the cohort" and ck = "returned in period k".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from jingyun.analysis.common import Dimension, Step, as_step, check_range, check_timezone, parse_date, rows
from jingyun.config import DEFAULT_TIMEZONE
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED, Definitions, real_people
from jingyun.metrics.dictionary import dictionary_for
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import local_day, ts_literal, utc_start, with_ctes

CohortKind = Literal["event", "registration", "purchase"]
ReturnKind = Literal["event", "purchase"]
RetPeriod = Literal["day", "week", "month"]
MAX_PERIODS = 400


@dataclass(frozen=True)
class RetentionParams:
    cohort: CohortKind = "event"
    cohort_event: Step | None = None
    returning: ReturnKind = "event"
    return_event: Step | None = None
    periods: int = 7
    period: RetPeriod = "day"
    unbounded: bool = False
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    by: Dimension | None = None
    revenue: bool = False
    timezone: str = DEFAULT_TIMEZONE
    include_test: bool = False

    def __post_init__(self) -> None:
        if self.cohort not in ("event", "registration", "purchase"):
            raise JingyunError("bad_cohort", "cohort must be event, registration or purchase", "cohort")
        if self.cohort == "event":
            if self.cohort_event is None:
                raise JingyunError("bad_cohort", "a cohort by event needs the cohort event", "cohort_event")
            self.cohort_event.validate("cohort_event")
        if self.returning not in ("event", "purchase"):
            raise JingyunError("bad_return", "returning must be event or purchase", "returning")
        if self.returning == "event":
            if self.return_event is None:
                raise JingyunError("bad_return", "retention needs a return event", "return_event")
            self.return_event.validate("return_event")
        if not isinstance(self.periods, int) or not 0 <= self.periods <= MAX_PERIODS:
            raise JingyunError("bad_periods", f"days/periods must be between 0 and {MAX_PERIODS}", "days")
        if self.period not in ("day", "week", "month"):
            raise JingyunError("bad_period", "period must be day, week or month", "period")
        if self.by is not None and self.by.kind != "user" and self.cohort != "event":
            raise JingyunError(
                "bad_dimension", "only users.<column> breakdowns apply to registration/purchase cohorts", "by"
            )
        check_range(self.date_from, self.date_to)
        check_timezone(self.timezone)

    @classmethod
    def create(
        cls,
        cohort_event: str | Step | None = None,
        return_event: str | Step | None = None,
        days: int = 7,
        *,
        cohort: str = "event",
        returning: str = "event",
        period: str = "day",
        unbounded: bool = False,
        date_from: str | dt.date | None = None,
        date_to: str | dt.date | None = None,
        by: str | Dimension | None = None,
        revenue: bool = False,
        timezone: str = DEFAULT_TIMEZONE,
        include_test: bool = False,
    ) -> RetentionParams:
        return cls(
            cohort=cohort,  # type: ignore[arg-type]
            cohort_event=as_step(cohort_event) if cohort_event is not None else None,
            returning=returning,  # type: ignore[arg-type]
            return_event=as_step(return_event) if return_event is not None else None,
            periods=days, period=period, unbounded=unbounded,  # type: ignore[arg-type]
            date_from=parse_date(date_from, "from"), date_to=parse_date(date_to, "to"),
            by=Dimension.parse(by) if isinstance(by, str) else by,
            revenue=revenue, timezone=timezone, include_test=include_test,
        )


def _period_start(date_sql: str, period: RetPeriod) -> str:
    return date_sql if period == "day" else f"CAST(date_trunc('{period}', {date_sql}) AS DATE)"


def _period_index(start: str, later: str, period: RetPeriod) -> str:
    if period == "day":
        return f"date_diff('day', {start}, {later})"
    if period == "week":  # both are Mondays, so the day difference is a multiple of 7
        return f"CAST(date_diff('day', {start}, {later}) / 7 AS BIGINT)"
    return f"((year({later}) - year({start})) * 12 + month({later}) - month({start}))"


def _not_test(p: RetentionParams) -> str:
    return real_people(include_test=p.include_test)


def _range(p: RetentionParams, column: str) -> str:
    parts = ["TRUE"]
    if p.date_from:
        parts.append(f"{column} >= {ts_literal(utc_start(p.date_from, p.timezone))}")
    if p.date_to:
        parts.append(f"{column} < {ts_literal(utc_start(p.date_to + dt.timedelta(days=1), p.timezone))}")
    return " AND ".join(parts)


def _revenue_orders(p: RetentionParams, defs: Definitions) -> str:
    # Purchases and LTV read revenue_orders (paid and kept), as the dictionary's ltv metric does: an order that
    # never turned into revenue (unpaid, cancelled, refunded, returned, no status) is neither.
    return f"SELECT person_id, ts, amount FROM orders WHERE {defs.order_rows('revenue_orders', include_test=p.include_test)}"


def _cohort_ctes(p: RetentionParams, defs: Definitions) -> list[tuple[str, str]]:
    bv = "CAST(NULL AS VARCHAR)"
    if p.cohort == "event":
        assert p.cohort_event is not None
        if p.by is not None and p.by.kind != "user":
            bv = p.by.event_sql()
        occ = (f"SELECT person_id, ts, {bv} AS bv FROM events WHERE {p.cohort_event.sql()} AND {_not_test(p)} "
               f"AND {_range(p, 'ts')}")
    elif p.cohort == "registration":
        occ = (f"SELECT person_id, registered_at AS ts, {bv} AS bv FROM users WHERE registered_at IS NOT NULL "
               f"AND {_not_test(p)} AND {_range(p, 'registered_at')}")
    else:
        occ = f"SELECT person_id, ts, {bv} AS bv FROM ({_revenue_orders(p, defs)}) o WHERE {_range(p, 'ts')}"
    first = "SELECT person_id, min(ts) AS ts0 FROM occ WHERE person_id IS NOT NULL GROUP BY person_id"
    start = _period_start(local_day("f.ts0", p.timezone), p.period)
    if p.by is not None and p.by.kind != "user":
        # The breakdown value is the one on the first cohort occurrence (smallest on ties).
        cohort = (f"SELECT f.person_id, {start} AS cohort, min(o.bv) AS bv FROM f "
                  "JOIN occ o ON o.person_id = f.person_id AND o.ts = f.ts0 GROUP BY f.person_id, f.ts0")
    else:
        cohort = f"SELECT f.person_id, {start} AS cohort, CAST(NULL AS VARCHAR) AS bv FROM f"
    ctes = [("occ", occ), ("f", first), ("c0", cohort)]
    if p.by is not None and p.by.kind == "user":
        ctes.append(("ud", p.by.user_cte()))
        ctes.append(("c", "SELECT c0.person_id, c0.cohort, ud.bvalue AS bv FROM c0 LEFT JOIN ud ON ud.person_id = c0.person_id"))
    else:
        ctes.append(("c", "SELECT person_id, cohort, bv FROM c0"))
    return ctes


def build_retention_sql(p: RetentionParams, defs: Definitions = SHIPPED) -> str:
    """Rows (cohort, bvalue, k, users): k = -1 is the cohort size; otherwise members returning in period k
    (or, unbounded, members whose last return is in period k)."""
    lo = f"ts >= {ts_literal(utc_start(p.date_from, p.timezone))}" if p.date_from else "TRUE"
    if p.returning == "event":
        assert p.return_event is not None
        src = f"SELECT person_id, ts FROM events WHERE {p.return_event.sql()} AND {_not_test(p)} AND {lo}"
    else:
        src = f"SELECT person_id, ts FROM ({_revenue_orders(p, defs)}) o WHERE {lo}"
    rp = _period_start(local_day("ts", p.timezone), p.period)
    ctes = [
        *_cohort_ctes(p, defs),
        ("r", f"SELECT DISTINCT person_id, {rp} AS rp FROM ({src}) s"),
        ("k", f"SELECT c.person_id, c.cohort, c.bv, {_period_index('c.cohort', 'r.rp', p.period)} AS k "
              "FROM c JOIN r ON r.person_id = c.person_id WHERE r.rp >= c.cohort"),
    ]
    if p.unbounded:
        returns = (f"SELECT cohort, bv, least(mk, {p.periods}) AS k, count(*) AS users FROM "
                   "(SELECT person_id, cohort, bv, max(k) AS mk FROM k GROUP BY person_id, cohort, bv) m "
                   f"GROUP BY cohort, bv, least(mk, {p.periods})")
    else:
        returns = f"SELECT cohort, bv, k, count(*) AS users FROM k WHERE k <= {p.periods} GROUP BY cohort, bv, k"
    body = (f"SELECT cohort, bv AS bvalue, -1 AS k, count(*) AS users FROM c GROUP BY cohort, bv\n"
            f"UNION ALL {returns}\nORDER BY cohort, bvalue, k")
    return with_ctes(ctes, body)


def build_revenue_sql(p: RetentionParams, defs: Definitions = SHIPPED) -> str:
    """Order revenue of cohort members by (cohort, bvalue, period k after the cohort period)."""
    lo = f"o.ts >= {ts_literal(utc_start(p.date_from, p.timezone))}" if p.date_from else "TRUE"
    rp = _period_start(local_day("o.ts", p.timezone), p.period)
    body = (
        f"SELECT cohort, bvalue, k, sum(amount) AS revenue FROM ("
        f"SELECT c.cohort, c.bv AS bvalue, {_period_index('c.cohort', rp, p.period)} AS k, o.amount "
        f"FROM c JOIN ({_revenue_orders(p, defs)}) o ON o.person_id = c.person_id WHERE {lo} AND {rp} >= c.cohort) x "
        f"WHERE k <= {p.periods} GROUP BY cohort, bvalue, k ORDER BY cohort, bvalue, k"
    )
    return with_ctes(_cohort_ctes(p, defs), body)


@dataclass
class Cohort:
    cohort: str  # first local day of the cohort period, YYYY-MM-DD
    size: int
    retained: list[int]  # persons per period 0..N
    rate: list[float]
    value: str | None = None  # breakdown value (None without a breakdown)
    revenue_per_member: list[float] | None = None  # cumulative, by period 0..N (LTV curve)


@dataclass
class RetentionResult:
    period: str
    periods: int
    unbounded: bool
    cohorts: list[Cohort]
    breakdown_by: str | None = None
    sql: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_retention(backend: Backend, p: RetentionParams) -> RetentionResult:
    """Cohort sizes and retained persons per period (plus LTV curves when ``revenue``)."""
    defs = dictionary_for(backend).definitions  # the workspace's revenue_orders
    sql = build_retention_sql(p, defs)
    n = p.periods
    sizes: dict[tuple[str, str | None], int] = {}
    counts: dict[tuple[str, str | None], list[int]] = {}
    for r in rows(backend, sql):
        key = (str(r["cohort"]), None if r["bvalue"] is None else str(r["bvalue"]))
        if int(r["k"]) < 0:
            sizes[key] = int(r["users"])
        else:
            counts.setdefault(key, [0] * (n + 1))[int(r["k"])] += int(r["users"])
    ran = [sql]
    revenue: dict[tuple[str, str | None], list[Decimal]] = {}
    if p.revenue:
        rsql = build_revenue_sql(p, defs)
        ran.append(rsql)
        for r in rows(backend, rsql):
            key = (str(r["cohort"]), None if r["bvalue"] is None else str(r["bvalue"]))
            revenue.setdefault(key, [Decimal(0)] * (n + 1))[int(r["k"])] += Decimal(str(r["revenue"] or 0))
    cohorts = []
    for key in sorted(sizes, key=lambda k: (k[0], k[1] or "")):
        size = sizes[key]
        kept = counts.get(key, [0] * (n + 1))
        if p.unbounded:  # persons whose last return is at j count for every k <= j
            kept = [sum(kept[k:]) for k in range(n + 1)]
        ltv = None
        if p.revenue:
            cum, ltv = Decimal(0), []
            for amount in revenue.get(key, [Decimal(0)] * (n + 1)):
                cum += amount
                ltv.append(round(float(cum) / size, 2) if size else 0.0)
        value = (key[1] if key[1] is not None else "(none)") if p.by else None
        cohorts.append(Cohort(key[0], size, kept, [round(x / size, 6) if size else 0.0 for x in kept], value, ltv))
    return RetentionResult(p.period, n, p.unbounded, cohorts, p.by.label if p.by else None, ran)
