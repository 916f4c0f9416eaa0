"""The breakdown value at a person's first touch, found by one min() of the packed (instant, value code) in the
default mode: against a reference in Python, against the join form it replaces, and its fallbacks (too many
values for the pack, a first instant outside the pack's range) to the join form."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pytest

from jingyun.analysis import funnel as fn
from jingyun.analysis.common import rows
from jingyun.analysis.funnel import FunnelParams, build_funnel_sql, run_funnel

PLATFORMS = ["web", "app", "miniprogram", None]


@pytest.fixture
def tied(events) -> list[tuple]:
    # 30-minute grid over 4 days: many persons have several views at their first instant, some NULL platforms.
    rng = np.random.default_rng(5)
    start = dt.datetime(2024, 5, 1, 2)
    out = []
    for i in range(3000):
        name = str(rng.choice(["view", "cart", "pay", "home"], p=[0.5, 0.25, 0.15, 0.1]))
        ts = start + dt.timedelta(minutes=30 * int(rng.integers(0, 4 * 48)))
        platform = PLATFORMS[int(rng.integers(0, 4))]
        out.append((f"p{rng.integers(0, 150)}", name, ts.strftime("%Y-%m-%d %H:%M:%S"), platform, {"k": i % 3}))
    events(out)
    return out


def first_touch_reference(rows_: list[tuple]) -> Counter:
    """Persons per breakdown value at their earliest view (ties: smallest value, NULL only if all are NULL)."""
    first: dict[str, tuple[str, list]] = {}
    for person, name, ts, platform, _ in rows_:
        if name != "view":
            continue
        cur = first.get(person)
        if cur is None or ts < cur[0]:
            first[person] = (ts, [platform])
        elif ts == cur[0]:
            cur[1].append(platform)
    values = [min((v for v in vals if v is not None), default=None) for _, vals in first.values()]
    return Counter("(none)" if v is None else v for v in values)


def by_value(result) -> dict[str, list[int]]:
    return {g.value: [s.users for s in g.steps] for g in result.breakdown}


def test_packed_first_touch_matches_reference_and_join_form(backend, tied):
    p = FunnelParams.create(["view", "cart", "pay"], "2h", by="platform")
    r = run_funnel(backend, p)
    assert len(r.sql) == 2  # funnel + time to convert: the pack fitted, no second read
    assert {v: s[0] for v, s in by_value(r).items()} == first_touch_reference(tied)
    # The same rows as the join form, period and level included.
    packed = [{k: v for k, v in x.items() if k != "packed"} for x in rows(backend, build_funnel_sql(p))]
    assert packed == rows(backend, build_funnel_sql(p, packed=False))
    assert all(x["packed"] for x in rows(backend, build_funnel_sql(p)))
    assert sum(v[0] for v in by_value(r).values()) == r.steps[0].users and r.steps[2].users > 0


def test_property_breakdown_is_packed_too(backend, tied):
    p = FunnelParams.create(["view", "pay"], "1h", by="properties.k", period="week")
    assert "pk_ok" in build_funnel_sql(p)
    assert rows(backend, build_funnel_sql(p, packed=False)) == [
        {k: v for k, v in x.items() if k != "packed"} for x in rows(backend, build_funnel_sql(p))]


def test_too_many_values_fall_back_to_the_join_form(backend, tied, monkeypatch):
    p = FunnelParams.create(["view", "cart", "pay"], "2h", by="platform")
    expected = run_funnel(backend, p)
    monkeypatch.setattr(fn, "_CODES", 3)  # 4 values (NULL included) no longer fit
    assert not any(x["packed"] for x in rows(backend, build_funnel_sql(p)))
    r = run_funnel(backend, p)
    assert len(r.sql) == 3 and "pk_ok" not in r.sql[1]
    assert by_value(r) == by_value(expected) and r.trend == expected.trend


def test_first_instant_out_of_range_falls_back(backend, events):
    events([
        ("old", "view", "1850-03-01 00:00:00", "web"), ("old", "view", "1850-03-01 00:00:00", "app"),
        ("old", "pay", "1850-03-01 00:10:00"),
        ("now", "view", "2024-03-01 00:00:00", "web"), ("now", "pay", "2024-03-01 00:10:00"),
    ])
    p = FunnelParams.create(["view", "pay"], "1h", by="platform")
    assert not rows(backend, build_funnel_sql(p))[0]["packed"]
    r = run_funnel(backend, p)
    assert by_value(r) == {"app": [1, 1], "web": [1, 1]}
    assert [t.period for t in r.trend] == ["1850-03-01", "2024-03-01"]
