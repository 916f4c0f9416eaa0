"""The shared engine suite (issue 17 item 4): the core analysis, metric and segment cases on every engine.

Each case runs through the ``backend`` fixture (tests/conftest.py): DuckDB, and Spark over the same
rows exported to Parquet. Each case compares an engine's result with DuckDB's (the reference; on
DuckDB itself that is a rerun) and checks a hand-written count where one is cheap, so a case fails
on an engine that answers differently, and none passes on an empty answer.
Gaps are declared by the library (``jingyun.warehouse.backends.GAPS``, ``(capability, engine) -> reason``)
and named here with ``@engine_gap("spark", "<capability>")`` from tests/conftest.py: a strict xfail that
shows the library's reason and expects its ``engine_gap`` error. Only writes to the warehouse of record,
the tables Jingyun derives into it, and personal-data decryption are gaps; every read below agrees.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from engine_rows import engine_gap
from jingyun.analysis.explain import ExplainParams, run_explain
from jingyun.analysis.funnel import FunnelParams, run_funnel
from jingyun.analysis.paths import PathsParams, run_paths
from jingyun.analysis.retention import RetentionParams, run_retention
from jingyun.errors import JingyunError
from jingyun.experiments.analyze import analyze_experiment
from jingyun.experiments.definition import Experiment
from jingyun.experiments.warehouse import segment_memberships, write_exposures
from jingyun.metrics.compute import ComputeParams, compute
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.kpi import Target, TargetSet, kpi_card
from jingyun.models.churn import ChurnParams
from jingyun.models.churn_features import data_end, load_features
from jingyun.models.clv import ClvParams, last_order_day, load_rfm
from jingyun.models.forecast import ForecastParams, last_order_end, load_series
from jingyun.segments import audience, saved
from jingyun.segments.common import VALID_ORDER
from jingyun.segments.lifecycle import LifecycleParams, compute_lifecycle
from jingyun.segments.needs import compute_needs
from jingyun.segments.profile import build_profile
from jingyun.segments.rfm import RfmParams, compute_rfm
from jingyun.segments.snapshots import current_groups
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import GAPS, Engine, gap, writer

TZ = "Asia/Shanghai"


def _no_sql(result: Any) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data.pop("sql", None)
    return data


def _close(value: Any, rel: float = 1e-9) -> Any:
    """``value`` with every float compared to a relative tolerance: engines sum DOUBLEs in different
    orders (11570.13 vs 11570.130000000001), and Spark keeps fewer decimal places in DECIMAL division."""
    if isinstance(value, float):
        return pytest.approx(value, rel=rel, abs=1e-9)
    if isinstance(value, dict):
        return {k: _close(v, rel) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_close(v, rel) for v in value]
    return value


def _listed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _listed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_listed(v) for v in value]
    return value


@pytest.fixture(scope="module")
def reference(engine_business: Warehouse) -> Engine:
    from jingyun.warehouse.backends import open_backend

    return open_backend(engine_business.settings, engine="duckdb", warehouse=engine_business)


def test_the_engine_counts_the_rows(backend: Engine, engine_business: Warehouse) -> None:
    got = backend.run("SELECT count(*) AS n, count(DISTINCT user_id) AS u FROM events WHERE NOT is_test").to_pylist()
    assert got == [dict(zip(("n", "u"), engine_business.rows(
        "SELECT count(*), count(DISTINCT user_id) FROM events WHERE NOT is_test")[0], strict=True))]
    assert got[0]["n"] > 1000


@pytest.mark.parametrize("mode", ["default", "strict", "any"])
def test_funnel(backend: Engine, reference: Engine, engine_business: Warehouse, mode: str) -> None:
    p = FunnelParams.create(["view", "cart", "pay"], "6h", mode=mode, by="platform", timezone=TZ)
    result = run_funnel(backend, p)
    # the first step by hand: people with a non-test view
    first = engine_business.scalar("SELECT count(DISTINCT person_id) FROM events WHERE event = 'view' AND NOT is_test")
    assert result.steps[0].users == first and result.steps[2].users > 0
    assert _no_sql(result) == _no_sql(run_funnel(reference, p))


def test_retention(backend: Engine, reference: Engine) -> None:
    p = RetentionParams.create("view", "pay", 5, timezone=TZ)
    result = run_retention(backend, p)
    assert _no_sql(result) == _no_sql(run_retention(reference, p))
    assert any(c.size > 0 for c in result.cohorts)


def test_paths(backend: Engine, reference: Engine) -> None:
    p = PathsParams.create("view", depth=3, timezone=TZ)
    assert _no_sql(run_paths(backend, p)) == _no_sql(run_paths(reference, p))


@pytest.mark.parametrize(("metric", "grain"), [("gmv", "day"), ("orders", "total"), ("buyers", "total"), ("aov", "week")])
def test_metric(backend: Engine, reference: Engine, engine_business: Warehouse, metric: str, grain: str) -> None:
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
def test_segment_size(backend: Engine, reference: Engine, rule: dict[str, Any]) -> None:
    compiled = audience.compile_rule(rule, audience.RuleContext(as_of=dt.datetime(2026, 10, 11)))
    count = f"SELECT count(*) AS n FROM ({compiled.sql}) s"
    got = backend.run(count).to_pylist()
    assert got == reference.run(count).to_pylist()
    assert got[0]["n"] > 0



# -- analyses, metrics and KPI cards ---------------------------------------------------------------

@pytest.mark.parametrize("metric", ["gmv", "orders"])
def test_explain(backend: Engine, reference: Engine, metric: str) -> None:
    p = ExplainParams.create(metric, "2026-10-06..2026-10-10", by=("channel", "user_type"), timezone=TZ)
    result = run_explain(backend, p)
    assert _listed(_no_sql(result)) == _close(_no_sql(run_explain(reference, p)))
    assert result.current != 0  # the period has paid orders


def test_kpi_card(backend: Engine, reference: Engine, engine_business: Warehouse) -> None:
    d = load_dictionary(engine_business.settings)
    t = Target("gmv", "gmv", ">=", 1000.0, 1000.0, "", d.metrics["gmv"].perspective, "month")
    lo, hi = dt.date(2026, 10, 6), dt.date(2026, 10, 10)
    card = kpi_card(backend, d, TargetSet((t,)), t, lo, hi, timezone=TZ)
    assert _no_sql(card) == _no_sql(kpi_card(reference, d, TargetSet((t,)), t, lo, hi, timezone=TZ))
    # the card's actual is the dictionary's number, on every engine
    total = compute(backend, d, ComputeParams.create("gmv", lo, hi, grain="total", timezone=TZ))
    assert card.actual == total.points[0].value and card.actual


# -- segments: RFM, lifecycle, needs, audience estimates, groups -------------------------------------

AS_OF = dt.datetime(2026, 10, 11)


@pytest.mark.parametrize("scoring", ["quantile", "threshold"])
def test_rfm(backend: Engine, reference: Engine, engine_business: Warehouse, scoring: str) -> None:
    p = RfmParams(as_of=AS_OF, scoring=scoring)  # type: ignore[arg-type]
    result = compute_rfm(backend, p, with_persons=True)
    assert _no_sql(result) == _no_sql(compute_rfm(reference, p, with_persons=True))
    # customers by hand: real people with a valid order before as_of
    customers = engine_business.scalar(f"SELECT count(DISTINCT person_id) FROM orders WHERE {VALID_ORDER} "
                                       "AND ts <= TIMESTAMP '2026-10-11 00:00:00'")
    assert result.customers == customers == len(result.persons) > 0


def test_lifecycle(backend: Engine, reference: Engine) -> None:
    p = LifecycleParams(as_of=AS_OF)
    result = compute_lifecycle(backend, p)
    assert _no_sql(result) == _no_sql(compute_lifecycle(reference, p))
    assert result.users > 0


def test_needs(backend: Engine, reference: Engine) -> None:
    result = compute_needs(backend, min_orders=2, keep_posteriors=True)
    assert _no_sql(result) == _no_sql(compute_needs(reference, min_orders=2, keep_posteriors=True))
    assert result.persons > 0


@pytest.mark.parametrize("rule", [
    {"event": "pay", "within_days": 3},
    {"or": [{"attr": "channel", "op": "eq", "value": "seo"}, {"orders": "sum_amount", "op": "gte", "value": 500}]},
])
def test_audience_estimate(backend: Engine, reference: Engine, rule: dict[str, Any]) -> None:
    got = saved.estimate(backend, rule, as_of=AS_OF)
    want = saved.estimate(reference, rule, as_of=AS_OF)
    assert (got.size, got.universe, got.share, got.sql) == (want.size, want.universe, want.share, want.sql)
    assert 0 < got.size < got.universe


@pytest.mark.parametrize("scheme", ["lifecycle", "rfm"])
def test_current_groups(backend: Engine, reference: Engine, scheme: str) -> None:
    got = current_groups(backend, scheme, AS_OF)
    assert got == current_groups(reference, scheme, AS_OF) and got


# -- models and experiments: their feature and metric queries ---------------------------------------

def test_clv_features(backend: Engine, reference: Engine) -> None:
    p = ClvParams(calibration_end=dt.date(2026, 10, 10), time_unit="day").validate()
    got, want = load_rfm(backend, p), load_rfm(reference, p)
    assert list(got.person_id) == list(want.person_id) and len(got) > 0
    for name in ("frequency", "recency", "T", "monetary"):
        assert getattr(got, name).tolist() == getattr(want, name).tolist(), name
    assert last_order_day(backend) == last_order_day(reference) == dt.date(2026, 10, 11)


def test_churn_features(backend: Engine, reference: Engine) -> None:
    fp = ChurnParams(as_of=dt.date(2026, 10, 8)).features(dt.date(2026, 10, 8))
    got, want = load_features(backend, fp), load_features(reference, fp)
    assert got.person_id.tolist() == want.person_id.tolist() and len(got) > 0
    assert got.X.tolist() == _close(want.X.tolist(), rel=1e-6)  # Spark: DECIMAL quotients to 7 places
    assert data_end(backend) == data_end(reference)


def test_forecast_series(backend: Engine, reference: Engine) -> None:
    p = ForecastParams(history_days=9)  # a load only: no model is fitted on nine days
    got, want = load_series(backend, p, dt.date(2026, 10, 11)), load_series(reference, p, dt.date(2026, 10, 11))
    assert (got.keys, got.periods, got.values.tolist()) == (want.keys, want.periods, want.values.tolist())
    assert got.values.sum() > 0
    assert last_order_end(backend) == last_order_end(reference)


def test_experiment(backend: Engine, reference: Engine) -> None:
    exp = Experiment("engine_ab", start=dt.datetime(2026, 10, 1), window_days=5).validate()
    got, want = _no_sql(analyze_experiment(backend, exp)), _no_sql(analyze_experiment(reference, exp))
    got.pop("seconds")
    want.pop("seconds")
    assert _listed(got) == _close(want)
    assert sum(got["counts"].values()) == 60


# -- declared gaps: the library refuses them with its reason; the fixture reads the same registry -----

@engine_gap("spark", "warehouse_writes")
def test_writes_go_to_the_warehouse_of_record(backend: Engine) -> None:
    assert write_exposures(backend, []) == 0


@engine_gap("spark", "derived_tables")
def test_membership_reads_the_warehouse_of_record(backend: Engine) -> None:
    assert saved.members(backend, "nobody") == []
    assert segment_memberships(backend, "u1") == []


@engine_gap("spark", "personal_reveal")
def test_profile(backend: Engine, engine_business: Warehouse) -> None:
    p = build_profile(backend, "u3", limit=100, as_of=AS_OF)
    assert p.person_id == "u3"
    assert len(p.orders) == engine_business.scalar("SELECT count(*) FROM orders WHERE person_id = 'u3'")


def test_a_gap_is_refused_with_its_reason(engine_business: Warehouse) -> None:
    class Lake:  # any engine named spark: the registry, not the class, decides
        name = "spark"
        settings = engine_business.settings

    with pytest.raises(JingyunError) as info:
        writer(Lake(), "warehouse_writes")  # type: ignore[arg-type]
    assert info.value.code == "engine_gap" and info.value.status == 501
    assert GAPS[("warehouse_writes", "spark")] in info.value.message
    assert gap("warehouse_writes", "duckdb") is None


# -- no back doors: segments, models and experiments read through the seam only ---------------------

CAPABILITIES = ("segments", "models", "experiments")


def test_capabilities_have_no_duckdb_back_door() -> None:
    import ast
    import pathlib

    import jingyun

    root = pathlib.Path(jingyun.__file__).parent
    found = []
    for package in CAPABILITIES:
        for path in sorted((root / package).glob("*.py")):
            text = path.read_text(encoding="utf-8")
            for bad in ("import duckdb", "Warehouse", ".to_arrow_table()", "information_schema", "CatalogException"):
                if bad in text:
                    found.append(f"{path.name}: {bad}")
            # a DuckDB connection is reached only through writer(), the declared write gap
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef):
                    body = ast.get_source_segment(text, node) or ""
                    if (".con." in body or ".transaction()" in body) and "writer(" not in body:
                        found.append(f"{path.name}: {node.name} uses a connection without writer()")
    assert found == []
