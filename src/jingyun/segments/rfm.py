"""RFM (最近一次消费 / 消费频率 / 消费金额) scoring and the 8 named groups.

Recency is whole days from the last valid order to ``as_of``; frequency the
number of valid orders; monetary their total amount (cancelled, refunded and
returned orders and test accounts are left out).

Scoring, ``quantile``: score = 1 + floor(bins * w / n), where n is the number of
customers and w the number with a strictly *worse* value (a larger recency, a
smaller frequency or amount). Tie rule: equal values always share one score, the
one their lowest-ranked member would get (SQL ``RANK()``), so the score of a
value depends only on how many people are strictly worse — never on row order,
and the same on every engine. With n = 10 distinct values and 5 bins, the two
best get 5, the two worst 1.

Scoring, ``threshold``: fixed cut-offs, e.g. recency [30, 60, 90, 180] days gives 5
for <= 30 days ... 1 for > 180; frequency/amount [2, 3, 5, 8] gives 1 + the number of
cut-offs the value reaches.

Groups: each of R, F, M is "high" when its score is above the split (default: the
mean score over customers, the usual 与平均值比较 rule), giving 8 groups.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from jingyun.errors import JingyunError
from jingyun.segments.common import VALID_ORDER, as_naive_utc, last_data_time, ts_literal
from jingyun.warehouse import Warehouse, portable

Scoring = Literal["quantile", "threshold"]

# (R high, F high, M high) -> key, zh, en
GROUPS: dict[tuple[bool, bool, bool], tuple[str, str, str]] = {
    (True, True, True): ("champions", "重要价值客户", "Champions (important value)"),
    (False, True, True): ("loyal_at_risk", "重要保持客户", "Loyal at risk (important to retain)"),
    (True, False, True): ("potential", "重要发展客户", "High-spend potential (important to develop)"),
    (False, False, True): ("at_risk", "重要挽留客户", "At risk (important to win back)"),
    (True, True, False): ("loyal_low_spend", "一般价值客户", "Loyal, low spend (general value)"),
    (False, True, False): ("needs_attention", "一般保持客户", "Needs attention (general retention)"),
    (True, False, False): ("new_or_promising", "一般发展客户", "New or promising (general development)"),
    (False, False, False): ("hibernating", "一般挽留客户", "Hibernating (general win-back)"),
}
GROUP_NAMES = {v[0]: (v[1], v[2]) for v in GROUPS.values()}


@dataclass(frozen=True)
class RfmParams:
    scoring: Scoring = "quantile"
    bins: int = 5
    recency_thresholds: tuple[float, ...] = (30, 60, 90, 180)  # days, ascending; lower is better
    frequency_thresholds: tuple[float, ...] = (2, 3, 5, 8)
    monetary_thresholds: tuple[float, ...] = (200, 500, 1000, 3000)
    split: float | None = None  # high when score > split; None = mean score
    as_of: dt.datetime | None = None  # None: the latest order/event time (replayable)
    window_days: int | None = None  # only orders in the last N days; None = all history

    def validate(self) -> RfmParams:
        if self.scoring not in ("quantile", "threshold"):
            raise JingyunError("bad_param", "scoring must be quantile or threshold", "scoring")
        if not 2 <= self.bins <= 10:
            raise JingyunError("bad_param", "bins must be between 2 and 10", "bins")
        for name in ("recency_thresholds", "frequency_thresholds", "monetary_thresholds"):
            cuts = getattr(self, name)
            if list(cuts) != sorted(cuts) or len(set(cuts)) != len(cuts) or not cuts:
                raise JingyunError("bad_param", f"{name} must be strictly ascending numbers", name)
        if self.window_days is not None and self.window_days < 1:
            raise JingyunError("bad_param", "window_days must be >= 1", "window_days")
        return self


@dataclass(frozen=True)
class RfmGroup:
    key: str
    zh: str
    en: str
    size: int
    share: float
    monetary: float
    value_share: float


@dataclass(frozen=True)
class RfmResult:
    as_of: dt.datetime
    scoring: str
    customers: int
    split: dict[str, float]
    groups: list[RfmGroup]
    query: str
    persons: list[dict[str, object]] = field(default_factory=list)


def _score_sql(col: str, cuts: tuple[float, ...], higher_better: bool, p: RfmParams) -> str:
    if p.scoring == "quantile":
        order = "DESC" if not higher_better else "ASC"
        # RANK() - 1 = number of persons strictly worse (ties share the lowest rank)
        return f"1 + CAST(FLOOR({p.bins} * (RANK() OVER (ORDER BY {col} {order}) - 1) / CAST(n AS DOUBLE)) AS INTEGER)"
    if higher_better:
        return "1 + " + " + ".join(f"CASE WHEN {col} >= {c!r} THEN 1 ELSE 0 END" for c in cuts)
    return "1 + " + " + ".join(f"CASE WHEN {col} <= {c!r} THEN 1 ELSE 0 END" for c in cuts)


def rfm_query(p: RfmParams, as_of: dt.datetime) -> str:
    """One portable query: person_id, recency_days, frequency, monetary, r, f, m."""
    lo = f" AND ts >= {ts_literal(as_of - dt.timedelta(days=p.window_days))}" if p.window_days else ""
    # whole days since the last order, computed on epoch seconds (portable, no date_diff dialects)
    recency = (f"CAST(FLOOR((EXTRACT(EPOCH FROM {ts_literal(as_of)}) - EXTRACT(EPOCH FROM max(ts))) / 86400.0)"
               " AS BIGINT)")
    return (
        "WITH base AS (SELECT person_id, " + recency + " AS recency_days, count(*) AS frequency, "
        "CAST(sum(amount) AS DOUBLE) AS monetary FROM orders "
        f"WHERE person_id IS NOT NULL AND {VALID_ORDER} AND ts < {ts_literal(as_of)}{lo} GROUP BY person_id), "
        "counted AS (SELECT base.*, count(*) OVER () AS n FROM base) "
        "SELECT person_id, recency_days, frequency, monetary, "
        f"{_score_sql('recency_days', p.recency_thresholds, False, p)} AS r, "
        f"{_score_sql('frequency', p.frequency_thresholds, True, p)} AS f, "
        f"{_score_sql('monetary', p.monetary_thresholds, True, p)} AS m FROM counted"
    )


def resolve_as_of(wh: Warehouse, as_of: dt.datetime | str | None) -> dt.datetime:
    if as_of is not None:
        return as_naive_utc(as_of)
    last = last_data_time(wh)
    # just after the last fact, so it counts as "today" and recency 0
    return (last + dt.timedelta(microseconds=1)) if last else as_naive_utc(None)


def _group_case(split: dict[str, str]) -> str:
    whens = " ".join(
        f"WHEN {'' if rh else 'NOT '}(r > {split['r']}) AND {'' if fh else 'NOT '}(f > {split['f']}) AND "
        f"{'' if mh else 'NOT '}(m > {split['m']}) THEN '{key}'"
        for (rh, fh, mh), (key, _zh, _en) in GROUPS.items()
    )
    return f"CASE {whens} END"


def compute_rfm(wh: Warehouse, params: RfmParams | None = None, *, with_persons: bool = False) -> RfmResult:
    """Scores, groups and their sizes/value shares, all aggregated in SQL (only the 8 rows come back)."""
    p = (params or RfmParams()).validate()
    as_of = resolve_as_of(wh, p.as_of)
    sql = portable.check(rfm_query(p, as_of))
    # the split is a literal when fixed, else each score's mean over customers
    split_sql = {k: (repr(float(p.split)) if p.split is not None else f"sp.a{k}") for k in "rfm"}
    grouped = (
        f"WITH scored AS ({sql}), sp AS (SELECT avg(r) AS ar, avg(f) AS af, avg(m) AS am FROM scored), "
        f"g AS (SELECT scored.*, sp.ar, sp.af, sp.am, {_group_case(split_sql)} AS grp FROM scored CROSS JOIN sp) "
    )
    summary = portable.check(grouped + "SELECT grp, count(*), sum(monetary), max(ar), max(af), max(am) FROM g "
                             "GROUP BY grp")
    rows = wh.rows(summary)
    sizes = {str(r[0]): int(r[1]) for r in rows}
    money = {str(r[0]): float(r[2]) for r in rows}
    n = sum(sizes.values())
    if p.split is not None:
        split = {k: float(p.split) for k in "rfm"}
    else:
        split = {k: float(rows[0][3 + i]) if rows else 0.0 for i, k in enumerate("rfm")}
    persons: list[dict[str, object]] = []
    if with_persons:
        for pid, rec, freq, mon, r, f, m, grp in wh.rows(
            grouped + "SELECT person_id, recency_days, frequency, monetary, r, f, m, grp FROM g ORDER BY person_id"
        ):
            persons.append({"person_id": pid, "recency_days": int(rec), "frequency": int(freq),
                            "monetary": round(float(mon), 2), "r": int(r), "f": int(f), "m": int(m), "group": grp})
    total = sum(money.values())
    groups = [
        RfmGroup(key, zh, en, sizes.get(key, 0), round(sizes.get(key, 0) / n, 6) if n else 0.0,
                 round(money.get(key, 0.0), 2), round(money.get(key, 0.0) / total, 6) if total else 0.0)
        for key, zh, en in GROUPS.values()
    ]
    return RfmResult(as_of, p.scoring, n, {k: round(v, 6) for k, v in split.items()}, groups, sql, persons)


def group_of(r: int, f: int, m: int, split: dict[str, float]) -> str:
    return GROUPS[(r > split["r"], f > split["f"], m > split["m"])][0]
