"""KPI targets: attainment both ways, bands, normalised weights, previous period and a missing prior year."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from jingyun.errors import JingyunError
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.kpi import (
    EXAMPLE_PATH,
    Bands,
    Target,
    load_targets,
    parse_targets,
    scorecard,
    scorecard_dict,
)
from jingyun.metrics.model import Dictionary
from jingyun.metrics.periods import parse_period
from jingyun.warehouse.backends.duckdb import DuckDBBackend

# Period: local day 2026-10-02 (previous: Oct 1; a year ago: no data at all).
DAY_TARGETS: dict[str, Any] = {
    "bands": {"green": "100%", "yellow": "90%"},
    "targets": [
        # GMV Oct 2 = 50 + 120 + 30 = 200 → 200 / 250 = 80% (red); Oct 1 was 100 + 80 = 180.
        {"id": "gmv", "metric": "gmv", "op": ">=", "target": 250, "weight": "30%", "owner": "Trade", "period": "day"},
        # Complaints Oct 2: 1 (p2's cs 2) / 3 orders; target ≤ 30% → 0.3 / (1/3) = 90% (yellow).
        {"id": "complaints", "metric": "complaint_rate", "op": "<=", "target": "30%", "weight": 30,
         "owner": "Service", "period": "day"},
        # New users Oct 2: p4 (00:01 local) → 1 / 1 = 100% (green).
        {"id": "new", "metric": "new_users", "target": 1, "weight": "20%", "owner": "Growth", "period": "day"},
    ],
}


def _card(hand: DuckDBBackend, d: Dictionary, data: dict[str, Any], period: str = "2026-10-02") -> dict[str, Any]:
    ts = parse_targets(data, d, "t.yaml")
    return scorecard_dict(scorecard(hand, d, ts, parse_period(period)))


def _by_id(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for p in card["perspectives"] for t in p["targets"]}


def test_scorecard_attainment_status_and_normalised_score(hand: DuckDBBackend, dictionary: Dictionary) -> None:
    card = _card(hand, dictionary, DAY_TARGETS)
    t = _by_id(card)
    assert t["gmv"]["actual"] == 200.0 and t["gmv"]["attainment"] == pytest.approx(0.8)
    assert t["gmv"]["status"] == "red" and t["gmv"]["gap"] == -50.0
    assert t["complaints"]["op"] == "<=" and t["complaints"]["attainment"] == pytest.approx(0.9)
    assert t["complaints"]["status"] == "yellow"
    assert t["new"]["op"] == ">=" and t["new"]["attainment"] == 1.0 and t["new"]["status"] == "green"
    # Weights 30% + 30% + 20% = 80%: normalised by their total, with a warning.
    assert card["weight_total"] == pytest.approx(0.8) and card["weights_normalised"] is True
    assert card["score"] == pytest.approx((0.3 * 0.8 + 0.3 * 0.9 + 0.2 * 1.0) / 0.8)
    assert card["status"] == "red"  # 88.75% < 90%
    assert any("not 100%" in w for w in card["warnings"])
    groups = {p["perspective"]: p for p in card["perspectives"]}
    assert set(groups) == {"financial", "process", "customer"}
    assert groups["process"]["score"] == pytest.approx(0.9) and groups["process"]["status"] == "yellow"


def test_previous_period_and_missing_year_ago(hand: DuckDBBackend, dictionary: Dictionary) -> None:
    t = _by_id(_card(hand, dictionary, DAY_TARGETS))
    prev = t["gmv"]["previous"]
    assert prev["period"] == "2026-10-01" and prev["value"] == 180.0
    assert prev["change"] == 20.0 and prev["change_pct"] == pytest.approx(20 / 180)
    for target in t.values():
        assert target["year_ago"] == {"period": "2025-10-02", "value": None, "change": None, "change_pct": None}
    # new users on Oct 1: p1, p2, p3 → 1 vs 3.
    assert t["new"]["previous"]["value"] == 3 and t["new"]["previous"]["change_pct"] == pytest.approx(-2 / 3)


def test_daily_average_target_and_no_data(hand: DuckDBBackend, dictionary: Dictionary) -> None:
    data = {"targets": [
        # Month of October: new users per day averaged over all 31 days = 4 / 31.
        {"id": "daily_new", "metric": "new_users", "target": 1, "grain": "day", "weight": 50, "period": "month"},
        {"id": "csat", "metric": "csat", "target": "50%", "weight": 50, "period": "month"},
    ]}
    t = _by_id(_card(hand, dictionary, data, "2026-10"))
    assert t["daily_new"]["actual"] == pytest.approx(4 / 31)
    assert t["csat"]["actual"] == pytest.approx(2 / 3) and t["csat"]["attainment"] == pytest.approx(4 / 3)
    # Score caps attainment at 120%.
    assert t["csat"]["score"] == pytest.approx(1.2)
    # September begins before any feedback exists: the comparison is missing, not zero.
    assert t["csat"]["previous"]["value"] is None
    nothing = _card(hand, dictionary, data, "2025-10")
    assert all(x["status"] == "no_data" and x["score"] == 0 for x in _by_id(nothing).values())
    assert nothing["score"] == 0.0


def test_attainment_rules() -> None:
    higher = Target("a", "gmv", ">=", 200.0, 0.5, "o", "financial", "month")
    lower = Target("b", "refund_rate", "<=", 0.05, 0.5, "o", "process", "month")
    assert higher.attainment(250.0, 1.2) == 1.25
    assert lower.attainment(0.10, 1.2) == 0.5  # twice the allowed rate: half attained
    assert lower.attainment(0.025, 1.2) == 2.0
    assert lower.attainment(0.0, 1.2) == 1.2  # nothing refunded: the cap
    assert higher.attainment(None, 1.2) is None
    bands = Bands(green=0.95, yellow=0.8)
    assert [bands.status(x) for x in (0.95, 0.94, 0.8, 0.79, None)] == ["green", "yellow", "yellow", "red", "no_data"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metric": "gmvv"}, "targets[0].metric"),
        ({"op": ">"}, "targets[0].op"),
        ({"target": 0}, "targets[0].target"),
        ({"target": "lots"}, "targets[0].target"),
        ({"weight": -5}, "targets[0].weight"),
        ({"period": "someday"}, "targets[0].period"),
        ({"perspective": "people"}, "targets[0].perspective"),
        ({"grain": "day", "metric": "mau"}, "targets[0].grain"),
        ({"color": "red"}, "targets[0].color"),
    ],
)
def test_bad_targets_name_the_field(dictionary: Dictionary, change: dict[str, Any], field: str) -> None:
    target = {"metric": "gmv", "target": 100, "weight": 50} | change
    with pytest.raises(JingyunError) as err:
        parse_targets({"targets": [target]}, dictionary, "t.yaml")
    assert err.value.field == field and "t.yaml" in err.value.message


def test_bad_bands_and_periods(dictionary: Dictionary, hand: DuckDBBackend) -> None:
    with pytest.raises(JingyunError) as err:
        parse_targets({"bands": {"green": "90%", "yellow": "95%"}, "targets": [{"metric": "gmv", "target": 1,
                                                                               "weight": 1}]}, dictionary, "t.yaml")
    assert err.value.field == "bands.yellow"
    ts = parse_targets({"targets": [{"metric": "gmv", "target": 1, "weight": 1, "period": "month"}]}, dictionary, "t")
    with pytest.raises(JingyunError) as err:
        scorecard(hand, dictionary, ts, parse_period("2026-Q4"))
    assert err.value.field == "period" and "month" in err.value.message
    with pytest.raises(JingyunError) as err:
        parse_period("2026-13")
    assert err.value.field == "period"


def test_period_arithmetic() -> None:
    p = parse_period("2026-10")
    assert (p.start, p.end, p.previous().label, p.year_ago().label) == (
        dt.date(2026, 10, 1), dt.date(2026, 10, 31), "2026-09", "2025-10")
    assert parse_period("2026-01").previous().label == "2025-12"
    assert parse_period("2026-Q1").previous().label == "2025-Q4"
    w = parse_period("2026-W41")
    assert w.start == dt.date(2026, 10, 5) and w.days == 7 and w.previous().label == "2026-W40"
    assert w.year_ago().label == "2025-W41"
    assert parse_period("2024-02-29").year_ago().label == "2023-02-28"
    assert parse_period("2026").days == 365


def test_specific_period_target_replaces_recurring(dictionary: Dictionary) -> None:
    ts = parse_targets({"targets": [
        {"id": "g", "metric": "gmv", "target": 100, "weight": 1, "period": "month"},
        {"id": "g", "metric": "gmv", "target": 500, "weight": 1, "period": "2026-10"},
    ]}, dictionary, "t")
    assert [t.value for t in ts.for_period(parse_period("2026-10"))] == [500.0]
    assert [t.value for t in ts.for_period(parse_period("2026-09"))] == [100.0]


def test_shipped_example_is_valid() -> None:
    d = load_dictionary()
    ts = load_targets(d, EXAMPLE_PATH)
    raw = yaml.safe_load(EXAMPLE_PATH.read_text(encoding="utf-8"))
    assert len(ts.targets) == len(raw["targets"]) >= 4
    assert {t.perspective for t in ts.targets} == {"financial", "customer", "process", "learning"}
    assert sum(t.weight for t in ts.targets) == pytest.approx(1.0)
