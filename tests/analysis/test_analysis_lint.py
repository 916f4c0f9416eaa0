"""Every query the analysis builders produce stays inside the portable subset (and transpiles to Spark)."""

from __future__ import annotations

import itertools

import pytest

from jingyun.analysis.common import Step
from jingyun.analysis.funnel import FunnelParams, build_dropped_sql, build_funnel_sql, build_ttc_sql
from jingyun.analysis.paths import PathsParams, build_paths_sql
from jingyun.analysis.retention import RetentionParams, build_retention_sql, build_revenue_sql
from jingyun.warehouse import portable
from jingyun.warehouse.filters import Filter

FILTERED = Step("view", (Filter("price", "gte", 10), Filter("sku", "in", ["a", "b'c"])))


def funnel_params():
    # Every mode with every breakdown kind; exclusions and date ranges alternate (parsing is the slow part).
    cases = itertools.product(("default", "strict", "any"), (None, "platform", "users.channel", "properties.sku"))
    for i, (mode, by) in enumerate(cases):
        excl = ("cancel",) if i % 2 and mode != "any" else ()
        dates = ("2024-01-01", "2024-01-31") if i % 3 else (None, None)
        yield FunnelParams.create([FILTERED, "cart", "checkout", "pay"], "2h", *dates, mode, excl, by, "week")
    yield FunnelParams.create([f"s{i}" for i in range(20)], "7d", mode="strict")


def retention_params():
    cases = itertools.product(("event", "registration", "purchase"), ("event", "purchase"), ("day", "week", "month"))
    for i, (cohort, returning, period) in enumerate(cases):
        unbounded = bool(i % 2)
        by = (None, "users.channel", "platform")[i % 3] if cohort == "event" else (None, "users.channel")[i % 2]
        yield RetentionParams.create(FILTERED, "open", 30, cohort=cohort, returning=returning, period=period,
                                     unbounded=unbounded, by=by, revenue=True, date_from="2024-01-01", date_to="2024-03-31")


def all_queries():
    for p in funnel_params():
        yield build_funnel_sql(p)
        yield build_ttc_sql(p)
        yield build_dropped_sql(p, 2)
    for r in retention_params():
        yield build_retention_sql(r)
        yield build_revenue_sql(r)
    for direction, collapse in itertools.product(("next", "previous"), (False, True)):
        yield build_paths_sql(PathsParams.create(FILTERED, direction, 5, collapse_repeats=collapse, date_from="2024-01-01"))


@pytest.mark.parametrize("sql", list(all_queries()))
def test_query_is_portable(sql):
    assert portable.lint(sql) == []
    assert portable.to_spark(sql)
