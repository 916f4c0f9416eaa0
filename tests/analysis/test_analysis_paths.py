"""Paths on hand-built sessions."""

from __future__ import annotations

import pytest

from jingyun.analysis.paths import PathsParams, run_paths
from jingyun.errors import JingyunError


def s(user, event, ts, session=None):
    return (user, event, ts, "app", None, False, session)


@pytest.fixture
def journeys(events):
    events([
        # Session ids given: s1 home > view > cart > pay ; s2 view > view > home.
        s("a", "home", "2024-01-10 01:00:00", "s1"), s("a", "view", "2024-01-10 01:01:00", "s1"),
        s("a", "cart", "2024-01-10 01:02:00", "s1"), s("a", "pay", "2024-01-10 01:03:00", "s1"),
        s("a", "view", "2024-01-10 01:02:30", "s2"), s("a", "view", "2024-01-10 01:05:00", "s2"),
        s("a", "home", "2024-01-10 01:06:00", "s2"),
        # No session id: 29 minutes apart stays one session, 31 minutes starts another.
        s("b", "search", "2024-01-10 02:00:00"), s("b", "view", "2024-01-10 02:29:00"), s("b", "cart", "2024-01-10 02:58:00"),
        s("b", "view", "2024-01-10 03:29:00"), s("b", "home", "2024-01-10 03:30:00"),
    ])


def test_next_steps_with_sessions_and_gaps(backend, journeys):
    r = run_paths(backend, PathsParams.create("view", "next", 2))
    assert r.sessions == 4
    nodes = {n.id: n.sessions for n in r.nodes}
    assert nodes == {"0:view": 4, "1:cart": 2, "1:view": 1, "1:home": 1, "2:pay": 1, "2:home": 1}
    links = {(x.source, x.target): x.sessions for x in r.links}
    assert links == {("0:view", "1:cart"): 2, ("0:view", "1:view"): 1, ("0:view", "1:home"): 1,
                     ("1:cart", "2:pay"): 1, ("1:view", "2:home"): 1}
    assert [(t.event, t.sessions, t.share) for t in r.top_steps] == [("cart", 2, 0.5), ("home", 1, 0.25), ("view", 1, 0.25)]


def test_previous_steps_and_gap_setting(backend, journeys):
    r = run_paths(backend, PathsParams.create("cart", "previous", 3))
    assert {n.id: n.sessions for n in r.nodes} == {"0:cart": 2, "1:view": 2, "2:home": 1, "2:search": 1}
    # With a 20-minute gap, b's cart (29 min after view) starts its own session: nothing before it.
    r = run_paths(backend, PathsParams.create("cart", "previous", 3, gap_minutes=20))
    assert {n.id: n.sessions for n in r.nodes} == {"0:cart": 2, "1:view": 1, "2:home": 1}


def test_top_groups_the_rest_and_collapse_repeats(backend, journeys):
    r = run_paths(backend, PathsParams.create("view", "next", 1, top=1))
    assert {n.id: n.sessions for n in r.nodes} == {"0:view": 4, "1:cart": 2, "1:(other)": 2}
    r = run_paths(backend, PathsParams.create("view", "next", 1, collapse_repeats=True))
    assert {n.id: n.sessions for n in r.nodes} == {"0:view": 4, "1:cart": 2, "1:home": 2}


@pytest.mark.parametrize(("kwargs", "field"), [({"depth": 0}, "depth"), ({"direction": "up"}, "direction"),
                                               ({"gap_minutes": 0}, "gap_minutes"), ({"top": 0}, "top")])
def test_invalid_parameters_name_the_field(kwargs, field):
    with pytest.raises(JingyunError) as err:
        PathsParams.create("view", **kwargs)
    assert err.value.field == field
