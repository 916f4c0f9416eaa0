"""RFM per-distinct-value scoring == the previous per-customer RANK() query, on random data.

The previous query (kept here verbatim as the reference) ranked every customer three
times; the current one counts "strictly worse" per distinct value and derives the
groups from one cut-off per dimension. Random orders with heavy ties (few days, few
amounts, test accounts, refunded orders, NULL status) must give the same scores,
groups, sizes, monetary totals and splits for every scoring/bins/window/split.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pytest

from jingyun.segments.common import VALID_ORDER
from jingyun.segments.rfm import GROUPS, RfmParams, compute_rfm, group_of, rfm_query
from jingyun.warehouse import Warehouse, portable
from jingyun.warehouse.sqltext import ts_literal

AS_OF = dt.datetime(2026, 6, 1, 12, 0, 0)


def _old_score_sql(col: str, cuts: tuple[float, ...], higher_better: bool, p: RfmParams) -> str:
    if p.scoring == "quantile":
        order = "DESC" if not higher_better else "ASC"
        return f"1 + CAST(FLOOR({p.bins} * (RANK() OVER (ORDER BY {col} {order}) - 1) / CAST(n AS DOUBLE)) AS INTEGER)"
    if higher_better:
        return "1 + " + " + ".join(f"CASE WHEN {col} >= {c!r} THEN 1 ELSE 0 END" for c in cuts)
    return "1 + " + " + ".join(f"CASE WHEN {col} <= {c!r} THEN 1 ELSE 0 END" for c in cuts)


def _old_query(p: RfmParams, as_of: dt.datetime) -> str:
    lo = f" AND ts >= {ts_literal(as_of - dt.timedelta(days=p.window_days))}" if p.window_days else ""
    recency = (f"CAST(FLOOR((EXTRACT(EPOCH FROM {ts_literal(as_of)}) - EXTRACT(EPOCH FROM max(ts))) / 86400.0)"
               " AS BIGINT)")
    return (
        "WITH base AS (SELECT person_id, " + recency + " AS recency_days, count(*) AS frequency, "
        "CAST(sum(amount) AS DOUBLE) AS monetary FROM orders "
        f"WHERE person_id IS NOT NULL AND {VALID_ORDER} AND ts < {ts_literal(as_of)}{lo} GROUP BY person_id), "
        "counted AS (SELECT base.*, count(*) OVER () AS n FROM base) "
        "SELECT person_id, recency_days, frequency, monetary, "
        f"{_old_score_sql('recency_days', p.recency_thresholds, False, p)} AS r, "
        f"{_old_score_sql('frequency', p.frequency_thresholds, True, p)} AS f, "
        f"{_old_score_sql('monetary', p.monetary_thresholds, True, p)} AS m FROM counted"
    )


def _fill(wh: Warehouse, seed: int, n_orders: int, people: int, days: int, amounts: int) -> None:
    rng = np.random.default_rng(seed)
    who = rng.integers(0, people, n_orders) ** 2 // max(people, 1)  # skewed: some people buy a lot
    secs = rng.integers(0, days * 86400, n_orders) + rng.integers(0, 2, n_orders) * 43200
    amount = rng.integers(1, amounts + 1, n_orders) * 9.99  # few distinct amounts: many tied totals
    status = rng.choice(np.array(["completed", "refunded", "cancelled", None], dtype=object), n_orders,
                        p=[0.8, 0.07, 0.05, 0.08])
    tbl = pa.table({
        "order_id": [f"o{i}" for i in range(n_orders)],
        "person_id": [f"p{w}" for w in who],
        "ts": pa.array([AS_OF - dt.timedelta(seconds=int(s)) for s in secs], pa.timestamp("us")),
        "amount": pa.array(np.round(amount, 2)),
        "status": pa.array(list(status), pa.string()),
        "is_test": pa.array(rng.random(n_orders) < 0.03),
    })
    wh.con.register("rnd_orders", tbl)
    wh.con.execute("DELETE FROM orders")
    wh.con.execute("INSERT INTO orders (order_id, user_id, person_id, ts, amount, status, is_test) "
                   "SELECT order_id, person_id, person_id, ts, CAST(amount AS DECIMAL(18, 2)), status, is_test "
                   "FROM rnd_orders")
    wh.con.unregister("rnd_orders")


def _assert_same(wh: Warehouse, p: RfmParams) -> None:
    old = {r[0]: r[1:] for r in wh.rows(_old_query(p, AS_OF))}
    new = {r[0]: r[1:] for r in wh.rows(rfm_query(p, AS_OF))}
    assert new == old  # person -> (recency, frequency, monetary, r, f, m)
    res = compute_rfm(wh, p, with_persons=True)
    n = len(old)
    assert res.customers == n
    if p.split is not None:
        split = {k: float(p.split) for k in "rfm"}
    else:
        split = {k: sum(v[3 + i] for v in old.values()) / n if n else 0.0 for i, k in enumerate("rfm")}
    assert res.split == pytest.approx({k: round(v, 6) for k, v in split.items()}, abs=1e-9)
    want_group = {pid: group_of(v[3], v[4], v[5], split) for pid, v in old.items()}
    assert {str(x["person_id"]): x["group"] for x in res.persons} == want_group
    sizes = Counter(want_group.values())
    money: dict[str, float] = defaultdict(float)
    for pid, v in old.items():
        money[want_group[pid]] += v[2]
    got = {g.key: (g.size, g.monetary) for g in res.groups}
    assert got == {key: (sizes.get(key, 0), pytest.approx(round(money.get(key, 0.0), 2), abs=0.011))
                   for key, _zh, _en in GROUPS.values()}


CASES = [
    RfmParams(as_of=AS_OF),
    RfmParams(as_of=AS_OF, bins=2),
    RfmParams(as_of=AS_OF, bins=3, window_days=20),
    RfmParams(as_of=AS_OF, bins=7),
    RfmParams(as_of=AS_OF, bins=10, split=4.5),
    RfmParams(as_of=AS_OF, scoring="threshold"),
    RfmParams(as_of=AS_OF, scoring="threshold", split=2, recency_thresholds=(1, 5, 9),
              frequency_thresholds=(1, 2), monetary_thresholds=(9.99, 19.98, 50)),
]


@pytest.mark.parametrize("seed,n_orders,people,days,amounts", [
    (1, 3000, 400, 30, 5),      # many ties on every dimension
    (2, 2000, 1500, 365, 200),  # mostly distinct totals
    (3, 40, 7, 3, 2),           # tiny: a handful of people, near-total ties
    (4, 1, 1, 1, 1),            # one customer
])
def test_rfm_matches_rank_query(wh: Warehouse, seed: int, n_orders: int, people: int, days: int,
                                amounts: int) -> None:
    _fill(wh, seed, n_orders, people, days, amounts)
    for p in CASES:
        _assert_same(wh, p)


def test_rfm_all_tied_and_empty(wh: Warehouse) -> None:
    # everyone identical: every score is 1 (nobody strictly worse), mean 1, all "low"
    _fill(wh, 5, 50, 1, 1, 1)
    wh.con.execute("UPDATE orders SET person_id = 'p' || (CAST(substr(order_id, 2) AS INTEGER) % 10), "
                   "ts = TIMESTAMP '2026-05-30 00:00:00', amount = 10, status = 'completed', is_test = FALSE")
    for p in CASES:
        _assert_same(wh, p)
    res = compute_rfm(wh, RfmParams(as_of=AS_OF))
    assert {g.key: g.size for g in res.groups if g.size} == {"hibernating": 10}
    wh.con.execute("DELETE FROM orders")
    res = compute_rfm(wh, RfmParams(as_of=AS_OF))
    assert res.customers == 0 and all(g.size == 0 for g in res.groups)


def test_rfm_queries_are_portable() -> None:
    from jingyun.segments.rfm import summary_query

    for p in CASES:
        portable.check(rfm_query(p, AS_OF))
        portable.check(summary_query(p, AS_OF))
