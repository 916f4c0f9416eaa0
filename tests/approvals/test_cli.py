"""The CLI: org import with row numbers, route --json prints the chain, submit/approve, incident open/close."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.approvals.conftest import ORG_CSV

from jingyun.cli.main import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_round_trip(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "org.csv"
    csv_path.write_text(ORG_CSV + "tom,,tech,manager,gm\nbad,,marketing,wizard,\n", encoding="utf-8")
    code, out, _ = run(["org", "import", str(csv_path), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and (report["created"], report["rejected"]) == (7, 1)
    assert report["errors"] == [{"row": 9, "field": "role", "message": report["errors"][0]["message"]}]
    code, out, _ = run(["approval", "route", "--type", "marketing", "--amount", "500000.01", "--json"], capsys)
    assert json.loads(out)["steps"] == [
        {"stage": 1, "position": "marketing.director", "approver": "mdir"},
        {"stage": 1, "position": "finance.director", "approver": "fdir"},
        {"stage": 2, "position": "general_manager", "approver": "gm"}]
    code, out, _ = run(["approval", "submit", "--type", "marketing", "--amount", "99999.99", "--title", "618",
                        "--as", "alice", "--json"], capsys)
    req = json.loads(out)
    assert (req["amount"], req["tier"], [s["approver"] for s in req["steps"]]) == ("99999.99", 1, ["mdir"])
    code, out, _ = run(["approval", "list", "--as", "mdir", "--box", "to_decide", "--json"], capsys)
    assert [r["id"] for r in json.loads(out)["items"]] == [req["id"]]
    code, _, err = run(["approval", "approve", str(req["id"]), "--as", "fdir"], capsys)
    assert code == 2 and "not_yours" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run(["approval", "approve", str(req["id"]), "--as", "mdir", "--json"], capsys)
    assert json.loads(out)["status"] == "approved"
    assert json.loads(out)["decided_at"].endswith("+08:00")
    code, _, err = run(["approval", "route", "--type", "marketing", "--amount", "1.001"], capsys)
    assert code == 2 and "bad_amount" in err

    code, out, _ = run(["incident", "open", "--playbook", "system_outage", "--level", "2", "--title", "支付超时",
                        "--json"], capsys)
    inc = json.loads(out)
    assert inc["first_responder"] == "tom" and inc["level"] == 2
    code, out, _ = run(["incident", "close", str(inc["id"]), "--as", "tom", "--summary", "恢复", "--root-cause",
                        "配置错误", "--action", "加校验", "--json"], capsys)
    assert json.loads(out)["status"] == "closed"
    code, out, _ = run(["incident", "list", "--json"], capsys)
    assert json.loads(out)["total"] == 1
