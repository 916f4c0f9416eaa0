"""On a small demo business: the diagnosis names the planted GMV driver (short_video new users).

The demo plants the drop in the last full month (2026-10 with the default end date) against the
month before. 5,000 users over 240 days is the smallest size seen to show it clearly (GMV falls and
short_video/new is by far the largest negative segment); the truth's own contributions, computed
from the generator's arrays, must equal ours to the cent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jingyun.analysis.attribution import AttributionParams, run_models
from jingyun.analysis.channels import ChannelParams, run_channels
from jingyun.analysis.explain import ExplainParams, run_explain
from jingyun.config import load_settings
from jingyun.demo.build import build
from jingyun.demo.params import DemoParams
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DuckDBBackend, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("demo_channels")
    settings = load_settings(home)
    build(settings, DemoParams(users=5000, days=240, seed=7), ingest=True)
    truth = json.loads((Path(home) / "demo" / "ground_truth.json").read_text(encoding="utf-8"))
    wh = Warehouse.open(settings, read_only=True)
    yield DuckDBBackend(wh), truth
    wh.close()


def _months(truth: dict[str, Any]) -> tuple[str, str]:
    d = truth["diagnosis"]
    return d["period"]["from"][:7], d["previous"]["from"][:7]


def test_gmv_and_contributions_equal_the_truth(demo: tuple[DuckDBBackend, dict[str, Any]]) -> None:
    backend, truth = demo
    d = truth["diagnosis"]
    cur, prev = _months(truth)
    e = run_explain(backend, ExplainParams.create("gmv", cur, prev, by="channel,user_type"))
    assert e.current == pytest.approx(d["period"]["gmv"], abs=0.005)
    assert e.previous == pytest.approx(d["previous"]["gmv"], abs=0.005)
    ours = {s.segment.replace(" / ", "/"): s.contribution for s in e.segments}
    assert ours == pytest.approx(d["contributions"], abs=0.01)
    assert sum(s.contribution for s in e.segments) == pytest.approx(e.change, abs=1e-6)


def test_diagnosis_names_the_planted_driver(demo: tuple[DuckDBBackend, dict[str, Any]]) -> None:
    backend, truth = demo
    d = truth["diagnosis"]
    assert d["gmv_falls"], "this size should show the planted GMV drop"
    cur, prev = _months(truth)
    by_channel = run_explain(backend, ExplainParams.create("gmv", cur, prev, by="channel"))
    assert by_channel.change < 0
    assert by_channel.drivers[0].segment == d["driver"]["channel"] == "short_video"
    crossed = run_explain(backend, ExplainParams.create("gmv", cur, prev, by="channel,user_type"))
    assert crossed.drivers[0].values == {"channel": "short_video", "user_type": "new"}
    # The cause is conversion of new users: fewer orders from them.
    orders = run_explain(backend, ExplainParams.create("orders", cur, prev, by="channel,user_type"))
    assert min(orders.segments, key=lambda s: s.contribution).segment == "short_video / new"


def test_channel_report_flags_the_driver(demo: tuple[DuckDBBackend, dict[str, Any]]) -> None:
    backend, truth = demo
    d = truth["diagnosis"]
    r = run_channels(backend, ChannelParams.create(d["period"]["from"], d["period"]["to"]))
    got = {c.channel: c for c in r.channels}
    # short_video still pays for sign-ups, but they no longer buy: the highest CAC and a low-value quadrant.
    paid = [c for c in r.channels if c.spend > 0]
    assert max(paid, key=lambda c: c.cac or 0).channel == "short_video"
    assert got["short_video"].quadrant in ("problem", "watch")
    assert sum(c.new_customers for c in r.channels) == r.totals["new_customers"]


def test_attribution_sums_on_the_demo(demo: tuple[DuckDBBackend, dict[str, Any]]) -> None:
    backend, truth = demo
    d = truth["diagnosis"]
    res = run_models(backend, AttributionParams.create(date_from=d["period"]["from"], date_to=d["period"]["to"]))
    n = {m: r.conversions for m, r in res.items()}
    assert len(set(n.values())) == 1 and next(iter(n.values())) > 0
    for r in res.values():
        assert sum(c.conversions for c in r.channels) == pytest.approx(r.conversions)
        assert sum(c.revenue for c in r.channels) == pytest.approx(r.revenue)
        assert r.touched_conversions > 0
