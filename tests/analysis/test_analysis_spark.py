"""The Spark seam: the same analysis SQL on Spark over a Parquet export gives DuckDB's results exactly."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from analysis_rows import insert_events, insert_orders, insert_users

from jingyun.analysis.common import Step
from jingyun.analysis.funnel import FunnelParams, run_funnel
from jingyun.analysis.paths import PathsParams, run_paths
from jingyun.analysis.retention import RetentionParams, run_retention
from jingyun.config import load_settings
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend
from jingyun.warehouse.filters import Filter

pytestmark = pytest.mark.spark
pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DuckDBBackend, object]]:
    from jingyun.warehouse.backends.spark import SparkBackend

    home = tmp_path_factory.mktemp("spark_ws")
    wh = Warehouse.open(load_settings(home), memory=True)
    rng = np.random.default_rng(11)
    n, start = 3000, dt.datetime(2024, 1, 9, 12)
    names = rng.choice(["view", "cart", "pay", "cancel", "home"], n, p=[0.4, 0.25, 0.15, 0.05, 0.15])
    rows = []
    for i in range(n):
        user = f"u{rng.integers(0, 120)}"
        ts = start + dt.timedelta(minutes=int(rng.integers(0, 5 * 144)) * 10)
        platform = str(rng.choice(["app", "web"]))
        session = f"s{user}-{ts.day}" if i % 3 else None
        rows.append((user, str(names[i]), ts, platform, {"price": int(rng.integers(0, 200))}, i % 97 == 0, session))
    insert_events(wh, rows)
    insert_users(wh, [(f"u{i}", f"2024-01-{9 + i % 5:02d} 18:00:00", ["ads", "seo", None][i % 3]) for i in range(120)])
    insert_orders(wh, [(f"u{rng.integers(0, 120)}", start + dt.timedelta(hours=int(rng.integers(0, 120))),
                        float(rng.integers(100, 99999)) / 100, str(rng.choice(["paid", "cancelled"]))) for _ in range(300)])
    lake = Path(home) / "lake"
    for table in ("events", "users", "orders"):
        (lake / table).mkdir(parents=True)
        wh.con.execute(f"COPY (SELECT * FROM {table}) TO '{lake / table / 'data.parquet'}' (FORMAT parquet)")
    spark = SparkBackend(lake)
    yield DuckDBBackend(wh), spark
    spark.stop()
    wh.close()


def same(a, b) -> None:
    da, db = dataclasses.asdict(a), dataclasses.asdict(b)
    da.pop("sql"), db.pop("sql")
    assert da == db


CHEAP_VIEW = Step("view", (Filter("price", "lt", 150),))


@pytest.mark.parametrize("kw", [
    {"mode": "default", "by": "platform", "date_from": "2024-01-10", "date_to": "2024-01-12", "exclusions": ["cancel"]},
    # Without exclusions the default mode takes the join formulation; 3 days probe buckets further back.
    {"mode": "default", "by": "platform", "date_from": "2024-01-10", "date_to": "2024-01-12"},
    {"mode": "default", "window": "3d"},
    {"mode": "strict", "by": "users.channel"},
    {"mode": "any", "by": "properties.price", "period": "week"},
])
def test_funnel_same_on_spark(engines, kw):
    duck, spark = engines
    p = FunnelParams.create([CHEAP_VIEW, "cart", "pay"], **{"window": "2h", **kw})
    ours = run_funnel(duck, p)
    assert ours.steps[1].users > 0
    same(ours, run_funnel(spark, p))


@pytest.mark.parametrize("kw", [
    {"cohort_event": "view", "return_event": "pay", "by": "platform", "date_from": "2024-01-10", "date_to": "2024-01-12"},
    {"cohort_event": "cart", "return_event": "view", "unbounded": True, "revenue": True, "by": "users.channel"},
    {"cohort": "registration", "returning": "purchase", "period": "week", "revenue": True},
])
def test_retention_same_on_spark(engines, kw):
    duck, spark = engines
    p = RetentionParams.create(days=3, **kw)
    ours = run_retention(duck, p)
    assert ours.cohorts
    same(ours, run_retention(spark, p))


def test_paths_same_on_spark(engines):
    duck, spark = engines
    p = PathsParams.create("cart", "next", 3)
    ours = run_paths(duck, p)
    assert ours.sessions > 0
    same(ours, run_paths(spark, p))
