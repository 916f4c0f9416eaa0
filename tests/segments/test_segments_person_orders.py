"""The maintained per-person order summary (``person_orders``) gives the answers grouping
``orders`` gives: RFM (scored by levels) and all-time audience conditions, on random and
tied data; the ingestion pipeline and identity mapping keep it equal to a full rebuild;
its stamp sends readers back to ``orders`` after plain-SQL writes. Also the exact substring
prefilter in front of JSON property tests never drops a match written with escapes."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from segments_support import put
from test_segments_rfm_equiv import AS_OF, CASES, _fill

from jingyun.ingest import ingest_file
from jingyun.segments import audience
from jingyun.segments.rfm import RfmParams, RfmResult, compute_rfm
from jingyun.warehouse import Warehouse, person_orders, portable

# --- helpers -----------------------------------------------------------------------


def write_ndjson(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _answer(res: RfmResult) -> tuple[Any, ...]:
    """Everything an RFM result says about the customers (not the SQL text or the source)."""
    return res.as_of, res.scoring, res.customers, res.split, res.groups, res.persons


def _summary_rows(wh: Warehouse) -> list[tuple[Any, ...]]:
    return wh.rows(f"SELECT * FROM {person_orders.TABLE} ORDER BY person_id")


def _maintained_equals_rebuild(wh: Warehouse, as_of: dt.datetime, stamps: list[tuple[str, bool, bool]],
                               step: str) -> list[tuple[Any, ...]]:
    """The incrementally maintained rows equal a fresh full rebuild. Whether readers could
    use them as maintained (``usable``, ``state().current``) is appended to ``stamps``: the
    caller asserts those after every step, so a stale stamp does not hide wrong rows."""
    stamps.append((step, person_orders.usable(wh, as_of), person_orders.state(wh).current))
    maintained = _summary_rows(wh)
    person_orders.rebuild(wh)
    assert _summary_rows(wh) == maintained, step
    assert person_orders.usable(wh, as_of)
    return maintained


def _drop_summary(wh: Warehouse) -> None:
    wh.con.execute(f"DROP TABLE IF EXISTS {person_orders.TABLE}")


# --- a. RFM: summary path == orders path on the equivalence data ---------------------


def _rfm_both_ways(wh: Warehouse, cases: list[RfmParams]) -> None:
    _drop_summary(wh)
    before = {}
    for p in cases:
        res = compute_rfm(wh, p, with_persons=True)
        assert res.source == "orders"
        before[p] = res
    state = person_orders.rebuild(wh)
    assert state.exists and state.current
    assert state.rows == wh.scalar("SELECT count(DISTINCT person_id) FROM orders WHERE person_id IS NOT NULL AND "
                                   f"{person_orders.VALID_ORDER}")
    for p in cases:
        res = compute_rfm(wh, p, with_persons=True)
        assert res.source == ("orders" if p.window_days else "person_orders"), p
        assert _answer(res) == _answer(before[p]), p


@pytest.mark.parametrize("seed,n_orders,people,days,amounts", [
    (1, 3000, 400, 30, 5),      # many ties on every dimension
    (2, 2000, 1500, 365, 200),  # mostly distinct totals
    (3, 40, 7, 3, 2),           # tiny: a handful of people, near-total ties
    (4, 1, 1, 1, 1),            # one customer
    (6, 500, 60, 2, 3),         # two days, three amounts: heavy ties at every level
])
def test_rfm_from_summary_equals_rfm_from_orders(wh: Warehouse, seed: int, n_orders: int, people: int, days: int,
                                                  amounts: int) -> None:
    _fill(wh, seed, n_orders, people, days, amounts)
    _rfm_both_ways(wh, [*CASES, RfmParams(as_of=AS_OF, bins=4, split=1.5),
                        RfmParams(as_of=AS_OF, bins=3, split=0.5), RfmParams(as_of=AS_OF, bins=5, split=5)])


def test_rfm_from_summary_all_tied(wh: Warehouse) -> None:
    _fill(wh, 5, 50, 1, 1, 1)
    wh.con.execute("UPDATE orders SET person_id = 'p' || (CAST(substr(order_id, 2) AS INTEGER) % 10), "
                   "ts = TIMESTAMP '2026-05-30 00:00:00', amount = 10, status = 'completed', is_test = FALSE")
    _rfm_both_ways(wh, CASES)
    res = compute_rfm(wh, RfmParams(as_of=AS_OF))
    assert res.source == "person_orders"
    assert res.customers == 10
    assert {g.key: g.size for g in res.groups if g.size} == {"hibernating": 10}
    assert res.split == {"r": 1.0, "f": 1.0, "m": 1.0}


@pytest.mark.parametrize("scoring", ["threshold", "quantile"])
def test_rfm_from_summary_without_valid_orders(wh: Warehouse, scoring: str) -> None:
    # orders exist, but none counts (refunded, cancelled, a test account): no customer at all
    put(wh, "orders", [
        {"order_id": "o1", "user_id": "u1", "ts": dt.datetime(2026, 5, 1), "amount": 10, "status": "refunded"},
        {"order_id": "o2", "user_id": "u2", "ts": dt.datetime(2026, 5, 2), "amount": 20, "status": "cancelled"},
        {"order_id": "o3", "user_id": "u3", "ts": dt.datetime(2026, 5, 3), "amount": 30, "is_test": True},
    ])
    p = RfmParams(as_of=AS_OF, scoring=scoring)  # type: ignore[arg-type]
    _rfm_both_ways(wh, [p])
    assert person_orders.state(wh).rows == 0
    res = compute_rfm(wh, p, with_persons=True)
    assert res.source == "person_orders"
    assert res.customers == 0 and res.persons == [] and all(g.size == 0 for g in res.groups)


def test_rfm_from_summary_on_an_empty_orders_table(wh: Warehouse) -> None:
    person_orders.rebuild(wh)
    assert person_orders.usable(wh, AS_OF)
    for p in (RfmParams(as_of=AS_OF), RfmParams(as_of=AS_OF, scoring="threshold")):
        res = compute_rfm(wh, p)
        assert res.source == "person_orders"
        assert res.customers == 0 and all(g.size == 0 and g.monetary == 0 for g in res.groups)


# --- b. property: random small orders, every scoring ---------------------------------

_AMOUNTS = (1, 9.99, 9.99, 10, 25.5, 100)  # repeated values: tied totals
_STATUSES = ("paid", "completed", "completed", None, "refunded", "cancelled", "returned")

_order = st.tuples(
    st.integers(0, 7),                    # person
    st.integers(1, 6 * 86400),            # seconds before AS_OF (strictly before: the summary is usable)
    st.sampled_from(_AMOUNTS),
    st.sampled_from(_STATUSES),
    st.sampled_from([False, False, False, True]),  # is_test
)
_valid_order = st.tuples(st.integers(0, 7), st.integers(1, 6 * 86400), st.sampled_from(_AMOUNTS),
                         st.just("paid"), st.just(False))
_params = st.one_of(
    st.builds(lambda bins, split: RfmParams(as_of=AS_OF, bins=bins, split=split),
              st.integers(2, 6), st.one_of(st.none(), st.sampled_from([0.5, 1, 1.5, 2, 3.5, 6]))),
    st.builds(lambda split, cuts: RfmParams(as_of=AS_OF, scoring="threshold", split=split,
                                            recency_thresholds=cuts[0], frequency_thresholds=cuts[1],
                                            monetary_thresholds=cuts[2]),
              st.one_of(st.none(), st.sampled_from([1, 2, 2.5])),
              st.sampled_from([((30, 60, 90, 180), (2, 3, 5, 8), (200, 500, 1000, 3000)),
                               ((1, 2, 4), (1, 2, 3), (9.99, 10, 35.49)),
                               ((0, 3), (2,), (19.98, 100))])),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=st.lists(_order, max_size=25), one_valid=_valid_order, params=st.lists(_params, min_size=1, max_size=3))
def test_rfm_summary_property(wh: Warehouse, orders: list[tuple[Any, ...]], one_valid: tuple[Any, ...],
                              params: list[RfmParams]) -> None:
    # at least one valid order: the empty case is its own test above
    rows = [*orders, one_valid]
    tbl = pa.table({
        "order_id": [f"o{i}" for i in range(len(rows))],
        "person_id": [f"p{r[0]}" for r in rows],
        "ts": pa.array([AS_OF - dt.timedelta(seconds=r[1]) for r in rows], pa.timestamp("us")),
        "amount": pa.array([float(r[2]) for r in rows]),
        "status": pa.array([r[3] for r in rows], pa.string()),
        "is_test": pa.array([bool(r[4]) for r in rows]),
    })
    wh.con.execute("DELETE FROM orders")
    wh.con.register("hyp_orders", tbl)
    try:
        wh.con.execute("INSERT INTO orders (order_id, user_id, person_id, ts, amount, status, is_test) "
                       "SELECT order_id, person_id, person_id, ts, CAST(amount AS DECIMAL(18, 2)), status, is_test "
                       "FROM hyp_orders")
    finally:
        wh.con.unregister("hyp_orders")
    _rfm_both_ways(wh, list(dict.fromkeys(params)))


# --- c. the pipeline and identity mapping keep the summary equal to a rebuild --------

_LATER = dt.datetime(2026, 7, 1)  # after every order below


def _orders_file(path: Path, rows: list[tuple[str, str, str, float, str, str | None]]) -> Path:
    return write_ndjson(path, [
        {"order_id": oid, "user_id": uid, "ts": ts, "amount": amount, "status": status,
         **({"coupon_id": coupon} if coupon else {})}
        for oid, uid, ts, amount, status, coupon in rows
    ])


def _person(rows: list[tuple[Any, ...]], pid: str) -> tuple[Any, ...] | None:
    found = [r for r in rows if r[0] == pid]
    # person_id, orders, priced_orders, amount, max_amount, coupon_orders, first_ts, last_ts
    return (found[0][1], *found[0][3:6]) if found else None  # orders, amount, max_amount, coupon_orders


def test_ingestion_and_identity_keep_the_summary_current(wh: Warehouse, tmp_path: Path) -> None:
    stamps: list[tuple[str, bool, bool]] = []
    state = person_orders.rebuild(wh)  # on an empty warehouse: from now on it is maintained
    assert state.exists and state.rows == 0 and person_orders.usable(wh, _LATER)

    first = ingest_file(wh, "orders", _orders_file(tmp_path / "o1.ndjson", [
        ("o1", "u1", "2026-05-01T10:00:00Z", 100, "paid", None),
        ("o2", "u1", "2026-05-03T10:00:00Z", 50, "completed", "c1"),
        ("o3", "u2", "2026-05-02T10:00:00Z", 30, "paid", "c2"),
        ("o4", "u3", "2026-05-04T10:00:00Z", 20, "paid", None),
        ("o5", "u4", "2026-05-05T10:00:00Z", 40, "cancelled", None),
    ]))
    assert first.stored == 5
    rows = _maintained_equals_rebuild(wh, _LATER, stamps, "orders file 1")
    assert [r[0] for r in rows] == ["u1", "u2", "u3"]  # u4's only order was cancelled
    assert _person(rows, "u1") == (2, 150, 100, 1)

    second = ingest_file(wh, "orders", _orders_file(tmp_path / "o2.ndjson", [
        ("o6", "u1", "2026-05-10T10:00:00Z", 25.5, "paid", None),
        ("o7", "u2", "2026-05-11T10:00:00Z", 80, "refunded", None),
        ("o8", "u5", "2026-05-12T10:00:00Z", 60, "paid", "c3"),
        ("o4", "u3", "2026-05-04T10:00:00Z", 20, "paid", None),  # the same order again
        ("o9", "u3", "2026-05-13T10:00:00Z", 5, "paid", None),
    ]))
    assert (second.stored, second.duplicates) == (4, 1)
    rows = _maintained_equals_rebuild(wh, _LATER, stamps, "orders file 2")
    assert [r[0] for r in rows] == ["u1", "u2", "u3", "u5"]
    assert _person(rows, "u1") == (3, Decimal("175.50"), 100, 1)
    assert _person(rows, "u2") == (1, 30, 30, 1)  # the refunded order does not count
    assert _person(rows, "u3") == (2, 25, 20, 0)  # the duplicate was not stored twice

    # users: u2 shares u1's phone (u1 registered first: u2's orders move to person u1);
    # u3 is a test account (its orders stop counting)
    users = ingest_file(wh, "users", write_ndjson(tmp_path / "users.ndjson", [
        {"user_id": "u1", "phone": "13800138000", "registered_at": "2026-01-01T00:00:00Z"},
        {"user_id": "u2", "phone": "+86 138 0013 8000", "registered_at": "2026-02-01T00:00:00Z"},
        {"user_id": "u3", "phone": "13900139000", "registered_at": "2026-02-01T00:00:00Z", "is_test": True},
        {"user_id": "u5", "phone": "13700137000", "registered_at": "2026-03-01T00:00:00Z"},
    ]))
    assert users.stored == 4
    assert wh.rows("SELECT DISTINCT person_id FROM orders WHERE user_id = 'u2'") == [("u1",)]
    rows = _maintained_equals_rebuild(wh, _LATER, stamps, "users (merge, test account)")
    assert [r[0] for r in rows] == ["u1", "u5"]
    assert _person(rows, "u1") == (4, Decimal("205.50"), 100, 2)
    assert _person(rows, "u5") == (1, 60, 60, 1)
    first_last = wh.rows(f"SELECT first_ts, last_ts FROM {person_orders.TABLE} WHERE person_id = 'u1'")
    assert first_last == [(dt.datetime(2026, 5, 1, 10), dt.datetime(2026, 5, 10, 10))]

    # orders arriving after the users: u2's go to person u1 at once, u3's are test orders
    third = ingest_file(wh, "orders", _orders_file(tmp_path / "o3.ndjson", [
        ("o10", "u2", "2026-05-20T10:00:00Z", 10, "paid", None),
        ("o11", "u3", "2026-05-21T10:00:00Z", 999, "paid", None),
    ]))
    assert third.stored == 2
    rows = _maintained_equals_rebuild(wh, _LATER, stamps, "orders after users")
    assert [r[0] for r in rows] == ["u1", "u5"]
    assert _person(rows, "u1") == (5, Decimal("215.50"), 100, 2)

    # after every step, the maintained summary was current: readers would have used it
    assert stamps == [(step, True, True) for step, _, _ in stamps]

    # and RFM reads it: same answers as grouping orders
    p = RfmParams(as_of=_LATER)
    via_summary = compute_rfm(wh, p, with_persons=True)
    assert via_summary.source == "person_orders" and via_summary.customers == 2
    _drop_summary(wh)
    via_orders = compute_rfm(wh, p, with_persons=True)
    assert via_orders.source == "orders"
    assert _answer(via_summary) == _answer(via_orders)


# --- d. the stamp: plain-SQL writes send readers back to orders ----------------------


def test_stamp_catches_plain_sql_inserts_and_deletes(wh: Warehouse) -> None:
    _fill(wh, 3, 40, 7, 3, 2)
    person_orders.rebuild(wh)
    p = RfmParams(as_of=AS_OF)
    assert person_orders.usable(wh, AS_OF)
    base = compute_rfm(wh, p, with_persons=True)
    assert base.source == "person_orders"

    # a new customer inserted behind the pipeline's back
    wh.con.execute("INSERT INTO orders (order_id, user_id, person_id, ts, amount, status, is_test) VALUES "
                   "('new1', 'newbie', 'newbie', TIMESTAMP '2026-05-31 00:00:00', 1000, 'paid', FALSE)")
    assert not person_orders.usable(wh, AS_OF)
    assert not person_orders.state(wh).current
    stale = compute_rfm(wh, p, with_persons=True)
    assert stale.source == "orders"
    assert stale.customers == base.customers + 1
    assert "newbie" in {x["person_id"] for x in stale.persons}
    person_orders.rebuild(wh)
    fresh = compute_rfm(wh, p, with_persons=True)
    assert fresh.source == "person_orders" and _answer(fresh) == _answer(stale)

    # delete every order of one customer
    gone = base.persons[0]["person_id"]
    wh.con.execute("DELETE FROM orders WHERE person_id = ?", [gone])
    assert not person_orders.usable(wh, AS_OF)
    stale = compute_rfm(wh, p, with_persons=True)
    assert stale.source == "orders"
    assert stale.customers == base.customers  # one more, one fewer
    assert gone not in {x["person_id"] for x in stale.persons}
    person_orders.rebuild(wh)
    fresh = compute_rfm(wh, p, with_persons=True)
    assert fresh.source == "person_orders" and _answer(fresh) == _answer(stale)

    # a question asked as of a moment before the latest order cannot use it; as of the
    # latest order itself it can (as-of is inclusive: definitions.window_end)
    latest = wh.scalar(f"SELECT max(ts) FROM orders WHERE {person_orders.VALID_ORDER}")
    assert latest == person_orders.state(wh).max_ts
    assert person_orders.usable(wh, latest)
    assert not person_orders.usable(wh, latest - dt.timedelta(microseconds=1))
    assert not person_orders.usable(wh, latest - dt.timedelta(days=1))
    early = compute_rfm(wh, RfmParams(as_of=latest - dt.timedelta(microseconds=1)))
    assert early.source == "orders"
    at_latest = compute_rfm(wh, RfmParams(as_of=latest), with_persons=True)
    assert at_latest.source == "person_orders"


def test_usable_is_false_without_a_summary(wh: Warehouse) -> None:
    assert not person_orders.usable(wh, AS_OF)
    assert person_orders.state(wh) == person_orders.SummaryState(False, False, 0, None, None, None)
    _fill(wh, 3, 40, 7, 3, 2)
    assert compute_rfm(wh, RfmParams(as_of=AS_OF)).source == "orders"
    person_orders.rebuild(wh)
    _drop_summary(wh)  # the state row remains, the table does not
    assert not person_orders.usable(wh, AS_OF)
    assert compute_rfm(wh, RfmParams(as_of=AS_OF)).source == "orders"


# --- e. audiences: all-time order conditions read the summary -------------------------

_AUD_AS_OF = dt.datetime(2026, 6, 1)


def _audience_data(wh: Warehouse, seed: int) -> None:
    rng = random.Random(seed)
    users: list[dict[str, Any]] = []
    for i in range(40):
        pid = f"p{i}"
        users.append({"user_id": pid, "person_id": pid, "province": rng.choice(["浙江省", "江苏省", None]),
                      "is_test": i % 13 == 12})
        if i % 7 == 0:  # a second user row of the same person
            users.append({"user_id": f"{pid}_b", "person_id": pid, "province": "广东省"})
    put(wh, "users", users)
    orders = []
    for n in range(160):
        i = min(int(rng.expovariate(1 / 10)), 45)  # p40..p45: orders but no user row
        orders.append({
            "order_id": f"o{n}", "user_id": f"p{i}", "person_id": f"p{i}",
            "ts": _AUD_AS_OF - dt.timedelta(days=rng.randint(0, 120), seconds=rng.randint(1, 86399)),
            "amount": rng.choice([0, 10, 10, 25.5, 50, 99.99, 100, 300]),
            "status": rng.choice(["paid", "completed", None, "refunded", "cancelled", "returned"]),
            "coupon_id": rng.choice([None, None, "c1", "c2"]),
            "is_test": rng.random() < 0.05,
        })
    put(wh, "orders", orders)


_ORDER_LEAVES: list[dict[str, Any]] = [
    {"orders": "count", "op": "gte", "value": 3},
    {"orders": "count", "op": "lt", "value": 2},           # holds at zero
    {"orders": "count", "op": "eq", "value": 0},
    {"orders": "count", "op": "between", "value": [1, 2]},
    {"orders": "sum_amount", "op": "gte", "value": 100},
    {"orders": "sum_amount", "op": "lt", "value": 100},     # includes people without orders
    {"orders": "sum_amount", "op": "lte", "value": 0},
    {"orders": "sum_amount", "op": "neq", "value": 110},
    {"orders": "sum_amount", "op": "between", "value": [0, 60]},
    {"orders": "avg_amount", "op": "gte", "value": 50},
    {"orders": "avg_amount", "op": "lt", "value": 30},
    {"orders": "avg_amount", "op": "eq", "value": 10},
    {"orders": "max_amount", "op": "gte", "value": 100},
    {"orders": "max_amount", "op": "lt", "value": 50},
    {"orders": "max_amount", "op": "eq", "value": 0},
    {"orders": "days_since_last", "op": "gte", "value": 30},
    {"orders": "days_since_last", "op": "lt", "value": 10},
    {"orders": "days_since_last", "op": "between", "value": [5, 40]},
    {"orders": "days_since_last", "op": "eq", "value": 3},
    {"orders": "days_since_last", "op": "neq", "value": 3},
    {"orders": "coupon_orders", "op": "gte", "value": 1},
    {"orders": "coupon_orders", "op": "lt", "value": 1},   # holds at zero
    {"orders": "coupon_orders", "op": "eq", "value": 2},
]
_ATTR = {"attr": "province", "op": "eq", "value": "浙江省"}


def _members(wh: Warehouse, sql: str) -> list[str]:
    rows = [r[0] for r in wh.rows(sql)]
    assert len(rows) == len(set(rows)), "one row per person"
    return sorted(rows)


def _rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for leaf in _ORDER_LEAVES:
        rules += [leaf, {"not": leaf}, {"and": [leaf, _ATTR]}, {"and": [_ATTR, {"not": leaf}]},
                  {"or": [leaf, _ATTR]}]
    rng = random.Random(7)
    for _ in range(30):  # two or three all-time order conditions together, some negated, some windowed
        parts: list[dict[str, Any]] = []
        for leaf in rng.sample(_ORDER_LEAVES, rng.randint(2, 3)):
            parts.append({"not": leaf} if rng.random() < 0.3 else leaf)
        if rng.random() < 0.3:
            parts.append({"orders": "count", "within_days": 30, "op": "gte", "value": 1})
        if rng.random() < 0.5:
            parts.append({"not": _ATTR} if rng.random() < 0.5 else _ATTR)
        rules.append({"and": parts})
    return rules


@pytest.mark.parametrize("seed", [1, 2])
def test_audience_order_conditions_from_summary(wh: Warehouse, seed: int) -> None:
    _audience_data(wh, seed)
    person_orders.rebuild(wh)
    assert person_orders.usable(wh, _AUD_AS_OF)
    with_summary = audience.RuleContext(as_of=_AUD_AS_OF, order_summary=True)
    without = audience.RuleContext(as_of=_AUD_AS_OF, order_summary=False)
    rules = _rules()
    nonempty = 0
    for rule in rules:
        fast = audience.compile_rule(rule, with_summary).sql
        slow = audience.compile_rule(rule, without).sql
        assert person_orders.TABLE not in slow
        want = _members(wh, audience.naive_sql(rule, without))
        assert _members(wh, fast) == want, rule
        assert _members(wh, slow) == want, rule
        nonempty += bool(want)
    assert nonempty > len(rules) // 2  # the rules select someone, not just nobody
    # the top-level all-time leaves do read the summary
    for leaf in _ORDER_LEAVES:
        assert person_orders.TABLE in audience.compile_rule(leaf, with_summary).sql, leaf
        assert person_orders.TABLE in audience.compile_rule({"and": [_ATTR, {"not": leaf}]}, with_summary).sql


def test_audience_known_answers_from_summary(wh: Warehouse) -> None:
    put(wh, "users", [{"user_id": u} for u in ("a", "b", "c", "d")])
    put(wh, "orders", [
        {"order_id": "1", "user_id": "a", "ts": dt.datetime(2026, 5, 1), "amount": 100, "status": "paid",
         "coupon_id": "c"},
        {"order_id": "2", "user_id": "a", "ts": dt.datetime(2026, 5, 20), "amount": 50, "status": "paid"},
        {"order_id": "3", "user_id": "b", "ts": dt.datetime(2026, 5, 30), "amount": 30, "status": "paid"},
        {"order_id": "4", "user_id": "b", "ts": dt.datetime(2026, 5, 31), "amount": 500, "status": "refunded"},
        {"order_id": "5", "user_id": "c", "ts": dt.datetime(2026, 5, 31), "amount": 70, "is_test": True},
    ])
    person_orders.rebuild(wh)
    ctx = audience.RuleContext(as_of=_AUD_AS_OF, order_summary=True)

    def run(rule: dict[str, Any]) -> list[str]:
        sql = audience.compile_rule(rule, ctx).sql
        assert person_orders.TABLE in sql
        return _members(wh, sql)

    assert run({"orders": "sum_amount", "op": "lt", "value": 100}) == ["b", "c", "d"]
    assert run({"orders": "sum_amount", "op": "gte", "value": 100}) == ["a"]
    assert run({"orders": "count", "op": "eq", "value": 0}) == ["c", "d"]
    assert run({"orders": "avg_amount", "op": "eq", "value": 75}) == ["a"]
    assert run({"orders": "max_amount", "op": "lt", "value": 500}) == ["a", "b"]
    assert run({"orders": "days_since_last", "op": "gte", "value": 5}) == ["a"]
    assert run({"not": {"orders": "days_since_last", "op": "gte", "value": 5}}) == ["b", "c", "d"]
    assert run({"orders": "coupon_orders", "op": "lt", "value": 1}) == ["b", "c", "d"]


def test_audience_avg_amount_from_summary_ignores_a_missing_amount(wh: Warehouse) -> None:
    # an order without an amount (written by plain SQL; the pipeline requires one):
    # avg(amount) over the orders skips it, so a's average is 10, not 10 / 2
    put(wh, "users", [{"user_id": "a"}])
    put(wh, "orders", [
        {"order_id": "1", "user_id": "a", "ts": dt.datetime(2026, 5, 1), "amount": 10, "status": "paid"},
        {"order_id": "2", "user_id": "a", "ts": dt.datetime(2026, 5, 2), "amount": None, "status": "paid"},
    ])
    person_orders.rebuild(wh)
    rule = {"orders": "avg_amount", "op": "gte", "value": 8}
    ctx = audience.RuleContext(as_of=_AUD_AS_OF)
    assert _members(wh, audience.naive_sql(rule, ctx)) == ["a"]
    assert _members(wh, audience.compile_rule(rule, ctx).sql) == ["a"]
    fast = audience.compile_rule(rule, audience.RuleContext(as_of=_AUD_AS_OF, order_summary=True)).sql
    assert person_orders.TABLE in fast
    assert _members(wh, fast) == ["a"]


# --- f. the exact substring prefilter before JSON property tests ---------------------

_PROPS: dict[str, str] = {
    "plain": '{"category":"服饰"}',
    "escaped_value": '{"category":"\\u670d\\u9970"}',
    "escaped_upper": '{"category":"\\u670D\\u9970","price":5}',
    "escaped_key": '{"c\\u0061tegory":"服饰"}',
    "half_escaped": '{"category":"服\\u9970"}',
    "longer": '{"category":"服饰2"}',
    "elsewhere": '{"category":"食品","note":"服饰"}',
    "nested": '{"x":{"category":"服饰"}}',
    "quote": '{"category":"a\\"b"}',
    "backslash": '{"category":"c\\\\d"}',
    "number": '{"category":55}',
    "number5": '{"category":5}',
    "empty": "{}",
}


@pytest.fixture
def prop_events(wh: Warehouse) -> Warehouse:
    put(wh, "users", [{"user_id": k} for k in _PROPS])
    put(wh, "events", [{"event_id": k, "user_id": k, "event": "view_product",
                        "ts": dt.datetime(2026, 5, 20), "properties": v} for k, v in _PROPS.items()])
    return wh


def _where(op: str, value: Any) -> dict[str, Any]:
    return {"event": "view_product", "where": [{"prop": "category", "op": op, "value": value}]}


def _python_members(op: str, values: list[str]) -> list[str]:
    """The reference: parse every JSON text and compare the top-level value as text."""
    out = []
    for person, text in _PROPS.items():
        got = json.loads(text).get("category")
        shown = None if got is None else got if isinstance(got, str) else json.dumps(got)
        if (shown in values) == (op in ("eq", "in")) or (op in ("neq", "not_in") and shown is None):
            out.append(person)
    return sorted(out)


@pytest.mark.parametrize(("op", "value", "expected"), [
    ("eq", "服饰", ["escaped_key", "escaped_upper", "escaped_value", "half_escaped", "plain"]),
    ("eq", 'a"b', ["quote"]),
    ("eq", "c\\d", ["backslash"]),
    ("eq", "5", ["number5"]),
    ("in", ["服饰", 'a"b'], ["escaped_key", "escaped_upper", "escaped_value", "half_escaped", "plain", "quote"]),
    ("in", ["食品", "c\\d", "服"], ["backslash", "elsewhere"]),
    ("neq", "服饰", ["backslash", "elsewhere", "empty", "longer", "nested", "number", "number5", "quote"]),
])
def test_property_prefilter_keeps_escaped_matches(prop_events: Warehouse, op: str, value: Any,
                                                  expected: list[str]) -> None:
    rule = _where(op, value)
    assert expected == _python_members(op, value if isinstance(value, list) else [value])
    ctx = audience.RuleContext(as_of=_AUD_AS_OF)
    sql = audience.compile_rule(rule, ctx).sql
    if op in ("eq", "in"):
        assert "contains(properties" in sql  # the prefilter is in the query under test
    assert _members(prop_events, sql) == expected
    assert _members(prop_events, audience.naive_sql(rule, ctx)) == expected
    # windowed (the events step starts the plan) and counted forms
    windowed = {**rule, "within_days": 30}
    assert _members(prop_events, audience.compile_rule(windowed, ctx).sql) == expected
    counted = {**rule, "count": {"op": "lt", "value": 1}}
    assert _members(prop_events, audience.compile_rule(counted, ctx).sql) == sorted(set(_PROPS) - set(expected))


class _Recorder:
    """A connection that records the SQL it is given (and forwards everything)."""

    def __init__(self, con: Any) -> None:
        self._con, self.seen = con, []

    def sql(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(query)
        return self._con.sql(query, *args, **kwargs)

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(query)
        return self._con.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@pytest.mark.parametrize("params", [RfmParams(as_of=AS_OF), RfmParams(as_of=AS_OF, scoring="threshold")])
def test_rfm_summary_queries_are_portable(wh: Warehouse, params: RfmParams) -> None:
    # the summary path runs three short queries built at run time; each must stay in the portable subset
    _fill(wh, 2, 2000, 1500, 365, 200)
    person_orders.rebuild(wh)
    recorder = _Recorder(wh.con)
    wh.con = recorder  # type: ignore[assignment]
    try:
        assert compute_rfm(wh, params).source == "person_orders"
    finally:
        wh.con = recorder._con
    reading = [q for q in recorder.seen if "person_orders" in q and "_derived_state" not in q]
    # quantile: a histogram per dimension, the amounts inside the buckets that matter, the groups;
    # threshold: the levels in one pass, the groups
    assert len(reading) == (5 if params.scoring == "quantile" else 2)
    for query in reading:
        assert portable.lint(query) == [], query
