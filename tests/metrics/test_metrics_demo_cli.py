"""On a small demo business: GMV agrees with an independent sum; the CLI prints exact JSON."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from jingyun.cli.main import main
from jingyun.config import load_settings
from jingyun.demo.build import build
from jingyun.demo.params import DemoParams
from jingyun.metrics.compute import ComputeParams, compute
from jingyun.metrics.dictionary import load_dictionary
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend

PAID = {"paid", "shipped", "completed", "refunded", "returned"}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("metrics_demo")
    build(load_settings(home), DemoParams(users=300, days=60, seed=5))
    return home


@pytest.fixture
def demo_env(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JINGYUN_HOME", str(demo_home))
    return demo_home


def _independent_gmv(home: Path, month: tuple[int, int]) -> Decimal:
    """Sum order amounts in Python: local month via zoneinfo, paid statuses, no test accounts."""
    tz = ZoneInfo("Asia/Shanghai")
    with Warehouse.open(load_settings(home), read_only=True) as wh:
        rows = wh.rows("SELECT ts, amount, status, is_test FROM orders")
    total = Decimal("0")
    for ts, amount, status, is_test in rows:
        local = ts.replace(tzinfo=dt.UTC).astimezone(tz)
        if (local.year, local.month) == month and status in PAID and not is_test:
            total += amount
    return total


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = main(args)
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 and "--json" in args else out.err)


def test_demo_gmv_month_equals_independent_sum(demo_home: Path) -> None:
    expected = _independent_gmv(demo_home, (2026, 10))
    assert expected > 0
    settings = load_settings(demo_home)
    with Warehouse.open(settings, read_only=True) as wh:
        d = load_dictionary(settings)
        res = compute(DuckDBBackend(wh), d, ComputeParams.create("gmv", "2026-10-01", "2026-10-31", grain="month"))
        daily = compute(DuckDBBackend(wh), d, ComputeParams.create("gmv", "2026-10-01", "2026-10-31", grain="day"))
    assert res.points[0].value == float(expected)
    assert sum(Decimal(str(p.value)) for p in daily.points) == expected


def test_every_metric_runs_on_the_demo(demo_home: Path) -> None:
    settings = load_settings(demo_home)
    with Warehouse.open(settings, read_only=True) as wh:
        d = load_dictionary(settings)
        values = {name: compute(DuckDBBackend(wh), d, ComputeParams.create(name, "2026-09-01", "2026-10-31",
                                                                           grain="total")).points[0].value
                  for name in d.metrics}
    assert values["orders"] and values["visitors"] and values["marketing_spend"]
    assert 0 < values["refund_rate"] < 1 and 0 < values["retention_d1"] < 1
    assert values["aov"] == pytest.approx(values["gmv"] / values["orders"])


def test_cli_compute_json(demo_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _run(["metrics", "compute", "gmv", "--from", "2026-10-01", "--to", "2026-10-31",
                       "--grain", "month", "--json"], capsys)
    assert code == 0
    assert data["metric"] == "gmv" and data["grain"] == "month" and data["unit"] == "CNY"
    assert data["points"][0]["bucket"] == "2026-10-01" and data["points"][0]["label"] == "2026-10"
    assert data["points"][0]["value"] == float(_independent_gmv(demo_env, (2026, 10)))
    code, data = _run(["metrics", "compute", "dau", "--from", "2026-10-01", "--to", "2026-10-07", "--by",
                       "platform", "--json"], capsys)
    assert code == 0 and {p["by_value"] for p in data["points"]} <= {"app", "web", "miniprogram", "pos"}
    assert len(data["points"]) % 7 == 0


def test_cli_list_show_and_errors(demo_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _run(["metrics", "list", "--json"], capsys)
    assert code == 0 and "conversion_rate" in {m["name"] for m in data["metrics"]}
    code, data = _run(["metrics", "show", "conversion_rate", "--json"], capsys)
    assert code == 0 and data["formula"]["references"] == ["orders", "visitors"]
    code, err = _run(["metrics", "compute", "nope", "--from", "2026-10-01", "--to", "2026-10-02"], capsys)
    assert code == 2 and "nope" in err
    code, err = _run(["metrics", "compute", "mau", "--from", "2026-10-01", "--to", "2026-10-02", "--grain", "day"],
                     capsys)
    assert code == 2 and "[grain]" in err
    assert main(["metrics", "compute", "gmv", "--from", "2026-10-01", "--to", "2026-10-31", "--grain", "week"]) == 0
    assert "gmv" in capsys.readouterr().out


def test_cli_kpi_scorecard_json(demo_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _run(["kpi", "targets", "--json"], capsys)
    assert code == 0 and data["weight_total"] == pytest.approx(1.0)
    code, card = _run(["kpi", "scorecard", "--period", "2026-10", "--json"], capsys)
    assert code == 0
    assert card["period"] == "2026-10" and card["from"] == "2026-10-01" and card["to"] == "2026-10-31"
    assert [p["perspective"] for p in card["perspectives"]] == ["financial", "customer", "process", "learning"]
    targets = {t["id"]: t for p in card["perspectives"] for t in p["targets"]}
    assert targets["gmv"]["actual"] == float(_independent_gmv(demo_env, (2026, 10)))
    assert targets["gmv"]["previous"]["period"] == "2026-09"
    # The 60-day demo starts in September 2026 (plus CRM order history): no events a year before.
    assert targets["daily_new_users"]["year_ago"]["period"] == "2025-10"
    weights = sum(t["weight"] for t in targets.values())
    assert card["score"] == pytest.approx(sum(t["weight"] * t["score"] for t in targets.values()) / weights)
    code, err = _run(["kpi", "scorecard", "--period", "2026-Q4"], capsys)
    assert code == 2 and "[period]" in err
