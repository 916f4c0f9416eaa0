"""User metrics in $JINGYUN_HOME/metrics/*.yaml, and clear errors naming the field at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.metrics.compute import ComputeParams, compute
from jingyun.metrics.dictionary import load_dictionary, load_text
from jingyun.warehouse.backends.duckdb import DuckDBBackend

USER_YAML = """
datasets:
  app_events:
    zh: App事件
    en: App events
    base: events
    filter: [{column: platform, op: eq, value: app}]
metrics:
  app_users:
    name: {zh: App用户, en: App users}
    description: {zh: 有App事件的用户, en: People with an app event}
    unit: users
    direction: higher
    owner: 产品部
    formula: {kind: count_distinct, table: app_events}
  app_share:
    name: {zh: App用户占比, en: App user share}
    description: {zh: App用户/访客, en: App users / visitors}
    unit: ratio
    direction: higher
    owner: 产品部
    formula: {kind: formula, expression: "app_users / visitors"}
  net_after_discount:
    name: {zh: 自定义收入, en: Custom revenue}
    description: {zh: 高级用户SQL, en: Power-user SQL}
    unit: CNY
    direction: higher
    owner: 财务部
    perspective: financial
    formula: {kind: sql, table: revenue_orders, expression: "sum(amount) - 10 * count(*)"}
  gold_buyers:
    name: {zh: 金卡买家, en: Gold buyers}
    description: {zh: 金卡会员买家, en: Gold-tier buyers}
    unit: users
    direction: higher
    owner: 会员运营
    formula:
      kind: count_distinct
      table: paid_orders
      filter: [{column: users.member_level, op: eq, value: 金卡会员}]
"""


def test_user_yaml_metrics_are_loaded_and_computed(settings: Settings, hand: DuckDBBackend) -> None:
    folder = settings.home / "metrics"
    folder.mkdir()
    (folder / "mine.yaml").write_text(USER_YAML, encoding="utf-8")
    d = load_dictionary(settings)
    assert d.metrics["app_users"].origin.endswith("mine.yaml")

    def total(name: str) -> float | None:
        return compute(hand, d, ComputeParams.create(name, "2026-10-01", "2026-10-03", grain="total")).points[0].value

    assert total("app_users") == 3  # p1, p3, p5 (t1 is a test account)
    assert total("app_share") == pytest.approx(3 / 5)
    assert total("net_after_discount") == 300 - 10 * 4  # 4 revenue orders
    assert total("gold_buyers") == 1  # p1


BASE = """
metrics:
  m:
    name: {zh: 指标, en: Metric}
    description: {zh: 说明, en: Description}
    unit: users
    direction: higher
    owner: me
    formula: {kind: count, table: events}
"""


def _bad(text: str) -> JingyunError:
    with pytest.raises(JingyunError) as err:
        load_text(text, "bad.yaml")
    assert err.value.code == "bad_metric"
    assert "bad.yaml" in err.value.message
    return err.value


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("    unit: users\n", "", "metrics.m.unit", "required"),
        ("direction: higher", "direction: up", "metrics.m.direction", "higher, lower"),
        ("{kind: count, table: events}", "{kind: median, table: events}", "metrics.m.formula.kind", "one of"),
        ("{kind: count, table: events}", "{kind: count, table: evnts}", "metrics.m.formula.table", "evnts"),
        ("{kind: count, table: events}", "{kind: sum, table: events, column: amount}",
         "metrics.m.formula.column", "no column 'amount'"),
        ("{kind: count, table: events}", "{kind: ratio, numerator: gmv, denominator: nope}",
         "metrics.m.formula.numerator/denominator", "nope"),
        ("{kind: count, table: events}", "{kind: formula, expression: 'gmv ** 2'}",
         "metrics.m.formula.expression", "Pow"),
        ("{kind: count, table: events}", "{kind: count, table: events, filter: [{column: platform, op: like, value: a}]}",
         "metrics.m.formula.filter[0].op", "one of"),
        ("{kind: count, table: events}", "{kind: count, table: events, filter: [{column: score, op: gt, value: 1}]}",
         "metrics.m.formula.filter[0].column", "no column 'score'"),
        ("{kind: count, table: events}", "{kind: count, table: orders, filter: [{column: amount, op: gt, value: x}]}",
         "metrics.m.formula.filter[0].value", "needs a number"),
        ("{kind: count, table: events}", "{kind: sql, table: orders, expression: 'amount + 1'}",
         "metrics.m.formula.expression", "aggregate"),
        ("{kind: count, table: events}", "{kind: sql, table: orders, expression: 'sum(list_sum(amount))'}",
         "metrics.m.formula.expression", "not in the portable subset"),
        ("{kind: count, table: events}", "{kind: sql, table: orders, expression: 'sum(price)'}",
         "metrics.m.formula.expression", "no column 'price'"),
        ("{kind: count, table: events}", "{kind: retention, table: events, returns: events, day: -1}",
         "metrics.m.formula.day", "0 to"),
        ("{kind: count, table: events}", "{kind: count, table: products}", "metrics.m.formula.table", "no time column"),
        ("owner: me", "owner: me\n    colour: red", "metrics.m.colour", "unknown field"),
        ("name: {zh: 指标, en: Metric}", "name: Metric", "metrics.m.name", "mapping"),
    ],
)
def test_bad_yaml_names_the_field(old: str, new: str, field: str, words: str) -> None:
    assert old in BASE
    err = _bad(BASE.replace(old, new))
    assert err.field == field, err
    assert words in err.message, err.message


def test_duplicates_cycles_and_bad_files(settings: Settings) -> None:
    err = _bad(BASE.replace("  m:", "  gmv:"))
    assert err.field == "metrics.gmv" and "already defined in catalog.yaml" in err.message
    cyc = BASE.replace("{kind: count, table: events}", "{kind: ratio, numerator: m2, denominator: visitors}") + """
  m2:
    name: {zh: 二, en: Two}
    description: {zh: 二, en: Two}
    unit: ratio
    direction: higher
    owner: me
    formula: {kind: formula, expression: "m * 2"}
"""
    err = _bad(cyc)
    assert "circular" in err.message and err.field is not None and err.field.startswith("metrics.m")
    err = _bad("metrics: [1, 2]")
    assert err.field == "metrics"
    err = _bad("datasets:\n  d:\n    sql: SELECT * FROM orders\n    time: ts\n")
    assert err.field == "datasets.d.sql" and "SELECT *" in err.message
    err = _bad("datasets:\n  d:\n    sql: SELECT o.ts FROM orders o ASOF JOIN users u ON o.ts >= u.registered_at\n    time: ts\n")
    assert err.field == "datasets.d.sql" and "ASOF" in err.message
    folder = settings.home / "metrics"
    folder.mkdir()
    (folder / "broken.yaml").write_text("metrics: {x: [", encoding="utf-8")
    with pytest.raises(JingyunError) as exc:
        load_dictionary(settings)
    assert "broken.yaml" in exc.value.message and "not valid YAML" in exc.value.message


def test_catalogue_covers_the_issue_list(settings: Settings) -> None:
    d = load_dictionary(settings)
    wanted = {"new_users", "dau", "wau", "mau", "stickiness", "visitors", "conversion_rate", "retention_d1",
              "retention_d7", "retention_d30", "gmv", "orders", "aov", "repurchase_rate", "purchase_interval",
              "refund_rate", "paying_members", "member_revenue_share", "marketing_spend", "cac", "roi", "roas",
              "ltv", "ltv_cac", "nps", "csat", "complaint_rate"}
    assert wanted <= set(d.metrics)
    for m in d.metrics.values():
        assert m.zh and m.en and m.description_zh and m.description_en and m.owner


def test_docs_mention_every_shipped_metric(settings: Settings) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    for name in load_dictionary(settings).metrics:
        assert f"`{name}`" in docs, name
