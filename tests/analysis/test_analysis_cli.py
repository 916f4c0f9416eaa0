"""The funnel, retention and paths commands: exact JSON from a read-only warehouse in JINGYUN_HOME."""

from __future__ import annotations

import json

import pytest
from analysis_rows import insert_events

from jingyun.cli.main import main
from jingyun.config import Settings
from jingyun.warehouse import Warehouse


@pytest.fixture
def filled(settings: Settings) -> None:
    with Warehouse.open(settings) as wh:
        insert_events(wh, [
            ("a", "view", "2024-01-10 01:00:00", "app", None, False, "s1"), ("a", "cart", "2024-01-10 01:10:00", "app", None, False, "s1"),
            ("a", "pay", "2024-01-10 01:20:00", "app", None, False, "s1"), ("a", "view", "2024-01-11 01:00:00"),
            ("b", "view", "2024-01-10 02:00:00"), ("b", "cart", "2024-01-12 02:00:00"),
        ])


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_funnel_json(filled, capsys):
    out = run_json(capsys, ["funnel", "--steps", "view,cart,pay", "--window", "24h", "--from", "2024-01-10", "--to", "2024-01-10", "--json"])
    assert out["steps"] == [
        {"name": "view", "users": 2, "conversion": 1.0, "step_conversion": 1.0, "drop_off": 0},
        {"name": "cart", "users": 1, "conversion": 0.5, "step_conversion": 0.5, "drop_off": 1},
        {"name": "pay", "users": 1, "conversion": 0.5, "step_conversion": 1.0, "drop_off": 0},
    ]
    assert out["bottleneck"]["largest_loss"]["step"] == "cart"
    assert out["previous"]["date_from"] == "2024-01-09" and out["sql"]


def test_retention_json(filled, capsys):
    out = run_json(capsys, ["retention", "--cohort-event", "view", "--return-event", "view", "--days", "2", "--json"])
    assert [{k: c[k] for k in ("cohort", "size", "retained")} for c in out["cohorts"]] == [
        {"cohort": "2024-01-10", "size": 2, "retained": [2, 1, 0]}]


def test_paths_json_and_tables(filled, capsys):
    out = run_json(capsys, ["paths", "--from-event", "view", "--depth", "2", "--json"])
    assert out["links"] == [{"source": "0:view", "target": "1:cart", "sessions": 1},
                            {"source": "1:cart", "target": "2:pay", "sessions": 1}]
    assert main(["funnel", "--steps", "view,cart", "--by", "platform"]) == 0
    assert "Bottleneck" in capsys.readouterr().out
    assert main(["retention", "--cohort-event", "view", "--return-event", "view", "--revenue"]) == 0
    assert main(["paths", "--from-event", "view"]) == 0


def test_errors_are_one_line(filled, capsys):
    assert main(["funnel", "--steps", "view,cart", "--window", "0h"]) == 2
    assert "window" in capsys.readouterr().err
    assert main(["funnel", "--steps", "view,nope"]) == 2
    assert "steps[1]" in capsys.readouterr().err
