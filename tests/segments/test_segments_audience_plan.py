"""The planned audience query (candidates narrowed step by step) gives exactly the
answer of the plain one-semi-join-per-condition form, on hand-built data with the
awkward cases: several user rows per person (one a test row), missing attributes,
people without any events or orders, tag values of mixed types."""

from __future__ import annotations

import random
from typing import Any

import pytest
from segments_support import AS_OF, days_ago, put
from test_segments_audience import CTX_TAGS, data  # noqa: F401  (fixture)

from jingyun.segments import audience
from jingyun.warehouse import Warehouse, portable

LEAVES: list[dict[str, Any]] = [
    {"attr": "province", "op": "eq", "value": "浙江省"},
    {"attr": "province", "op": "neq", "value": "浙江省"},
    {"attr": "gender", "op": "in", "value": ["female"]},
    {"attr": "province", "op": "is_not_set"},
    {"attr": "age", "op": "gte", "value": 30},
    {"attr": "days_since_registration", "op": "lte", "value": 10},
    {"tag": "score", "op": "gt", "value": 0.5},
    {"tag": "vip", "op": "eq", "value": True},
    {"tag": "vip", "op": "is_not_set"},
    {"event": "view_product", "within_days": 30, "where": [{"prop": "category", "op": "eq", "value": "服饰"}],
     "count": {"op": "gte", "value": 2}},
    {"event": "view_product", "within_days": 30, "count": {"op": "lt", "value": 2}},
    {"event": "view_product", "where": [{"prop": "price", "op": "gt", "value": 100}]},
    {"event": "pay", "within_days": 7},
    {"event": "view_product", "within_days": 3, "count": {"op": "eq", "value": 0}},
    {"orders": "sum_amount", "op": "gte", "value": 100},
    {"orders": "sum_amount", "op": "lte", "value": 100},
    {"orders": "count", "within_days": 30, "op": "eq", "value": 0},
    {"orders": "days_since_last", "op": "gte", "value": 60},
    {"orders": "avg_amount", "op": "between", "value": [50, 200]},
    {"orders": "coupon_orders", "op": "lt", "value": 1},
]


@pytest.fixture
def wh(data: Warehouse) -> Warehouse:  # noqa: F811
    put(data, "users", [
        # a second user row of person a: a test account in another province, male
        {"user_id": "a_alt", "person_id": "a", "province": "北京市", "gender": "male", "is_test": True},
        # person e: only a test user row (not in the universe), but real events and orders
        {"user_id": "e", "province": "浙江省", "gender": "female", "is_test": True},
        # person f: two real rows, province on one, gender on the other
        {"user_id": "f1", "person_id": "f", "province": "浙江省"},
        {"user_id": "f2", "person_id": "f", "gender": "female", "registered_at": days_ago(3)},
    ])
    put(data, "events", [
        {"event_id": "e1", "user_id": "e", "event": "view_product", "ts": days_ago(1),
         "properties": '{"category": "服饰"}'},
        {"event_id": "e2", "user_id": "e", "event": "view_product", "ts": days_ago(2),
         "properties": '{"category": "服饰"}'},
        {"event_id": "f1", "user_id": "f1", "person_id": "f", "event": "pay", "ts": days_ago(100),
         "properties": "{}"},
    ])
    put(data, "orders", [
        {"order_id": "oe", "user_id": "e", "ts": days_ago(1), "amount": 500, "status": "paid"},
        {"order_id": "of", "user_id": "f2", "person_id": "f", "ts": days_ago(70), "amount": None,
         "status": "paid", "coupon_id": "c1"},
    ])
    put(data, "user_tags", [{"person_id": "f", "tag": "score", "value": "0.7"}])
    return data


def _random_rule(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    if depth >= 3 or rng.random() < 0.35:
        return rng.choice(LEAVES)
    kind = rng.choice(["and", "and", "or", "not"])
    if kind == "not":
        return {"not": _random_rule(rng, depth + 1)}
    return {kind: [_random_rule(rng, depth + 1) for _ in range(rng.randint(0, 4))]}


def _members(wh: Warehouse, sql: str) -> list[str]:
    rows = [r[0] for r in wh.rows(sql)]
    assert len(rows) == len(set(rows)), "one row per person"
    return sorted(rows)


def test_known_answers_with_several_user_rows(wh: Warehouse) -> None:
    ctx = audience.RuleContext(CTX_TAGS, lambda n: None, AS_OF)

    def run(rule: dict[str, Any]) -> list[str]:
        return _members(wh, audience.compile_rule(rule, ctx).sql)

    # some user row of the person matches each condition (f: province on one row, gender on the other)
    assert run({"and": [{"attr": "province", "op": "eq", "value": "浙江省"},
                        {"attr": "gender", "op": "eq", "value": "female"}]}) == ["a", "f"]
    # a's test row is male: "not male" fails for a, as in the plain form
    assert run({"not": {"attr": "gender", "op": "eq", "value": "male"}}) == ["c", "f"]
    # e (test only) never belongs, whatever it did
    assert run({"event": "view_product", "within_days": 30, "count": {"op": "gte", "value": 2}}) == ["a"]
    # f's only order has no amount: no sum, so neither ">= 100" nor (as a sum over nothing) excluded from "<= 100"
    assert run({"orders": "sum_amount", "op": "lte", "value": 100}) == ["b", "c", "d", "f"]
    assert run({"and": [{"event": "view_product", "within_days": 30, "count": {"op": "gte", "value": 2}},
                        {"not": {"event": "pay", "within_days": 7}},
                        {"orders": "sum_amount", "op": "gte", "value": 200}]}) == ["a"]


def test_planned_query_equals_plain_form_on_random_rules(wh: Warehouse) -> None:
    rng = random.Random(20260601)
    ctx = audience.RuleContext(CTX_TAGS, lambda n: None, AS_OF)
    checked = 0
    for _ in range(120):
        rule = _random_rule(rng)
        planned = audience.compile_rule(rule, ctx).sql
        assert portable.lint(planned) == []
        assert _members(wh, planned) == _members(wh, audience.naive_sql(rule, ctx)), rule
        checked += 1
    assert checked == 120
