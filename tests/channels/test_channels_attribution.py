"""Attribution models on hand-built touch paths, each credit computed by hand."""

from __future__ import annotations

import pytest
from channel_rows import orders, touches

from jingyun.analysis.attribution import (
    AttributionParams,
    build_rule_sql,
    build_totals_sql,
    build_transitions_sql,
    conversion_probability,
    removal_effects,
    run_attribution,
    run_models,
)
from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend
from jingyun.warehouse.portable import check, to_spark


def _credits(result) -> dict[str, tuple[float, float]]:  # type: ignore[no-untyped-def]
    return {c.channel: (round(c.conversions, 9), round(c.revenue, 6)) for c in result.channels}


@pytest.fixture
def paths(wh: Warehouse) -> None:
    touches(wh, [
        # p1: A, B, C a day apart, then the order (100) a day after C.
        ("p1", "2026-03-01 10:00:00", "A"), ("p1", "2026-03-02 10:00:00", "B"), ("p1", "2026-03-03 10:00:00", "C"),
        ("p2", "2026-03-01 10:00:00", "B"),
        # p4: A is 40 days before the order, outside the 30-day lookback; C is inside.
        ("p4", "2026-01-20 10:00:00", "A"), ("p4", "2026-02-28 10:00:00", "C"),
        # p1's touch after the order is not on its path.
        ("p1", "2026-03-05 10:00:00", "A"),
    ])
    orders(wh, [
        ("o1", "p1", "2026-03-04 10:00:00", 100), ("o2", "p2", "2026-03-01 11:00:00", 50),
        ("o3", "p3", "2026-03-02 10:00:00", 30), ("o4", "p4", "2026-03-01 12:00:00", 20),
        ("o5", "p1", "2026-03-04 11:00:00", 999, "cancelled"),
    ])


def test_rule_models_by_hand(backend: DuckDBBackend, paths: None) -> None:
    p = AttributionParams.create(half_life="1d")
    got = run_models(backend, p, ("first_touch", "last_touch", "linear", "position", "time_decay"))
    assert _credits(got["first_touch"]) == {"A": (1, 100), "B": (1, 50), "C": (1, 20), "(none)": (1, 30)}
    assert _credits(got["last_touch"]) == {"C": (2, 120), "B": (1, 50), "(none)": (1, 30)}
    lin = _credits(got["linear"])
    assert lin["A"] == (round(1 / 3, 9), round(100 / 3, 6))
    assert lin["B"] == (round(4 / 3, 9), round(100 / 3 + 50, 6))
    assert lin["C"] == (round(4 / 3, 9), round(100 / 3 + 20, 6))
    assert _credits(got["position"]) == {"A": (0.4, 40), "B": (1.2, 70), "C": (1.4, 60), "(none)": (1, 30)}
    # Ages 3, 2, 1 days with a 1-day half-life: weights 1/4, 1/2, 1 → 1/7, 2/7, 4/7.
    td = _credits(got["time_decay"])
    assert td["A"] == (round(1 / 7, 9), round(100 / 7, 6))
    assert td["B"] == (round(2 / 7 + 1, 9), round(200 / 7 + 50, 6))
    assert td["C"] == (round(4 / 7 + 1, 9), round(400 / 7 + 20, 6))
    for r in got.values():
        assert r.conversions == 4 and r.revenue == 200.0 and r.touched_conversions == 3
        assert sum(c.conversions for c in r.channels) == pytest.approx(4)
        assert sum(c.share for c in r.channels) == pytest.approx(1)


def test_position_weights_and_lookback(backend: DuckDBBackend, paths: None) -> None:
    p = AttributionParams.create("position", position_weights="0.3,0.4,0.3", lookback="60d")
    got = _credits(run_attribution(backend, p))
    # o4's path is now A, C (two touches: the 0.4 middle share goes to the ends, 50/50).
    assert got["A"] == (round(0.3 + 0.5, 9), (30 + 10))
    assert got["B"] == (round(0.4 + 1, 9), (40 + 50))
    assert got["C"] == (round(0.3 + 0.5, 9), (30 + 10))


def test_identical_timestamps(backend: DuckDBBackend, wh: Warehouse) -> None:
    touches(wh, [("q", "2026-03-01 10:00:00", "B"), ("q", "2026-03-01 10:00:00", "A")])
    orders(wh, [("x", "q", "2026-03-01 10:00:00", 10)])
    got = run_models(backend, AttributionParams.create(), ("time_decay", "linear", "first_touch", "last_touch"))
    assert _credits(got["time_decay"]) == {"A": (0.5, 5), "B": (0.5, 5)}
    assert _credits(got["linear"]) == {"A": (0.5, 5), "B": (0.5, 5)}
    # Ties are ordered by channel name, deterministically.
    assert _credits(got["first_touch"]) == {"A": (1, 10)}
    assert _credits(got["last_touch"]) == {"B": (1, 10)}


def test_date_range_is_local_days(backend: DuckDBBackend, paths: None) -> None:
    # 2026-03-01 11:00 UTC is 19:00 in Shanghai; the range 2026-03-02.. keeps o1 (03-04) and o3 (03-02 18:00 local).
    p = AttributionParams.create("last_touch", date_from="2026-03-02", date_to="2026-03-04")
    r = run_attribution(backend, p)
    assert (r.conversions, r.revenue) == (2, 130.0)
    assert _credits(r) == {"C": (1, 100), "(none)": (1, 30)}


def test_markov_two_channels_by_hand(backend: DuckDBBackend, wh: Warehouse) -> None:
    """Paths: A→B→conv, A→null, B→conv.

    Transitions: start→A 2/3, start→B 1/3, A→B 1/2, A→null 1/2, B→conv 1.
    P(conv) = 2/3·1/2 + 1/3 = 2/3. Without A: 1/3 → RE_A = 1 − (1/3)/(2/3) = 1/2.
    Without B: 0 → RE_B = 1. Shares 1/3 and 2/3 of the 2 conversions and of 90 + 30 revenue.
    """
    touches(wh, [("m1", "2026-03-01 10:00:00", "A"), ("m1", "2026-03-02 10:00:00", "B"),
                 ("m2", "2026-03-01 10:00:00", "A"), ("m3", "2026-03-01 09:00:00", "B")])
    orders(wh, [("c1", "m1", "2026-03-03 10:00:00", 90), ("c3", "m3", "2026-03-01 10:00:00", 30)])
    p = AttributionParams.create("markov")
    counts = {(r["src"], r["dst"]): r["n"] for r in backend.run(build_transitions_sql(p)).to_pylist()}
    assert counts == {("(start)", "A"): 2, ("(start)", "B"): 1, ("A", "B"): 1, ("A", "(null)"): 1,
                      ("B", "(conversion)"): 2}
    assert conversion_probability(counts) == pytest.approx(2 / 3)
    assert removal_effects(counts) == pytest.approx({"A": 0.5, "B": 1.0})
    r = run_attribution(backend, p)
    got = {c.channel: (c.conversions, c.revenue, c.removal_effect) for c in r.channels}
    assert got["A"] == pytest.approx((2 / 3, 40.0, 0.5))
    assert got["B"] == pytest.approx((4 / 3, 80.0, 1.0))
    assert set(got) == {"A", "B"}


def test_markov_loops_and_untouched(backend: DuckDBBackend, wh: Warehouse) -> None:
    # A→A→conv (a self-loop), plus an untouched order: RE_A = 1, and (none) keeps its conversion.
    touches(wh, [("m1", "2026-03-01 10:00:00", "A"), ("m1", "2026-03-01 11:00:00", "A")])
    orders(wh, [("c1", "m1", "2026-03-01 12:00:00", 10), ("c2", "zz", "2026-03-01 12:00:00", 5)])
    r = run_attribution(backend, AttributionParams.create("markov"))
    assert {c.channel: (c.conversions, c.revenue) for c in r.channels} == {"A": (1.0, 10.0), "(none)": (1.0, 5.0)}


def test_event_conversions_and_empty(backend: DuckDBBackend, wh: Warehouse) -> None:
    r = run_attribution(backend, AttributionParams.create("markov"))
    assert (r.conversions, r.channels) == (0, [])
    touches(wh, [("e1", "2026-03-01 10:00:00", "A")])
    wh.con.execute("INSERT INTO events (event_id, user_id, event, ts, person_id, is_test) VALUES "
                   "('ev1', 'e1', 'signup', TIMESTAMP '2026-03-01 10:30:00', 'e1', FALSE)")
    r = run_attribution(backend, AttributionParams.create("linear", conversion_event="signup"))
    assert [(c.channel, c.conversions) for c in r.channels] == [("A", 1.0)]


def test_queries_are_portable() -> None:
    for model in ("linear", "markov"):
        p = AttributionParams.create(model, date_from="2026-01-01", date_to="2026-01-31")
        for sql in (build_rule_sql(p), build_totals_sql(p), build_transitions_sql(p)):
            check(sql)
            assert "SELECT" in to_spark(sql)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"model": "nope"}, "model"), ({"lookback": "0"}, "lookback"), ({"half_life": "x"}, "half_life"),
    ({"position_weights": "0.5,0.5,0.5"}, "position_weights"), ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "from"),
])
def test_bad_params(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(JingyunError) as err:
        AttributionParams.create(**kwargs)
    assert err.value.field == field
