"""The attribution, channels, explain and anomalies commands: JSON shapes and human tables."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channel_rows import insert, orders, touches, users

from jingyun.cli.main import main
from jingyun.config import Settings
from jingyun.warehouse import Warehouse


@pytest.fixture
def filled(settings: Settings) -> None:
    with Warehouse.open(settings) as wh:
        users(wh, [("a", "2026-01-01 00:00:00", "feed"), ("b", "2026-01-01 00:00:00", "search")])
        touches(wh, [("a", "2026-09-09 00:00:00", "feed"), ("a", "2026-10-02 00:00:00", "sms")])
        orders(wh, [("o1", "a", "2026-09-10 00:00:00", 100), ("o2", "a", "2026-10-03 00:00:00", 40),
                    ("o3", "b", "2026-10-04 00:00:00", 60)])
        insert(wh, "marketing_spend", ("date", "channel", "campaign_id", "spend"), [("2026-10-01", "feed", "f", 50)])


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_attribution_json(filled: None, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, ["attribution", "--model", "linear", "--json"])
    assert out["model"] == "linear" and out["conversions"] == 3 and out["revenue"] == 200
    assert {c["channel"]: c["conversions"] for c in out["channels"]} == {"feed": 1.5, "sms": 0.5, "(none)": 1.0}
    both = run_json(capsys, ["attribution", "--model", "all", "--json"])
    assert set(both["models"]) == {"first_touch", "last_touch", "linear", "time_decay", "position", "markov"}
    assert main(["attribution", "--model", "markov"]) == 0
    assert "removal effect" in capsys.readouterr().out


def test_channels_json(filled: None, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, ["channels", "--from", "2026-10-01", "--to", "2026-10-31", "--json"])
    feed = next(c for c in out["channels"] if c["channel"] == "feed")
    assert (feed["spend"], feed["new_customers"], feed["revenue"], feed["roas"]) == (50, 0, 40, 0.8)
    search = next(c for c in out["channels"] if c["channel"] == "search")
    assert (search["new_customers"], search["cac"], search["ltv"]) == (1, 0, 60)
    assert set(out["quadrants"]) == {"star", "potential", "watch", "problem"} and out["totals"]["spend"] == 50
    assert main(["channels"]) == 0
    assert "价值-成本矩阵" in capsys.readouterr().out


def test_explain_json(filled: None, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, ["explain", "--metric", "gmv", "--current", "2026-10", "--previous", "2026-09",
                            "--by", "channel", "--json"])
    assert (out["previous"], out["current"], out["change"]) == (100, 100, 0)
    assert {s["segment"]: s["contribution"] for s in out["segments"]} == {"feed": -60, "search": 60}
    assert out["formula"] and out["sql"]
    assert main(["explain", "--metric", "orders", "--current", "2026-10"]) == 0
    assert "Top drivers" in capsys.readouterr().out


def test_anomalies_json(filled: None, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, ["anomalies", "--metric", "orders", "--from", "2026-09-01", "--to", "2026-10-31", "--json"])
    assert len(out["days"]) == 61 and isinstance(out["anomalies"], list)


def test_errors_are_one_line(filled: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--metric", "nps", "--current", "2026-10"]) == 2
    assert "bad_metric" in capsys.readouterr().err
    assert main(["attribution", "--model", "magic"]) == 2
    assert main(["anomalies", "--from", "2026-10-01", "--to", "2026-10-05"]) == 2
