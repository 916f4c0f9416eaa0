"""`jingyun exp ...`: exact JSON shapes, the lifecycle, one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest

from jingyun.cli.main import main
from jingyun.config import load_settings
from jingyun.experiments.registry import get_experiment
from jingyun.warehouse import Warehouse


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_power_json(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["exp", "power", "--baseline", "0.10", "--mde", "0.01", "--alpha", "0.05", "--power", "0.8", "--json"], capsys)
    assert code == 0
    r = json.loads(out)
    ref = NormalIndPower().solve_power(proportion_effectsize(0.11, 0.10), alpha=0.05, power=0.8)
    assert r["n_per_arm"] == math.ceil(ref) == 14745 and r["days"] is None
    code, out, _ = run(["exp", "power", "--baseline", "0.10", "--mde", "0.10", "--relative", "--daily-traffic", "1000", "--json"], capsys)
    r = json.loads(out)
    assert r["target"] == pytest.approx(0.11) and r["days"] == math.ceil(r["n_total"] / 1000)


def test_calc_json_conversions(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["exp", "calc", "--control", "10000:1000", "--treatment", "10000:1100",
                        "--treatment", "b=10000:1030", "--json"], capsys)
    assert code == 0
    r = json.loads(out)
    names = [v["name"] for v in r["variations"]]
    assert names == ["treatment_1", "b"]
    v = r["variations"][0]
    for key in ("uplift_abs", "uplift_rel", "ci_abs", "ci_rel", "p_value", "chance_to_win"):
        assert key in v
    assert v["uplift_abs"] == pytest.approx(0.01) and v["uplift_rel"] == pytest.approx(0.10)
    assert v["p_value"] == pytest.approx(proportions_ztest([1100, 1000], [10000, 10000])[1], abs=1e-9)
    assert v["ci_abs"][0] < 0.01 < v["ci_abs"][1] and len(v["ci_rel"]) == 2
    assert 0.98 < v["chance_to_win"] < 0.995
    assert v["p_value_adjusted"] >= v["p_value"]  # Holm over two treatments


def test_calc_json_means_and_bad_input(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["exp", "calc", "--control", "5000:42.0:80", "--treatment", "5000:45.0:82", "--json"], capsys)
    r = json.loads(out)
    assert code == 0 and r["kind"] == "mean" and r["variations"][0]["method"] == "welch"
    code, _, err = run(["exp", "calc", "--control", "10000:1000", "--treatment", "abc", "--json"], capsys)
    assert code == 2 and "treatment" in err and "\n" not in err.strip()


def test_lifecycle_create_assign_analyze_conclude(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["exp", "create", "checkout_copy_v2", "-v", "control=0.5", "-v", "treatment=0.5",
                        "--guardrail", "event:refund", "--json"], capsys)
    assert code == 0 and json.loads(out)["status"] == "running"
    code, _, err = run(["exp", "create", "checkout_copy_v2"], capsys)
    assert code == 2 and "already exists" in err
    code, out, _ = run(["exp", "assign", "checkout_copy_v2", *[f"u{i}" for i in range(50)], "--log", "--json"], capsys)
    assigned = json.loads(out)
    assert len(assigned) == 50 and all(a["in_experiment"] for a in assigned)
    with Warehouse.open(load_settings(home)) as wh:
        assert wh.scalar("SELECT count(*) FROM events WHERE event = 'exp_exposure'") == 50
    code, out, _ = run(["exp", "analyze", "checkout_copy_v2", "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    assert sum(res["counts"].values()) == 50
    assert {m["metric"] for m in res["metrics"]} == {"conversion", "revenue", "event:refund"}
    assert "verdict" in res and res["verdict"]["zh"]
    code, out, _ = run(["exp", "list", "--json"], capsys)
    assert [e["key"] for e in json.loads(out)] == ["checkout_copy_v2"]
    assert run(["exp", "stop", "checkout_copy_v2"], capsys)[0] == 0
    code, out, _ = run(["exp", "conclude", "checkout_copy_v2", "--decision", "iterate", "--reason", "too early to tell", "--json"], capsys)
    rec = json.loads(out)
    assert rec["status"] == "concluded" and rec["decisions"][0]["decision"] == "iterate"
    assert rec["decisions"][0]["reason"] == "too early to tell" and rec["decisions"][0]["at"]
    e = get_experiment(load_settings(home), "checkout_copy_v2")
    assert e.decisions[0].decision == "iterate" and e.stop is not None
    code, _, err = run(["exp", "conclude", "checkout_copy_v2", "--decision", "maybe", "--reason", "x"], capsys)
    assert code == 2 and "decision" in err
    code, out, _ = run(["exp", "assign", "checkout_copy_v2", "u1", "--json"], capsys)
    assert json.loads(out)[0]["reason"] == "not_running"


def test_flag_rollout_and_kill(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    users = [f"--user=u{i}" for i in range(2000)]
    code, out, _ = run(["exp", "flag", "new_checkout", "--rollout", "0.05", *users, "--json"], capsys)
    five = {e["user_id"] for e in json.loads(out)["evaluations"] if e["on"]}
    code, out, _ = run(["exp", "flag", "new_checkout", "--rollout", "0.5", *users, "--json"], capsys)
    fifty = {e["user_id"] for e in json.loads(out)["evaluations"] if e["on"]}
    assert five < fifty and 0.02 < len(five) / 2000 < 0.08
    code, out, _ = run(["exp", "flag", "new_checkout", "--kill", *users, "--json"], capsys)
    r = json.loads(out)
    assert code == 0 and r["flag"]["rollout"] == 0.5 and not any(e["on"] for e in r["evaluations"])


def test_unknown_experiment_is_a_one_line_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["exp", "analyze", "nope"], capsys)
    assert code == 2 and "no experiment" in err
