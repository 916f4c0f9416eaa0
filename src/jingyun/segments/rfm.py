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

How: scores are computed once per *distinct* value (a running count over the sorted
distinct values gives "strictly worse", identical to RANK() - 1), and the group
summary needs no per-customer score at all: each "high" is a cut-off on the raw
value. tests/segments/test_segments_rfm_equiv.py checks both against the previous
per-customer RANK() query on random, heavily tied data.

With the maintained per-person order summary (``person_orders``, built by ``jingyun
optimize``) and a question about all history, the customers are read from it instead
of grouping ``orders``, and the groups come from the score levels (see
``_summary_by_levels``): same sizes, totals and splits, checked against this path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from jingyun.errors import JingyunError
from jingyun.metrics import definitions
from jingyun.segments.common import VALID_ORDER, as_naive_utc, last_data_time
from jingyun.warehouse import person_orders, portable
from jingyun.warehouse.backends import Engine, Source, engine_of
from jingyun.warehouse.sqltext import ts_literal

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
    source: str = "orders"  # or "person_orders": the maintained summary answered


def _value_scores(name: str, col: str, cuts: tuple[float, ...], higher_better: bool, p: RfmParams) -> str:
    """CTE ``name``: one row per *distinct* value ``v`` of ``col`` with its count ``c`` and score ``s``.

    Why per distinct value: a score depends only on the value (ties share it), and
    recency/frequency have a few hundred distinct values among ~10^6 customers, so
    counting "strictly worse" with a running sum over the sorted distinct values
    replaces a RANK() sort of every customer (three of them) — same numbers, a
    fraction of the work. Running sum up to and including v, minus v's own count,
    is the number strictly worse: exactly RANK() - 1.
    """
    if p.scoring == "quantile":
        order = "ASC" if higher_better else "DESC"  # worse values first
        worse = f"SUM(c) OVER (ORDER BY v {order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - c"
        score = f"1 + CAST(FLOOR({p.bins} * ({worse}) / CAST(SUM(c) OVER () AS DOUBLE)) AS INTEGER)"
    elif higher_better:
        score = "1 + " + " + ".join(f"CASE WHEN v >= {c!r} THEN 1 ELSE 0 END" for c in cuts)
    else:
        score = "1 + " + " + ".join(f"CASE WHEN v <= {c!r} THEN 1 ELSE 0 END" for c in cuts)
    return (f"{name} AS (SELECT v, c, {score} AS s FROM "
            f"(SELECT {col} AS v, count(*) AS c FROM base GROUP BY {col}) h)")


def _recency(as_of: dt.datetime, last: str) -> str:
    # whole days since the last order, computed on epoch seconds (portable, no date_diff dialects):
    # epoch() is Spark's UNIX_TIMESTAMP (whole seconds there; EXTRACT(EPOCH ...) does not run on Spark)
    return f"CAST(FLOOR((epoch({ts_literal(as_of)}) - epoch({last})) / 86400.0) AS BIGINT)"


def _base(p: RfmParams, as_of: dt.datetime, summary: bool) -> str:
    """One row per customer: person_id, recency_days, frequency, monetary."""
    if summary:
        # exact: the DECIMAL total, so group totals do not depend on summation order
        return (f"SELECT person_id, {_recency(as_of, 'last_ts')} AS recency_days, orders AS frequency, "
                f"CAST(amount AS DOUBLE) AS monetary, amount AS exact FROM {person_orders.TABLE}")
    lo = f" AND ts >= {ts_literal(definitions.window(as_of, p.window_days)[0])}" if p.window_days else ""
    # sum of DECIMAL is exact, so equal totals are equal doubles whatever the summation order
    return (f"SELECT person_id, {_recency(as_of, 'max(ts)')} AS recency_days, count(*) AS frequency, "
            "CAST(sum(amount) AS DOUBLE) AS monetary FROM orders "
            f"WHERE person_id IS NOT NULL AND {VALID_ORDER} AND ts < {ts_literal(definitions.window_end(as_of))}{lo} GROUP BY person_id")


def _scored_ctes(p: RfmParams, as_of: dt.datetime, summary: bool = False) -> str:
    """``WITH base, sr, sf, sm``: one row per customer, then the score of each distinct value.

    ``summary``: read the maintained per-person order summary instead of grouping
    ``orders`` (only valid for all history before ``as_of``; see ``person_orders.usable``).
    """
    return (
        f"WITH base AS ({_base(p, as_of, summary)}), "
        + _value_scores("sr", "recency_days", p.recency_thresholds, False, p) + ", "
        + _value_scores("sf", "frequency", p.frequency_thresholds, True, p) + ", "
        + _value_scores("sm", "monetary", p.monetary_thresholds, True, p) + " "
    )


def rfm_query(p: RfmParams, as_of: dt.datetime, summary: bool = False) -> str:
    """One portable query: person_id, recency_days, frequency, monetary, r, f, m."""
    return (
        _scored_ctes(p, as_of, summary) + "SELECT base.person_id, base.recency_days, base.frequency, base.monetary, "
        "sr.s AS r, sf.s AS f, sm.s AS m FROM base JOIN sr ON base.recency_days = sr.v "
        "JOIN sf ON base.frequency = sf.v JOIN sm ON base.monetary = sm.v"
    )


def summary_query(p: RfmParams, as_of: dt.datetime) -> str:
    """The 8 groups (grp, size, monetary) and the three splits, without scoring each customer.

    Scores never decrease as a value gets better, so "score above the split" is
    "value at least as good as the worst value scoring above it": one cut-off per
    dimension, read off the distinct values, and a single pass over the customers.
    """
    split = {k: (repr(float(p.split)) if p.split is not None else
                 f"(SELECT CAST(SUM(s * c) AS DOUBLE) / SUM(c) FROM s{k})") for k in "rfm"}
    cuts = (
        f"cut AS (SELECT {split['r']} AS pr, {split['f']} AS pf, {split['m']} AS pm, "
        f"(SELECT max(v) FROM sr WHERE s > {split['r']}) AS cr, "
        f"(SELECT min(v) FROM sf WHERE s > {split['f']}) AS cf, "
        f"(SELECT min(v) FROM sm WHERE s > {split['m']}) AS cm) "
    )
    # grouped on the three flags (a tiny perfect hash); the flags are named in Python by GROUPS
    return (
        _scored_ctes(p, as_of) + ", " + cuts
        + "SELECT rh, fh, mh, count(*), sum(monetary), max(pr), max(pf), max(pm) FROM (SELECT "
        "COALESCE(base.recency_days <= cut.cr, FALSE) AS rh, COALESCE(base.frequency >= cut.cf, FALSE) AS fh, "
        "COALESCE(base.monetary >= cut.cm, FALSE) AS mh, base.monetary, cut.pr, cut.pf, cut.pm "
        "FROM base CROSS JOIN cut) g GROUP BY rh, fh, mh"
    )


# --- the same summary by score levels, for the per-person summary table -----------------
#
# Write y for a dimension's value oriented so that larger is better (y = -recency_days,
# frequency, monetary). A score is 1 + the number of levels k = 1..K whose test P_k(y)
# holds, and the tests are nested (P_k+1 implies P_k):
#   quantile:  P_k(y) = y > x_k, x_k the m_k-th smallest y, m_k = ceil(k n / bins), K = bins - 1
#              (a value's score is >= k + 1 iff #strictly worse >= k n / bins iff it exceeds x_k);
#   threshold: P_k(y) = y >= the k-th cut-off, oriented (K = number of cut-offs).
# So the mean score is (n + sum_k #P_k) / n, and "score > split" is P_j for j = floor(split),
# i.e. y >= T_j, the smallest y passing P_j. For quantiles, x_k, #P_k (n minus the count up
# to x_k) and T_k (the next value after x_k) come from two small histograms: by floor(y),
# then the exact values inside the buckets that hold an x_k and the bucket after each.
# Short queries (a histogram per dimension, the amounts inside a few buckets, the final
# pass) with exact integer arithmetic in between (numpy cumsum/searchsorted): no sort of
# every distinct value, and each query stays small enough to plan quickly (one query of
# ~30 CTEs spent most of its time in DuckDB's optimizer: bench/results/notes.md).

_DIMS = (("r", "-recency_days"), ("f", "frequency"), ("m", "monetary"))
_WHOLE = {"r", "f"}  # integer dimensions: their floor histogram already holds the exact values


def _num(v: float | int) -> str:
    """A SQL literal that reads back as exactly this number (doubles via their shortest repr)."""
    return str(v) if isinstance(v, int) else f"CAST('{v!r}' AS DOUBLE)"


Levels = dict[str, list[tuple[int, float | None]]]


def _quantile_levels(engine: Engine, ysql: str, bins: int) -> tuple[int, Levels]:
    """n, and per dimension, for k = 1..bins-1: (#P_k, T_k)."""
    hist = {}
    for d, _ in _DIMS:
        key = f"y{d}" if d in _WHOLE else f"FLOOR(y{d})"
        t = engine.run(f"SELECT {key} AS b, count(*) AS c FROM ({ysql}) y GROUP BY 1 ORDER BY 1")
        hist[d] = (t.column("b").to_numpy(), t.column("c").to_numpy())
    n = int(hist["r"][1].sum())
    if not n:
        return 0, {}
    marks = np.array([-(-k * n // bins) for k in range(1, bins)], dtype=np.int64)  # m_k = ceil(k n / bins)
    out: Levels = {}
    for d, _ in _DIMS:
        b, c = hist[d]
        ends = np.cumsum(c)  # how many y are in this bucket or below
        at = np.searchsorted(ends, marks, side="left")  # the bucket holding the m_k-th smallest
        if d in _WHOLE:  # buckets are the values
            values, cum = b, ends
        else:  # the exact values of those buckets and of the next ones (where T_k may be)
            wanted = np.unique(b[np.concatenate([at, at[at + 1 < len(b)] + 1])])
            t = engine.run(f"SELECT y{d} AS v, count(*) AS c FROM ({ysql}) y WHERE FLOOR(y{d}) IN "
                           f"({', '.join(_num(x.item()) for x in wanted)}) GROUP BY 1 ORDER BY 1")
            values, vc = t.column("v").to_numpy(), t.column("c").to_numpy()
            bucket = np.searchsorted(b, np.floor(values))
            first = np.searchsorted(bucket, bucket, side="left")  # each value's bucket starts here
            run = np.cumsum(vc)
            cum = (ends - c)[bucket] + run - (run[first] - vc[first])
        i = np.searchsorted(cum, marks, side="left")  # x_k = values[i]: the first with cum >= m_k
        out[d] = [(n - int(cum[j]), values[j + 1].item() if j + 1 < len(values) else None) for j in i]
    return n, out


def _threshold_levels(engine: Engine, ysql: str, p: RfmParams) -> tuple[int, Levels]:
    """n, and per dimension, for each cut-off level: (#P_k, T_k), in one pass."""
    tests: dict[str, list[str]] = {}
    for d, _ in _DIMS:
        cuts = {"r": p.recency_thresholds, "f": p.frequency_thresholds, "m": p.monetary_thresholds}[d]
        # recency: score 1 + #{c : recency <= c}, so P_k is recency <= the k-th largest cut-off
        oriented = [-c for c in reversed(cuts)] if d == "r" else list(cuts)
        tests[d] = [f"y{d} >= {_num(c)}" for c in oriented]
    cols = [f"count(*) FILTER (WHERE {t}), min(y{d}) FILTER (WHERE {t})" for d, _ in _DIMS for t in tests[d]]
    n, *row = engine.rows(f"SELECT count(*), {', '.join(cols)} FROM ({ysql}) y")[0]
    out, i = {}, 0
    for d, _ in _DIMS:
        out[d] = [(int(row[i + 2 * k]), row[i + 2 * k + 1]) for k in range(len(tests[d]))]
        i += 2 * len(tests[d])
    return int(n), out


def _summary_by_levels(engine: Engine, p: RfmParams, as_of: dt.datetime) -> list[tuple[Any, ...]]:
    """The rows of :func:`summary_query`, from ``person_orders``, by score levels."""
    ysql = f"SELECT {', '.join(f'{expr} AS y{d}' for d, expr in _DIMS)}, exact FROM ({_base(p, as_of, True)}) b"
    n, levels = _quantile_levels(engine, ysql, p.bins) if p.scoring == "quantile" else _threshold_levels(engine, ysql, p)
    if not n:
        return []
    split: dict[str, float] = {}
    flag: dict[str, str] = {}
    for d, _ in _DIMS:
        # the mean score, computed as summary_query does: SUM(s * c) / n
        split[d] = float(p.split) if p.split is not None else float(n + sum(c for c, _ in levels[d])) / n
        j = math.floor(split[d])
        # score > split iff P_j: everyone for j <= 0, no one above the top level
        cut = levels[d][j - 1][1] if 0 < j <= len(levels[d]) else None
        flag[d] = "TRUE" if j <= 0 else f"COALESCE(y{d} >= {_num(cut)}, FALSE)" if cut is not None else "FALSE"
    flags = ", ".join(f"{flag[d]} AS {d}h" for d, _ in _DIMS)
    rows = engine.rows(f"SELECT rh, fh, mh, count(*), CAST(sum(exact) AS DOUBLE) FROM (SELECT {flags}, exact "
                   f"FROM ({ysql}) y) g GROUP BY rh, fh, mh")
    return [(*r, split["r"], split["f"], split["m"]) for r in rows]


def resolve_as_of(source: Source, as_of: dt.datetime | str | None) -> dt.datetime:
    if as_of is not None:
        return as_naive_utc(as_of)
    # the latest fact itself: windows end at it inclusively (definitions.window_end), so an
    # explicit --as-of equal to it gives the same answer
    return definitions.default_as_of(last_data_time(source), as_naive_utc(None))


@functools.lru_cache(maxsize=64)
def _check_portable(p: RfmParams, summary: bool) -> None:
    """Parse both queries once per parameter set (sqlglot costs ~25 ms a query).

    Portability depends on the query's shape, not on the as_of literal in it, so the
    check runs with a fixed instant and is remembered.
    """
    portable.check(rfm_query(p, _SHAPE_AS_OF, summary))
    if not summary:  # the summary table's three short queries are checked by the tests
        portable.check(summary_query(p, _SHAPE_AS_OF))


_SHAPE_AS_OF = dt.datetime(2000, 1, 1)


def compute_rfm(source: Source, params: RfmParams | None = None, *, with_persons: bool = False) -> RfmResult:
    """Scores, groups and their sizes/value shares, all aggregated in SQL (only the 8 rows come back)."""
    engine = engine_of(source)
    p = (params or RfmParams()).validate()
    as_of = resolve_as_of(engine, p.as_of)
    # all history before as_of: the maintained per-person summary answers it when current
    from_summary = p.window_days is None and engine.summary_usable(as_of)
    _check_portable(dataclasses.replace(p, as_of=None), from_summary)
    sql = rfm_query(p, as_of, from_summary)
    rows = _summary_by_levels(engine, p, as_of) if from_summary else engine.rows(summary_query(p, as_of))
    sizes = {GROUPS[(bool(r[0]), bool(r[1]), bool(r[2]))][0]: int(r[3]) for r in rows}
    money = {GROUPS[(bool(r[0]), bool(r[1]), bool(r[2]))][0]: float(r[4]) for r in rows}
    n = sum(sizes.values())
    if p.split is not None:
        split = {k: float(p.split) for k in "rfm"}
    else:
        split = {k: float(rows[0][5 + i]) if rows else 0.0 for i, k in enumerate("rfm")}
    persons: list[dict[str, object]] = []
    if with_persons:
        for pid, rec, freq, mon, r, f, m in engine.rows(f"SELECT * FROM ({sql}) q ORDER BY person_id"):
            persons.append({"person_id": pid, "recency_days": int(rec), "frequency": int(freq),
                            "monetary": round(float(mon), 2), "r": int(r), "f": int(f), "m": int(m),
                            "group": group_of(int(r), int(f), int(m), split)})
    total = sum(money.values())
    groups = [
        RfmGroup(key, zh, en, sizes.get(key, 0), round(sizes.get(key, 0) / n, 6) if n else 0.0,
                 round(money.get(key, 0.0), 2), round(money.get(key, 0.0) / total, 6) if total else 0.0)
        for key, zh, en in GROUPS.values()
    ]
    return RfmResult(as_of, p.scoring, n, {k: round(v, 6) for k, v in split.items()}, groups, sql, persons,
                     person_orders.TABLE if from_summary else "orders")


def group_of(r: int, f: int, m: int, split: dict[str, float]) -> str:
    return GROUPS[(r > split["r"], f > split["f"], m > split["m"])][0]
