"""Funnels on hand-built events with known answers (times are UTC; the workspace is Asia/Shanghai)."""

from __future__ import annotations

import pytest

from jingyun.analysis.common import Step
from jingyun.analysis.funnel import FunnelParams, dropped_users, run_funnel
from jingyun.errors import JingyunError
from jingyun.warehouse.filters import Filter

D = "2024-01-10"  # local day used by most cases; 2024-01-10 00:00 Shanghai = 2024-01-09 16:00 UTC


def users(backend, steps, **kw):
    kw.setdefault("window", "24h")
    return [s.users for s in run_funnel(backend, FunnelParams.create(steps, **kw)).steps]


def test_identical_timestamps_convert(backend, events):
    events([("a", "view", "2024-01-10 02:00:00"), ("a", "cart", "2024-01-10 02:00:00"), ("a", "pay", "2024-01-10 02:00:00")])
    assert users(backend, ["view", "cart", "pay"]) == [1, 1, 1]


def test_window_boundary_is_inclusive(backend, events):
    events([
        ("in", "view", "2024-01-10 02:00:00"), ("in", "pay", "2024-01-11 02:00:00"),  # exactly 24 h: included
        ("out", "view", "2024-01-10 02:00:00"), ("out", "pay", "2024-01-11 02:00:01"),  # 24 h + 1 s: excluded
    ])
    assert users(backend, ["view", "pay"]) == [2, 1]
    assert users(backend, ["view", "pay"], window="86401") == [2, 2]


def test_later_start_rescues_a_chain(backend, events):
    # The first view is too old for the pay, the second view is not: any chain counts.
    events([("a", "view", "2024-01-10 00:00:00"), ("a", "view", "2024-01-11 00:00:00"), ("a", "cart", "2024-01-11 01:00:00"),
            ("a", "pay", "2024-01-11 02:00:00")])
    assert users(backend, ["view", "cart", "pay"]) == [1, 1, 1]


def test_steps_out_of_order(backend, events):
    events([("a", "view", "2024-01-10 00:00:00"), ("a", "pay", "2024-01-10 01:00:00"), ("a", "cart", "2024-01-10 02:00:00")])
    assert users(backend, ["view", "cart", "pay"]) == [1, 1, 0]
    assert users(backend, ["view", "cart", "pay"], mode="any") == [1, 1, 1]
    assert users(backend, ["view", "cart", "pay"], mode="strict") == [1, 0, 0]


def test_repeated_steps_follow_clickhouse(backend, events):
    # As in ClickHouse windowFunnel, one event matching two steps fills both; strict mode needs two events.
    events([("one", "view", "2024-01-10 00:00:00"),
            ("two", "view", "2024-01-10 00:00:00"), ("two", "view", "2024-01-10 00:05:00"), ("two", "pay", "2024-01-10 00:06:00")])
    assert users(backend, ["view", "view", "pay"]) == [2, 2, 1]
    assert users(backend, ["view", "view", "pay"], mode="strict") == [2, 1, 1]


def test_strict_mode_breaks_on_other_funnel_events(backend, events):
    events([
        ("a", "view", "2024-01-10 00:00:00"), ("a", "search", "2024-01-10 00:01:00"), ("a", "cart", "2024-01-10 00:02:00"),
        ("b", "view", "2024-01-10 00:00:00"), ("b", "pay", "2024-01-10 00:01:00"), ("b", "cart", "2024-01-10 00:02:00"),
        ("b", "pay", "2024-01-10 00:03:00"),
        ("c", "view", "2024-01-10 00:00:00"), ("c", "pay", "2024-01-10 00:01:00"), ("c", "view", "2024-01-10 00:02:00"),
        ("c", "cart", "2024-01-10 00:03:00"), ("c", "pay", "2024-01-10 00:04:00"),
    ])
    # a: search is not a funnel event; b: pay sits between view and cart; c: the second chain is clean.
    assert users(backend, ["view", "cart", "pay"], mode="strict") == [3, 2, 1]
    assert users(backend, ["view", "cart", "pay"]) == [3, 3, 2]


def test_date_range_uses_local_days(backend, events):
    events([
        ("before", "view", "2024-01-09 15:59:59"), ("before", "pay", "2024-01-09 16:30:00"),  # 23:59:59 on the 9th, local
        ("start", "view", "2024-01-09 16:00:00"), ("start", "pay", "2024-01-09 16:30:00"),  # 00:00 on the 10th, local
        ("late", "view", "2024-01-10 15:59:59"), ("late", "pay", "2024-01-11 03:00:00"),  # pay after `to` still counts
        ("next", "view", "2024-01-10 16:00:00"), ("next", "pay", "2024-01-10 16:30:00"),  # 11th, local
    ])
    assert users(backend, ["view", "pay"], date_from=D, date_to=D) == [2, 2]
    assert users(backend, ["view", "pay"], date_from="2024-01-09", date_to=D) == [3, 3]


def test_test_users_are_excluded(backend, events):
    events([("real", "view", "2024-01-10 00:00:00"), ("qa", "view", "2024-01-10 00:00:00", "app", None, True),
            ("qa", "pay", "2024-01-10 00:01:00", "app", None, True)])
    assert users(backend, ["view", "pay"]) == [1, 0]
    assert users(backend, ["view", "pay"], include_test=True) == [2, 1]


def test_exclusion_cancels_chains_it_interrupts(backend, events):
    events([
        ("x", "view", "2024-01-10 00:00:00"), ("x", "cancel", "2024-01-10 00:01:00"), ("x", "pay", "2024-01-10 00:02:00"),
        ("y", "cancel", "2024-01-10 00:00:00"), ("y", "view", "2024-01-10 00:01:00"), ("y", "pay", "2024-01-10 00:02:00"),
        ("z", "view", "2024-01-10 00:00:00"), ("z", "cancel", "2024-01-10 00:01:00"), ("z", "view", "2024-01-10 00:02:00"),
        ("z", "pay", "2024-01-10 00:03:00"),
    ])
    p = FunnelParams.create(["view", "pay"], exclusions=["cancel"])
    assert [s.users for s in run_funnel(backend, p).steps] == [3, 2]
    assert dropped_users(backend, p, 2) == ["x"]
    with pytest.raises(JingyunError) as err:
        FunnelParams.create(["view", "pay"], exclusions=["cancel"], mode="any")
    assert err.value.field == "exclusions"


def test_property_filters(backend, events):
    events([
        ("a", "view", "2024-01-10 00:00:00", "app", {"sku": "1", "price": 50}), ("a", "pay", "2024-01-10 00:01:00"),
        ("b", "view", "2024-01-10 00:00:00", "app", {"sku": "2", "price": 500}), ("b", "pay", "2024-01-10 00:01:00"),
        ("c", "view", "2024-01-10 00:00:00", "app", {"price": 80}),
    ])
    cheap = Step("view", (Filter("price", "lt", 100),))
    assert users(backend, [cheap, "pay"]) == [2, 1]
    assert users(backend, [Step("view", (Filter("sku", "eq", 2),)), "pay"]) == [1, 1]
    assert users(backend, [Step("view", (Filter("sku", "in", ["1", "2"]),)), "pay"]) == [2, 2]
    assert users(backend, [Step("view", (Filter("sku", "is_not_set"),)), "pay"]) == [1, 0]
    assert users(backend, [Step("view", (Filter("sku", "neq", "1"),)), "pay"]) == [2, 1]


def test_breakdowns_by_platform_and_user_column(wh, backend, events):
    from analysis_rows import insert_users

    events([
        ("a", "view", "2024-01-10 00:00:00", "web"), ("a", "view", "2024-01-10 00:05:00", "app"), ("a", "pay", "2024-01-10 00:06:00", "app"),
        ("b", "view", "2024-01-10 00:00:00", "app"),
        ("c", "view", "2024-01-10 00:00:00", "app"), ("c", "pay", "2024-01-10 00:01:00", "app"),
    ])
    insert_users(wh, [("a", None, "ads"), ("b", None, "ads"), ("c", None, "seo")])
    r = run_funnel(backend, FunnelParams.create(["view", "pay"], by="platform"))
    # The value is the one on the person's first step-1 event: a counts under web.
    assert {g.value: [s.users for s in g.steps] for g in r.breakdown} == {"app": [2, 1], "web": [1, 1]}
    r = run_funnel(backend, FunnelParams.create(["view", "pay"], by="users.channel"))
    assert {g.value: [s.users for s in g.steps] for g in r.breakdown} == {"ads": [2, 1], "seo": [1, 1]}
    assert r.breakdown_by == "users.channel"


def test_step_metrics_bottleneck_previous_period_and_trend(backend, events):
    rows = []
    # Current period 2024-01-10..11: 10 view, 8 cart, 2 pay. Previous (08..09): 10 view, 5 cart, 4 pay.
    for i in range(10):
        rows.append((f"c{i}", "view", "2024-01-10 02:00:00" if i < 6 else "2024-01-11 02:00:00"))
        if i < 8:
            rows.append((f"c{i}", "cart", "2024-01-11 03:00:00"))
        if i < 2:
            rows.append((f"c{i}", "pay", "2024-01-11 04:00:00"))
        rows.append((f"p{i}", "view", "2024-01-08 02:00:00"))
        if i < 5:
            rows.append((f"p{i}", "cart", "2024-01-08 03:00:00"))
        if i < 4:
            rows.append((f"p{i}", "pay", "2024-01-08 03:30:00"))
    events(rows)
    r = run_funnel(backend, FunnelParams.create(["view", "cart", "pay"], window="48h", date_from=D, date_to="2024-01-11"))
    assert [(s.users, s.conversion, s.step_conversion, s.drop_off) for s in r.steps] == [
        (10, 1.0, 1.0, 0), (8, 0.8, 0.8, 2), (2, 0.2, 0.25, 6)]
    assert r.bottleneck.largest_loss.step == "pay" and r.bottleneck.largest_loss.index == 3
    assert r.previous is not None and [s.users for s in r.previous.steps] == [10, 5, 4]
    assert (r.previous.date_from, r.previous.date_to) == ("2024-01-08", "2024-01-09")
    change = r.bottleneck.largest_change
    assert change is not None and change.step == "pay" and change.change == pytest.approx(0.25 - 0.8)
    assert r.to_dict()["bottleneck"]["largest_change"]["previous_step_conversion"] == change.previous_step_conversion
    assert [(t.period, t.users) for t in r.trend] == [("2024-01-10", [6, 6, 2]), ("2024-01-11", [4, 2, 0])]
    assert dropped_users(backend, FunnelParams.create(["view", "cart", "pay"], window="48h", date_from=D, date_to="2024-01-11"), 2) == ["c8", "c9"]


def test_time_to_convert(backend, events):
    events([
        ("a", "view", "2024-01-10 00:00:00"), ("a", "pay", "2024-01-10 00:00:30"),  # 30 s
        ("b", "view", "2024-01-10 00:00:00"), ("b", "pay", "2024-01-10 02:00:00"),  # 2 h
        ("c", "view", "2024-01-10 00:00:00"), ("c", "view", "2024-01-10 05:00:00"), ("c", "pay", "2024-01-10 05:10:00"),  # 10 min
    ])
    ttc = run_funnel(backend, FunnelParams.create(["view", "pay"])).time_to_convert
    assert ttc is not None and ttc.users == 3 and ttc.median_seconds == 600
    assert {b.label: b.users for b in ttc.buckets if b.users} == {"<1m": 1, "5-15m": 1, "1-4h": 1}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"steps": ["view"]}, "steps"),
        ({"steps": [f"s{i}" for i in range(21)]}, "steps"),
        ({"steps": ["view", "pay"], "window": 0}, "window"),
        ({"steps": ["view", "pay"], "window": "-2h"}, "window"),
        ({"steps": ["view", "pay"], "date_from": "2024-02-01", "date_to": "2024-01-01"}, "from"),
        ({"steps": ["view", "pay"], "mode": "loose"}, "mode"),
        ({"steps": ["view", "it's"]}, "steps[1].event"),
        ({"steps": ["view", "pay"], "by": "users.phone"}, "by"),
        ({"steps": [Step("view", (Filter("a b", "eq", 1),)), "pay"]}, "steps[0].filters[0].key"),
    ],
)
def test_invalid_parameters_name_the_field(kwargs, field):
    with pytest.raises(JingyunError) as err:
        FunnelParams.create(**kwargs)
    assert err.value.field == field


def test_unknown_step_is_refused(backend, events):
    events([("a", "view", "2024-01-10 00:00:00")])
    with pytest.raises(JingyunError) as err:
        run_funnel(backend, FunnelParams.create(["view", "checkuot"]))
    assert err.value.code == "unknown_step" and err.value.field == "steps[1]"
