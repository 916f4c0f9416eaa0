"""Each rule kind fires exactly at its boundary and not before, on a warehouse with known daily GMV."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from conftest import ANOMALY_DAY, SERIES, series_day
from jingyun.errors import JingyunError
from jingyun.metrics.compute import value_over
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.kpi import parse_targets
from jingyun.ops.alerts.evaluate import closing_period, evaluate, shift, year_earlier
from jingyun.ops.alerts.rules import parse_rules
from jingyun.warehouse.backends import Backend

D = load_dictionary()


def _fired(backend: Backend, rules: list[dict[str, Any]], day: dt.date, targets: Any = None) -> dict[str, str]:
    rs = parse_rules({"rules": rules}, D, targets)
    ev = evaluate(backend, D, rs, day, targets=targets, diagnose_findings=False)
    return {f.rule.id: f.level for f in ev.findings}


def test_the_warehouse_holds_the_designed_series(backend: Backend) -> None:
    got = [value_over(backend, D, "gmv", series_day(i), series_day(i)) for i in range(len(SERIES))]
    assert got == SERIES


def test_change_rule_levels_at_exactly_10_and_20_percent(backend: Backend) -> None:
    rule = {"id": "gmv-dod", "kind": "change", "metric": "gmv", "period": "day", "yellow": "10%", "red": "20%"}
    got = [_fired(backend, [rule], series_day(i)).get("gmv-dod") for i in range(1, len(SERIES))]
    # 1000→901 (−9.9 %), rise, 1000→900 (−10 %), rise, 1000→800 (−20 %), rise, 1000→801 (−19.9 %), rises
    assert got == [None, None, "yellow", None, "red", None, "yellow", None, None, None]


def test_change_rule_is_direction_aware(backend: Backend) -> None:
    # Where lower is better (a refund rate, a cost), a fall is good news and a rise is the alert.
    rule = {"id": "up", "kind": "change", "metric": "gmv", "direction": "lower", "yellow": "10%", "red": "20%"}
    got = [_fired(backend, [rule], series_day(i)).get("up") for i in range(1, 9)]
    # rises: 901→1000 (+10.99 %), 900→1000 (+11.1 %), 800→1000 (+25 %), 801→990 (+23.6 %)
    assert got == [None, "yellow", None, "yellow", None, "red", None, "red"]


def test_blue_notice_below_yellow(backend: Backend) -> None:
    rule = {"id": "b", "kind": "change", "metric": "gmv", "blue": "5%", "yellow": "10%", "red": "20%"}
    assert _fired(backend, [rule], series_day(1)) == {"b": "blue"}


def test_threshold_is_strict_or_inclusive_as_written(backend: Backend) -> None:
    strict = {"id": "lt", "kind": "threshold", "metric": "gmv", "op": "<", "value": 900, "level": "yellow"}
    incl = {"id": "le", "kind": "threshold", "metric": "gmv", "op": "<=", "value": 900, "level": "red"}
    days = {i: _fired(backend, [strict, incl], series_day(i)) for i in (1, 3, 5, 7)}
    assert days == {1: {}, 3: {"le": "red"}, 5: {"lt": "yellow", "le": "red"}, 7: {"lt": "yellow", "le": "red"}}


def test_stop_loss_line_carries_its_plan(backend: Backend) -> None:
    rule = {"id": "stop", "kind": "stop_loss", "metric": "gmv", "op": "<", "value": 801, "plan": "紧急预案"}
    rs = parse_rules({"rules": [rule]}, D, None)
    assert evaluate(backend, D, rs, series_day(7), diagnose_findings=False).findings == []  # 801 is on the line
    f = evaluate(backend, D, rs, series_day(5), diagnose_findings=False).findings
    assert [(x.level, x.rule.plan, x.value, x.reference) for x in f] == [("red", "紧急预案", 800.0, 801.0)]


def test_consecutive_rule_fires_on_the_third_day_only(backend: Backend) -> None:
    rule = {"id": "c3", "kind": "consecutive", "metric": "gmv", "op": "<", "value": 995, "periods": 3}
    got = {i: _fired(backend, [rule], series_day(i)).get("c3") for i in range(6, 11)}
    # below 995 on days 7, 8, 9 (801, 990, 990); day 6 and 10 are 1000
    assert got == {6: None, 7: None, 8: None, 9: "yellow", 10: None}


def test_below_target_three_months_in_a_row(backend: Backend) -> None:
    targets = parse_targets({"targets": [{"id": "gmv", "metric": "gmv", "target": 31_000, "weight": 100}]}, D, "t")
    rule = {"id": "t3", "kind": "consecutive", "target": "gmv", "period": "month", "periods": 3}
    aug = value_over(backend, D, "gmv", dt.date(2026, 8, 1), dt.date(2026, 8, 31))
    assert aug is not None and aug >= 31_000  # August meets the target: no run of three months below it
    assert _fired(backend, [rule], dt.date(2026, 10, 31), targets) == {}
    # a target of 40,000 a month puts August, September and October all below it
    high = parse_targets({"targets": [{"id": "gmv", "metric": "gmv", "target": 40_000, "weight": 100}]}, D, "t")
    assert _fired(backend, [rule], dt.date(2026, 10, 31), high) == {"t3": "yellow"}
    assert _fired(backend, [rule], dt.date(2026, 10, 30), high) == {}  # not a month's last day: not due
    two = {**rule, "id": "t2"}
    assert _fired(backend, [two], dt.date(2026, 9, 30), high) == {}  # only Aug and Sep: two in a row, not three


def test_anomaly_fires_on_the_out_of_line_day_only(backend: Backend) -> None:
    rule = {"id": "an", "kind": "anomaly", "metric": "gmv", "lookback": 60}
    assert _fired(backend, [rule], ANOMALY_DAY - dt.timedelta(days=1)) == {}
    assert _fired(backend, [rule], ANOMALY_DAY) == {"an": "yellow"}
    # a spike the good way is not an alert on a higher-is-better metric
    assert _fired(backend, [{**rule, "id": "hi", "direction": "lower"}], ANOMALY_DAY) == {}


def test_calendar_of_complete_periods() -> None:
    assert closing_period("week", dt.date(2026, 10, 18)) == (dt.date(2026, 10, 12), dt.date(2026, 10, 18))
    assert closing_period("week", dt.date(2026, 10, 17)) is None
    assert closing_period("month", dt.date(2026, 2, 28)) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert shift("month", (dt.date(2026, 1, 1), dt.date(2026, 1, 31)), 2) == (dt.date(2025, 11, 1), dt.date(2025, 11, 30))
    assert year_earlier("day", (dt.date(2028, 2, 29),) * 2) == (dt.date(2027, 2, 28),) * 2
    assert year_earlier("month", (dt.date(2026, 10, 1), dt.date(2026, 10, 31))) == (dt.date(2025, 10, 1),
                                                                                  dt.date(2025, 10, 31))


@pytest.mark.parametrize(("rule", "field"), [
    ({"id": "x", "kind": "change", "metric": "nope"}, "rules[0].metric"),
    ({"id": "x", "kind": "stop_loss", "metric": "cac", "op": ">", "value": 25}, "rules[0].plan"),
    ({"id": "x", "kind": "threshold", "metric": "gmv"}, "rules[0].value"),
    ({"id": "x", "kind": "change", "metric": "gmv", "yellow": "30%", "red": "20%"}, "rules[0].red"),
    ({"id": "x", "kind": "anomaly", "metric": "cac"}, "rules[0].metric"),
    ({"id": "x", "kind": "sideways", "metric": "gmv"}, "rules[0].kind"),
    ({"id": "", "metric": "gmv"}, "rules[0].id"),
    ({"id": "x", "metric": "gmv", "colour": "red"}, "rules[0].colour"),
])
def test_bad_rules_name_the_field(rule: dict[str, Any], field: str) -> None:
    with pytest.raises(JingyunError) as exc:
        parse_rules({"rules": [rule]}, D, None, "alert_rules.yaml")
    assert exc.value.code == "bad_alert_rule" and exc.value.field == field
