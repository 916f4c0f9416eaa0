"""How step rows are numbered when the step names are distinct (a join with an (event, step) table): filters on
later steps and on exclusions apply to their own step only, the start range only to step 1, and the
breakdown value of a person whose first step-1 events tie in time is the smallest one."""

from __future__ import annotations

from jingyun.analysis import funnel as fn
from jingyun.analysis.common import Step
from jingyun.analysis.funnel import FunnelParams, run_funnel
from jingyun.warehouse.filters import Filter


def levels(backend, p: FunnelParams) -> list[int]:
    return [s.users for s in run_funnel(backend, p).steps]


def test_filter_on_a_later_step_only(backend, events):
    events([
        ("a", "view", "2024-01-10 00:00:00", "app", {"amount": 50}), ("a", "pay", "2024-01-10 00:01:00", "app", {"amount": 5}),
        ("b", "view", "2024-01-10 00:00:00"), ("b", "pay", "2024-01-10 00:01:00", "app", {"amount": 50}),
    ])
    big_pay = Step("pay", (Filter("amount", "gt", 10),))
    p = FunnelParams.create(["view", big_pay], "1h")
    assert "JOIN (VALUES" in fn.build_funnel_sql(p)  # the numbered-join path, not the CASE/UNION one
    # a's view carries amount 50 but the filter is pay's: a's pay (5) does not count, b's does.
    assert levels(backend, p) == [2, 1]


def test_exclusion_filter_and_start_range(backend, events):
    events([
        ("x", "view", "2024-01-10 00:00:00"), ("x", "cancel", "2024-01-10 00:01:00", "app", {"reason": "other"}),
        ("x", "pay", "2024-01-10 00:02:00"),
        ("y", "view", "2024-01-10 00:00:00"), ("y", "cancel", "2024-01-10 00:01:00", "app", {"reason": "fraud"}),
        ("y", "pay", "2024-01-10 00:02:00"),
        # z's view is on 2024-01-09 local (15:59:59 UTC is 23:59:59 Shanghai): not a start in the range,
        # while its pay (next local day) still may complete chains that start inside it.
        ("z", "view", "2024-01-09 15:59:59"), ("z", "pay", "2024-01-09 16:00:01"),
    ])
    fraud = Step("cancel", (Filter("reason", "eq", "fraud"),))
    p = FunnelParams.create(["view", "pay"], "1h", "2024-01-10", "2024-01-10", exclusions=[fraud])
    assert levels(backend, p) == [2, 1]
    assert levels(backend, FunnelParams.create(["view", "pay"], "1h", "2024-01-10", "2024-01-10")) == [2, 2]
    assert levels(backend, FunnelParams.create(["view", "pay"], "1h", "2024-01-09", "2024-01-10")) == [3, 3]


def test_breakdown_tie_at_first_step_takes_smallest_value(backend, events):
    events([
        ("t", "view", "2024-01-10 00:00:00", "web"), ("t", "view", "2024-01-10 00:00:00", "app"),
        ("t", "pay", "2024-01-10 00:01:00", "web"),
        ("u", "view", "2024-01-10 00:00:01", "web"), ("u", "view", "2024-01-10 00:00:00", "miniprogram"),
    ])
    r = run_funnel(backend, FunnelParams.create(["view", "pay"], "1h", by="platform"))
    assert {g.value: [s.users for s in g.steps] for g in r.breakdown} == {"app": [1, 1], "miniprogram": [1, 0]}
