"""The shared engine suite (issue 17 item 4): the core analysis, metric and segment cases on every engine.

Each case runs through the ``backend`` fixture (tests/conftest.py): DuckDB, and Spark over the same
rows exported to Parquet. Each case compares an engine's result with DuckDB's (the reference; on
DuckDB itself that is a rerun) and checks a hand-written count where one is cheap, so a case fails
on an engine that answers differently, and none passes on an empty answer.
Gaps are declared with ``@engine_gap("spark", reason=..., raises=...)`` from tests/conftest.py (a strict
xfail naming what is raised); none is needed today.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from jingyun.analysis.funnel import FunnelParams, run_funnel
from jingyun.analysis.paths import PathsParams, run_paths
from jingyun.analysis.retention import RetentionParams, run_retention
from jingyun.metrics.compute import ComputeParams, compute
from jingyun.metrics.dictionary import load_dictionary
from jingyun.segments import audience
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import Backend

TZ = "Asia/Shanghai"


def _no_sql(result: Any) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data.pop("sql", None)
    return data


@pytest.fixture(scope="module")
def reference(engine_business: Warehouse) -> Backend:
    from jingyun.warehouse.backends import open_backend

    return open_backend(engine_business.settings, engine="duckdb", warehouse=engine_business)


def test_the_engine_counts_the_rows(backend: Backend, engine_business: Warehouse) -> None:
    got = backend.run("SELECT count(*) AS n, count(DISTINCT user_id) AS u FROM events WHERE NOT is_test").to_pylist()
    assert got == [dict(zip(("n", "u"), engine_business.rows(
        "SELECT count(*), count(DISTINCT user_id) FROM events WHERE NOT is_test")[0], strict=True))]
    assert got[0]["n"] > 1000


@pytest.mark.parametrize("mode", ["default", "strict", "any"])
def test_funnel(backend: Backend, reference: Backend, engine_business: Warehouse, mode: str) -> None:
    p = FunnelParams.create(["view", "cart", "pay"], "6h", mode=mode, by="platform", timezone=TZ)
    result = run_funnel(backend, p)
    # the first step by hand: people with a non-test view
    first = engine_business.scalar("SELECT count(DISTINCT person_id) FROM events WHERE event = 'view' AND NOT is_test")
    assert result.steps[0].users == first and result.steps[2].users > 0
    assert _no_sql(result) == _no_sql(run_funnel(reference, p))


def test_retention(backend: Backend, reference: Backend) -> None:
    p = RetentionParams.create("view", "pay", 5, timezone=TZ)
    result = run_retention(backend, p)
    assert _no_sql(result) == _no_sql(run_retention(reference, p))
    assert any(c.size > 0 for c in result.cohorts)


def test_paths(backend: Backend, reference: Backend) -> None:
    p = PathsParams.create("view", depth=3, timezone=TZ)
    assert _no_sql(run_paths(backend, p)) == _no_sql(run_paths(reference, p))


@pytest.mark.parametrize(("metric", "grain"), [("gmv", "day"), ("orders", "total"), ("buyers", "total"), ("aov", "week")])
def test_metric(backend: Backend, reference: Backend, engine_business: Warehouse, metric: str, grain: str) -> None:
    d = load_dictionary(engine_business.settings)
    p = ComputeParams.create(metric, dt.date(2026, 10, 1), dt.date(2026, 10, 10), grain=grain, timezone=TZ)
    result = compute(backend, d, p)
    assert _no_sql(result) == _no_sql(compute(reference, d, p))
    assert any(point.value for point in result.points)


@pytest.mark.parametrize("rule", [
    {"event": "pay", "within_days": 7},
    {"and": [{"attr": "channel", "op": "eq", "value": "ads"}, {"orders": "count", "op": "gte", "value": 2}]},
    {"not": {"event": "pay", "within_days": 2}},
])
def test_segment_size(backend: Backend, reference: Backend, rule: dict[str, Any]) -> None:
    compiled = audience.compile_rule(rule, audience.RuleContext(as_of=dt.datetime(2026, 10, 11)))
    count = f"SELECT count(*) AS n FROM ({compiled.sql}) s"
    got = backend.run(count).to_pylist()
    assert got == reference.run(count).to_pylist()
    assert got[0]["n"] > 0

