"""`jingyun alerts rules|evaluate|list|ack|map` through the CLI on the hand-built warehouse."""

from __future__ import annotations

import json

import pytest

from conftest import load, series_day, write_rules
from jingyun.cli.main import main
from jingyun.config import Settings
from jingyun.warehouse import Warehouse

RULES = [{"id": "gmv-dod", "kind": "change", "metric": "gmv", "yellow": "10%", "red": "20%", "department": "Trade"},
         {"id": "gmv-mom", "kind": "change", "metric": "gmv", "period": "month"}]


def test_cli_round_trip(asettings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with Warehouse.open(asettings) as wh:
        load(wh)
    write_rules(asettings, RULES)
    assert main(["alerts", "rules", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["rules"]] == ["gmv-dod", "gmv-mom"]
    assert main(["alerts", "evaluate", "--as-of", series_day(5).isoformat(), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(f["rule"], f["level"]) for f in out["findings"]] == [("gmv-dod", "red")]
    assert out["not_due"] == ["gmv-mom"]  # 2026-10-15 closes no month
    assert out["findings"][0]["diagnosis"]["top_driver"]["values"] == {"channel": "seo"}
    assert main(["alerts", "list", "--level", "red", "--json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert page["total"] == 1 and page["items"][0]["value_text"] == "¥800.00"
    assert page["items"][0]["opened_at"].endswith("+08:00")
    aid = page["items"][0]["id"]
    assert main(["alerts", "ack", str(aid), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "acknowledged"
    assert main(["alerts", "map", "--json"]) == 0
    trade = json.loads(capsys.readouterr().out)
    trade = next(g for g in trade if g["department"] == "Trade")
    # acknowledged: in hand, so it no longer colours the light, and the cell still says it is there
    assert (trade["worst"], [(c["subject"], c["level"], c["alert_id"], c["handled"]) for c in trade["lights"]]) == \
        ("green", [("gmv", "green", None, [{"id": aid, "level": "red", "status": "acknowledged"}])])
    assert main(["alerts", "evaluate", "--as-of", "2026-13-01"]) == 2
    assert "bad_date" in capsys.readouterr().err
