"""Audience rules: compilation, semantics on hand-built data, validation errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from segments_support import AS_OF, days_ago, put

from jingyun.errors import JingyunError
from jingyun.segments import audience
from jingyun.segments.common import ensure_segment_tables
from jingyun.warehouse import Warehouse, portable


@pytest.fixture
def data(hwh: Warehouse) -> Warehouse:
    ensure_segment_tables(hwh)
    put(hwh, "users", [
        {"user_id": "a", "province": "浙江省", "gender": "female", "birth_date": AS_OF.date().replace(year=1996),
         "registered_at": days_ago(10)},  # exactly 30 today
        {"user_id": "b", "province": "江苏省", "gender": "male", "birth_date": AS_OF.date().replace(year=1996, day=2),
         "registered_at": days_ago(40)},  # 29, turns 30 tomorrow
        {"user_id": "c", "province": None, "gender": "female", "registered_at": days_ago(400)},
        {"user_id": "d", "province": "浙江省", "gender": "male", "registered_at": days_ago(5)},
        {"user_id": "t", "province": "浙江省", "is_test": True, "registered_at": days_ago(5)},
    ])
    put(hwh, "events", [
        # a: 3 product views of 服饰 in the last 30 days, one older
        *({"event_id": f"a{i}", "user_id": "a", "event": "view_product", "ts": days_ago(d),
           "properties": json.dumps({"category": "服饰", "price": p})} for i, (d, p) in
          enumerate([(1, 50), (5, 150), (29, 300), (31, 80)])),
        # b: one view of 鞋包 yesterday, one pay
        {"event_id": "b1", "user_id": "b", "event": "view_product", "ts": days_ago(1),
         "properties": json.dumps({"category": "鞋包", "price": 99})},
        {"event_id": "b2", "user_id": "b", "event": "pay", "ts": days_ago(1), "properties": "{}"},
        # c: two 服饰 views, one inside 30 days
        {"event_id": "c1", "user_id": "c", "event": "view_product", "ts": days_ago(2),
         "properties": json.dumps({"category": "服饰", "price": 20})},
        {"event_id": "c2", "user_id": "c", "event": "view_product", "ts": days_ago(45),
         "properties": json.dumps({"category": "服饰", "price": 20})},
        # test account events never count
        {"event_id": "t1", "user_id": "t", "event": "view_product", "ts": days_ago(1), "is_test": True,
         "properties": json.dumps({"category": "服饰"})},
        # an event after as_of is ignored
        {"event_id": "a9", "user_id": "a", "event": "view_product", "ts": AS_OF, "properties": "{}"},
    ])
    put(hwh, "orders", [
        {"order_id": "o1", "user_id": "a", "ts": days_ago(3), "amount": 100, "status": "paid"},
        {"order_id": "o2", "user_id": "a", "ts": days_ago(60), "amount": 300, "status": "completed"},
        {"order_id": "o3", "user_id": "b", "ts": days_ago(60), "amount": 50, "status": "completed"},
        {"order_id": "o4", "user_id": "b", "ts": days_ago(2), "amount": 999, "status": "refunded"},
        {"order_id": "o5", "user_id": "c", "ts": days_ago(90), "amount": 80, "status": "completed"},
    ])
    put(hwh, "user_tags", [
        {"person_id": "a", "tag": "score", "value": "0.9"}, {"person_id": "b", "tag": "score", "value": "0.2"},
        {"person_id": "a", "tag": "vip", "value": "true"}, {"person_id": "c", "tag": "vip", "value": "false"},
    ])
    return hwh


CTX_TAGS: dict[str, audience.ValueType] = {"score": "number", "vip": "bool"}


def run(wh: Warehouse, rule: dict[str, Any], segments: dict[str, Any] | None = None) -> list[str]:
    ctx = audience.RuleContext(CTX_TAGS, lambda n: (segments or {}).get(n), AS_OF)
    compiled = audience.compile_rule(rule, ctx)
    assert portable.lint(compiled.sql) == []
    portable.to_spark(compiled.sql)  # transpiles
    return sorted(r[0] for r in wh.rows(compiled.sql))


def test_attributes_and_test_accounts_excluded(data: Warehouse) -> None:
    assert run(data, {"attr": "province", "op": "eq", "value": "浙江省"}) == ["a", "d"]
    # a missing province never equals, and always "not equals"
    assert run(data, {"attr": "province", "op": "neq", "value": "浙江省"}) == ["b", "c"]
    assert run(data, {"attr": "province", "op": "is_not_set"}) == ["c"]
    assert run(data, {"attr": "province", "op": "in", "value": ["江苏省", "广东省"]}) == ["b"]


def test_age_edges(data: Warehouse) -> None:
    # a turned 30 on as_of, b is 29 until tomorrow
    assert run(data, {"attr": "age", "op": "gte", "value": 30}) == ["a"]
    assert run(data, {"attr": "age", "op": "eq", "value": 29}) == ["b"]
    assert run(data, {"attr": "age", "op": "between", "value": [29, 30]}) == ["a", "b"]
    assert run(data, {"attr": "days_since_registration", "op": "lte", "value": 10}) == ["a", "d"]


def test_empty_groups(data: Warehouse) -> None:
    assert run(data, {"and": []}) == ["a", "b", "c", "d"]
    assert run(data, {"or": []}) == []
    assert run(data, {"not": {"or": []}}) == ["a", "b", "c", "d"]


def test_nested_not_or(data: Warehouse) -> None:
    rule = {"not": {"or": [{"attr": "gender", "op": "eq", "value": "male"},
                           {"not": {"attr": "province", "op": "is_set"}}]}}
    assert run(data, rule) == ["a"]
    rule2 = {"and": [{"not": {"not": {"attr": "gender", "op": "eq", "value": "female"}}},
                     {"or": [{"tag": "vip", "op": "eq", "value": True}, {"attr": "province", "op": "is_not_set"}]}]}
    assert run(data, rule2) == ["a", "c"]


def test_windowed_event_counts_with_property_filters(data: Warehouse) -> None:
    clothes = [{"prop": "category", "op": "eq", "value": "服饰"}]
    assert run(data, {"event": "view_product", "within_days": 30, "where": clothes}) == ["a", "c"]
    assert run(data, {"event": "view_product", "within_days": 30, "where": clothes,
                      "count": {"op": "gte", "value": 3}}) == ["a"]
    # count < 2 includes people with no such events at all (b, d)
    assert run(data, {"event": "view_product", "within_days": 30, "where": clothes,
                      "count": {"op": "lt", "value": 2}}) == ["b", "c", "d"]
    assert run(data, {"event": "view_product", "within_days": 30, "count": {"op": "eq", "value": 0}}) == ["d"]
    pricey = [*clothes, {"prop": "price", "op": "gt", "value": 100}]
    assert run(data, {"event": "view_product", "within_days": 30, "where": pricey,
                      "count": {"op": "eq", "value": 2}}) == ["a"]
    # all history: c has two
    assert run(data, {"event": "view_product", "where": clothes, "count": {"op": "gte", "value": 2}}) == ["a", "c"]


def test_order_aggregates(data: Warehouse) -> None:
    # refunded orders do not count
    assert run(data, {"orders": "sum_amount", "op": "gte", "value": 100}) == ["a"]
    assert run(data, {"orders": "count", "within_days": 30, "op": "eq", "value": 0}) == ["b", "c", "d"]
    assert run(data, {"orders": "days_since_last", "op": "gte", "value": 60}) == ["b", "c"]
    assert run(data, {"orders": "days_since_last", "op": "gt", "value": 60}) == ["c"]
    assert run(data, {"orders": "days_since_last", "op": "lt", "value": 60}) == ["a"]
    assert run(data, {"orders": "avg_amount", "op": "between", "value": [50, 200]}) == ["a", "b", "c"]


def test_tags_and_segments(data: Warehouse) -> None:
    assert run(data, {"tag": "score", "op": "gt", "value": 0.5}) == ["a"]
    assert run(data, {"tag": "vip", "op": "eq", "value": False}) == ["c"]
    assert run(data, {"tag": "vip", "op": "is_not_set"}) == ["b", "d"]
    segs = {"zj": {"attr": "province", "op": "eq", "value": "浙江省"},
            "zj_buyers": {"and": [{"segment": "zj"}, {"orders": "count", "op": "gte", "value": 1}]}}
    assert run(data, {"segment": "zj_buyers"}, segs) == ["a"]
    assert run(data, {"not": {"segment": "zj"}}, segs) == ["b", "c"]


def test_browsed_not_bought_matches_python_reference(data: Warehouse) -> None:
    rule = {"and": [{"event": "view_product", "within_days": 30}, {"orders": "count", "within_days": 30,
                                                                    "op": "eq", "value": 0}]}
    viewed = {p for p, e, t in data.rows("SELECT person_id, event, ts FROM events WHERE NOT is_test")
              if e == "view_product" and days_ago(30) <= t < AS_OF}
    bought = {p for p, t, s in data.rows("SELECT person_id, ts, status FROM orders")
              if days_ago(30) <= t < AS_OF and s not in ("refunded", "cancelled", "returned")}
    assert run(data, rule) == sorted(viewed - bought) == ["b", "c"]


@pytest.mark.parametrize(("rule", "field", "words"), [
    ({"and": [{"attr": "province", "op": "eq", "value": "x"}, {"event": "pay"},
              {"attr": "shoe_size", "op": "eq", "value": 1}]}, "rule.and[2].attr", "unknown field"),
    ({"or": [{"not": {"attr": "age", "op": "gte", "value": "thirty"}}]}, "rule.or[0].not.value", "type mismatch"),
    ({"attr": "province", "op": "gt", "value": "a"}, "rule.op", "does not apply"),
    ({"tag": "nope", "op": "eq", "value": 1}, "rule.tag", "unknown tag"),
    ({"tag": "vip", "op": "eq", "value": "yes"}, "rule.value", "type mismatch"),
    ({"event": "pay", "within_days": 0}, "rule.within_days", "within_days"),
    ({"event": "pay", "where": [{"prop": "a-b", "op": "eq", "value": 1}]}, "rule.where[0].prop", "property key"),
    ({"orders": "median", "op": "gt", "value": 1}, "rule.orders", "unknown order aggregate"),
    ({"and": {"attr": "x"}}, "rule.and", "list"),
    ({"attr": "city", "op": "eq", "value": "a", "extra": 1}, "rule.extra", "unknown key"),
    ({"attr": "city", "tag": "vip"}, "rule", "exactly one"),
    ({"segment": "ghost"}, "rule.segment", "unknown segment"),
])
def test_errors_name_the_bad_node(rule: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(JingyunError) as err:
        audience.compile_rule(rule, audience.RuleContext(CTX_TAGS, lambda n: None, AS_OF))
    assert err.value.field == field
    assert words in err.value.message


def test_segment_cycle_is_refused() -> None:
    segs = {"a": {"segment": "b"}, "b": {"or": [{"segment": "a"}]}}
    with pytest.raises(JingyunError) as err:
        audience.compile_rule({"segment": "a"}, audience.RuleContext({}, segs.get, AS_OF))
    assert "refers to itself" in err.value.message
    assert err.value.field == "segment[b].or[0].segment"
