"""Assignment: deterministic, stable when weights or traffic grow, distributed as weighted."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from dataclasses import replace

import pytest

from jingyun.errors import JingyunError
from jingyun.experiments.assignment import EXPOSURE_EVENT, assign, bucket, evaluate_flag
from jingyun.experiments.definition import Experiment, Flag, Targeting, Variation

IDS = [f"user-{i}" for i in range(100_000)]


def exp(weights: tuple[float, ...], names: tuple[str, ...] = ("control", "treatment"), **kw: object) -> Experiment:
    return Experiment("checkout_copy_v2", tuple(Variation(n, w) for n, w in zip(names, weights, strict=True)), **kw).validate()  # type: ignore[arg-type]


def test_bucket_is_the_documented_sha256_prefix() -> None:
    digest = hashlib.sha256(b"k/variation/u1").digest()
    assert bucket("k", "variation", "u1") == int.from_bytes(digest[:8], "big") / 2**64
    a = assign("u1", Experiment("k"))
    assert a.bucket == bucket("k", "variation", "u1")
    assert assign("u1", Experiment("k")) == a  # deterministic


def test_growing_treatment_from_10_to_20_percent_keeps_everyone_in_treatment() -> None:
    before = exp((0.9, 0.1))
    after = exp((0.8, 0.2))
    was = {u for u in IDS if assign(u, before).variation == "treatment"}
    now = {u for u in IDS if assign(u, after).variation == "treatment"}
    assert was and was <= now
    assert abs(len(was) / len(IDS) - 0.1) < 0.01
    assert abs(len(now) / len(IDS) - 0.2) < 0.01


def test_three_way_distribution_within_one_percent_and_stable() -> None:
    names = ("control", "a", "b")
    e = exp((0.5, 0.25, 0.25), names)
    got = Counter(assign(u, e).variation for u in IDS)
    for name, w in zip(names, (0.5, 0.25, 0.25), strict=True):
        assert abs(got[name] / len(IDS) - w) < 0.01
    grown = exp((0.3, 0.35, 0.35), names)
    for u in IDS[:20_000]:
        old = assign(u, e).variation
        if old != "control":
            assert assign(u, grown).variation == old


def test_growing_traffic_only_adds_users_and_never_switches_arm() -> None:
    small = exp((0.5, 0.5), traffic=0.1)
    large = exp((0.5, 0.5), traffic=0.3)
    a_small = [assign(u, small) for u in IDS[:30_000]]
    a_large = [assign(u, large) for u in IDS[:30_000]]
    inside = sum(a.in_experiment for a in a_small)
    assert abs(inside / 30_000 - 0.1) < 0.01
    for s, big in zip(a_small, a_large, strict=True):
        if s.in_experiment:
            assert big.in_experiment and big.variation == s.variation


def test_exposure_logged_only_when_assigned() -> None:
    logged: list[dict[str, object]] = []
    e = exp((0.5, 0.5), targeting=Targeting.parse({"city": "上海", "age": {"gte": 18}}))
    a = assign("u1", e, {"city": "上海", "age": 30}, log=logged.append)
    assert a.in_experiment and logged[0]["event"] == EXPOSURE_EVENT
    assert logged[0]["properties"] == {"experiment": "checkout_copy_v2", "variation": a.variation}
    b = assign("u1", e, {"city": "北京", "age": 30}, log=logged.append)
    assert (b.in_experiment, b.reason, b.variation) == (False, "not_targeted", "control")
    c = assign("u1", replace(e, status="stopped"), {"city": "上海", "age": 30}, log=logged.append)
    assert c.reason == "not_running"
    assert len(logged) == 1


def test_targeting_operators() -> None:
    t = Targeting.parse({"level": {"in": ["gold", "silver"]}, "age": {"lt": 60}, "vip": {"exists": True}, "country": {"ne": "US"}})
    assert t.matches({"level": "gold", "age": 30, "vip": 1})
    assert not t.matches({"level": "bronze", "age": 30, "vip": 1})
    assert not t.matches({"level": "gold", "age": 70, "vip": 1})
    assert not t.matches({"level": "gold", "age": "x", "vip": 1})  # type mismatch → not targeted
    assert not t.matches({"level": "gold", "age": 30})
    with pytest.raises(JingyunError) as err:
        Targeting.parse({"age": {"between": [1, 2]}})
    assert err.value.field == "targeting"


def test_rollout_is_monotone_and_kill_switch_turns_everyone_off() -> None:
    on_sets = []
    for pct in (0.05, 0.10, 0.50, 1.0):
        flag = Flag("new_checkout", rollout=pct)
        on = {u for u in IDS[:50_000] if evaluate_flag(u, flag).on}
        assert abs(len(on) / 50_000 - pct) < 0.01
        on_sets.append(on)
    for smaller, larger in itertools.pairwise(on_sets):
        assert smaller <= larger
    killed = Flag("new_checkout", rollout=1.0, enabled=False)
    assert not any(evaluate_flag(u, killed).on for u in IDS[:1000])


def test_invalid_definitions_name_the_field() -> None:
    with pytest.raises(JingyunError) as err:
        exp((0.2, 0.6, 0.2), ("control", "a", "b"))
    assert err.value.field == "weights"
    with pytest.raises(JingyunError) as err:
        Experiment("bad key!").validate()
    assert err.value.field == "key"
    with pytest.raises(JingyunError) as err:
        exp((0.5, 0.5), traffic=0.0)
    assert err.value.field == "traffic"
