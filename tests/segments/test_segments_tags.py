"""Every tag kind with a known answer, approvals, and the shipped catalogue."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from segments_support import AS_OF, days_ago, put

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.segments import tags as T
from jingyun.segments.common import MODEL_SCORES_DDL, ensure_segment_tables
from jingyun.segments.store import SegmentStore
from jingyun.warehouse import Warehouse, portable


@pytest.fixture
def data(hwh: Warehouse) -> Warehouse:
    ensure_segment_tables(hwh)
    put(hwh, "users", [{"user_id": u, "registered_at": days_ago(100), "gender": g}
                       for u, g in (("a", "female"), ("b", "male"), ("c", None))])
    put(hwh, "events", [
        {"event_id": "1", "user_id": "a", "event": "view_product", "ts": days_ago(20, 2), "platform": "web",
         "properties": json.dumps({"category": "服饰"})},
        {"event_id": "2", "user_id": "a", "event": "view_product", "ts": days_ago(3), "platform": "app",
         "properties": json.dumps({"category": "鞋包"})},
        {"event_id": "3", "user_id": "a", "event": "view_home", "ts": days_ago(2), "platform": "app"},
        # b: one web and one app event: preference tie goes to the alphabetically first (app)
        {"event_id": "4", "user_id": "b", "event": "view_home", "ts": days_ago(50), "platform": "web"},
        {"event_id": "5", "user_id": "b", "event": "view_home", "ts": days_ago(40), "platform": "app"},
    ])
    put(hwh, "products", [{"product_id": "P1", "category": "服饰", "price": 100, "launched_at": days_ago(10).date(),
                           "attributes": '{"premium": true}'},
                          {"product_id": "P2", "category": "鞋包", "price": 50, "launched_at": days_ago(300).date(),
                           "attributes": '{"premium": false}'}])
    put(hwh, "orders", [
        {"order_id": "o1", "user_id": "a", "ts": days_ago(5), "amount": 90, "discount": 10, "coupon_id": "C1",
         "channel": "app", "status": "paid"},
        {"order_id": "o2", "user_id": "a", "ts": days_ago(60), "amount": 50, "discount": 0, "channel": "web",
         "status": "completed"},
        {"order_id": "o3", "user_id": "b", "ts": days_ago(30), "amount": 500, "discount": 0, "channel": "store",
         "status": "completed"},
        {"order_id": "o4", "user_id": "b", "ts": days_ago(20), "amount": 700, "discount": 0, "channel": "store",
         "status": "completed"},
    ])
    put(hwh, "order_items", [{"order_id": "o1", "line_no": 1, "product_id": "P1", "quantity": 1},
                             {"order_id": "o2", "line_no": 1, "product_id": "P2", "quantity": 3},
                             {"order_id": "o3", "line_no": 1, "product_id": "P2", "quantity": 1},
                             {"order_id": "o4", "line_no": 1, "product_id": "P2", "quantity": 1}])
    return hwh


def tag(name: str, kind: str, spec: dict[str, Any], type_: str = "string") -> T.TagDef:
    return T.TagDef.parse({"name": name, "kind": kind, "group": "behaviour", "zh": name, "en": name,
                           "type": type_, "spec": spec})


def values(wh: Warehouse, t: T.TagDef, settings: Settings) -> dict[str, str]:
    sql = T.tag_query(t, settings, AS_OF)
    assert sql is not None and portable.lint(sql) == []
    return {str(p): str(v) for p, v in wh.rows(sql)}


def test_first_last_preference(data: Warehouse, settings: Settings) -> None:
    assert values(data, tag("fp", "first_value", {"table": "events", "column": "platform"}), settings) == \
        {"a": "web", "b": "web"}
    assert values(data, tag("lp", "last_value", {"table": "events", "column": "platform"}), settings) == \
        {"a": "app", "b": "app"}
    # local day: 20 days 2 hours before 2026-06-01 00:00 UTC is 2026-05-11 22:00 UTC = 05-12 06:00 Shanghai
    assert values(data, tag("fd", "first_value", {"table": "events", "column": "local_date"}), settings)["a"] \
        == "2026-05-12"
    assert values(data, tag("foc", "first_value", {"table": "orders", "column": "channel"}), settings) == \
        {"a": "web", "b": "store"}
    assert values(data, tag("pp", "preference", {"table": "events", "column": "platform"}), settings) == \
        {"a": "app", "b": "app"}
    assert values(data, tag("vc", "preference", {"table": "events", "event": "view_product", "prop": "category"}),
                  settings) == {"a": "服饰"}  # tie 服饰/鞋包 → alphabetically first by code point


def test_distribution_sql_rule(data: Warehouse, settings: Settings) -> None:
    dist = tag("n30", "distribution", {"table": "events", "measure": "count", "within_days": 30,
                                       "buckets": [1, 3], "labels": ["none", "some", "many"]})
    assert values(data, dist, settings) == {"a": "many", "b": "none", "c": "none"}
    spend = tag("sp", "distribution", {"table": "orders", "measure": "sum_amount", "buckets": [100, 1000],
                                       "labels": ["low", "mid", "high"]})
    assert values(data, spend, settings) == {"a": "mid", "b": "high", "c": "low"}
    sql_tag = tag("g", "sql", {"sql": "SELECT person_id, gender AS value FROM users WHERE gender IS NOT NULL"})
    assert values(data, sql_tag, settings) == {"a": "female", "b": "male"}
    rule = tag("bnb", "rule", {"rule": {"and": [{"event": "view_product", "within_days": 30},
                                                  {"orders": "count", "within_days": 4, "op": "eq", "value": 0}]}},
               "bool")
    assert values(data, rule, settings) == {"a": "true", "b": "false", "c": "false"}


def test_computed_and_model(data: Warehouse, settings: Settings) -> None:
    assert values(data, tag("cl", "computed", {"compute": "coupon_share", "threshold": 0.5, "min_orders": 2}),
                  settings) == {"a": "true", "b": "false"}
    assert values(data, tag("ea", "computed", {"compute": "early_adopter", "days": 30}), settings) == {"a": "true"}
    # a bought 1 unit of 服饰 and 3 of 鞋包
    assert values(data, tag("pc", "computed", {"compute": "preferred_category"}), settings) == \
        {"a": "鞋包", "b": "鞋包"}
    data.con.execute(MODEL_SCORES_DDL)
    put(data, "model_scores", [
        {"person_id": "a", "model": "churn", "score_name": "churn_risk", "value": 0.1, "scored_at": days_ago(9)},
        {"person_id": "a", "model": "churn", "score_name": "churn_risk", "value": 0.7, "scored_at": days_ago(1)},
    ])
    assert values(data, tag("cr", "model", {"model": "churn", "score_name": "churn_risk"}, "number"), settings) == \
        {"a": "0.7"}


def test_compute_tags_imported_and_builtin(data: Warehouse, settings: Settings, tmp_path: Path) -> None:
    csv_path = tmp_path / "interest.csv"
    csv_path.write_text("person_id,value\na,running\nb,cooking\n", encoding="utf-8")
    assert T.import_tag_csv(data, "crm_interest", csv_path) == 2
    runs = {r.tag: r for r in T.compute_tags(data, ["crm_interest", "rfm_group", "lifecycle_stage", "gender"],
                                             as_of=AS_OF)}
    assert runs["crm_interest"].rows == 2
    assert runs["gender"].rows == 2 and runs["gender"].coverage == pytest.approx(2 / 3, abs=1e-6)
    assert T.person_tags(data, "a")["crm_interest"] == "running"
    assert runs["rfm_group"].rows == 2 and runs["lifecycle_stage"].rows == 3
    # recomputing replaces rows instead of adding
    T.compute_tags(data, ["gender"], as_of=AS_OF)
    assert data.scalar("SELECT count(*) FROM user_tags WHERE tag = 'gender'") == 2
    with pytest.raises(JingyunError):
        T.compute_tags(data, ["no_such_tag"])


def test_shipped_catalogue() -> None:
    shipped = T.shipped_tags()
    assert len(shipped) >= 40
    groups = Counter(t.group for t in shipped.values())
    assert all(groups[g] >= 4 for g in ("demographic", "behaviour", "value", "preference", "model"))
    assert set(t.kind for t in shipped.values()) == set(T.KINDS)
    assert all(t.zh and t.en and t.description_zh and t.description_en for t in shipped.values())


def test_every_shipped_tag_computes_on_demo(demo_settings: Settings) -> None:
    with Warehouse.open(demo_settings) as wh:
        runs = T.compute_tags(wh)
    by = {r.tag: r for r in runs}
    assert len(by) == len(T.shipped_tags())
    # most tags cover someone; model tags stay empty until a model has run
    empty = sorted(t for t, r in by.items() if r.rows == 0)
    assert empty == ["churn_risk", "clv_value", "crm_interest", "high_value_clv", "p_alive"]
    assert all(r.coverage <= 1.0 for r in runs)


def test_campaign_tag_needs_approval_by_someone_else(settings: Settings) -> None:
    raw = {"name": "my_rule", "kind": "rule", "group": "behaviour", "zh": "我的", "en": "Mine", "type": "bool",
           "campaign": True, "spec": {"rule": {"event": "pay", "within_days": 7}}}
    _, version, status = T.define_tag(settings, raw, "alice")
    assert (version, status) == (1, "draft")
    assert "my_rule" not in T.load_tags(settings)
    store = SegmentStore(settings)
    with pytest.raises(JingyunError) as err:
        store.decide_tag_version("my_rule", 1, "alice", True)
    assert err.value.code == "approval_self"
    store.decide_tag_version("my_rule", 1, "bob", True)
    assert T.load_tags(settings)["my_rule"].campaign
    # a new draft does not replace the approved version
    T.define_tag(settings, {**raw, "spec": {"rule": {"event": "pay", "within_days": 3}}}, "alice")
    assert T.load_tags(settings)["my_rule"].spec["rule"]["within_days"] == 7
    # a bad definition is refused before anything is stored
    with pytest.raises(JingyunError) as bad:
        T.define_tag(settings, {**raw, "name": "bad", "spec": {"rule": {"event": "pay", "within_days": -1}}}, "a")
    assert bad.value.field == "rule.within_days"
    assert [v.tag for v in store.tag_versions()] == ["my_rule", "my_rule"]
