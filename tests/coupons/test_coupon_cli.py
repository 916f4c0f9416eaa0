"""``jingyun coupon``: create, list, issue, report, thresholds through the CLI; bad input is one line, exit 2."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from jingyun.cli.main import main
from jingyun.config import Settings
from jingyun.warehouse import Warehouse


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_coupon_cli_end_to_end(settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    later = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    code, out, _ = _run(capsys, "coupon", "create", "--key", "c200", "--kind", "threshold", "--threshold", "200",
                        "--amount-off", "30", "--valid-until", later, "--stock", "5", "--budget", "120", "--json")
    assert code == 0 and json.loads(out)["remaining_budget"] == "120.00"
    code, out, _ = _run(capsys, "coupon", "issue", "c200", "u1", "--key", "ops:u1", "--json")
    issued = json.loads(out)
    assert code == 0 and issued["display"].count("-") == 2 and issued["valid_until"].endswith("+08:00")
    code, out, _ = _run(capsys, "coupon", "issue", "c200", "u1", "--key", "ops:u1", "--json")
    assert json.loads(out)["code"] == issued["code"] and json.loads(out)["created"] is False
    for user in ("u2", "u3", "u4"):
        assert _run(capsys, "coupon", "issue", "c200", user)[0] == 0
    code, _, err = _run(capsys, "coupon", "issue", "c200", "u5")  # 4 × 30 = 120: the budget is spent
    assert code == 2 and err.strip().startswith("error: coupon_over_budget [budget]") and len(err.strip().splitlines()) == 1
    code, out, _ = _run(capsys, "coupon", "list", "--json")
    listed = json.loads(out)
    assert listed["total"] == 1 and listed["items"][0]["issued"] == 4 and listed["items"][0]["remaining_stock"] == 1

    wh = Warehouse.open(settings)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    wh.con.execute("INSERT INTO orders (order_id, user_id, ts, amount, discount, coupon_id, status, person_id, is_test) "
                   "VALUES ('o1', 'u1', ?, 240, 30, ?, 'paid', 'u1', FALSE), "
                   "('o2', 'h1', ?, 90, NULL, NULL, 'paid', 'h1', FALSE)", [now, issued["display"], now])
    wh.close()
    holdout = tmp_path / "holdout.txt"
    holdout.write_text("user_id\nh1\nh2\nh3\n", encoding="utf-8")
    code, out, _ = _run(capsys, "coupon", "report", "--holdout", str(holdout), "--margin-rate", "0.5", "--json")
    rep = json.loads(out)["templates"][0]
    assert code == 0 and (rep["issued"], rep["redeemed"], rep["discount_cost"]) == (4, 1, "30.00")
    assert rep["redemption_rate"] == 0.25 and rep["lift"]["treated"] == 4 and rep["lift"]["control"] == 3
    # per person: treated 240,0,0,0 (mean 60); holdout 90,0,0 (mean 30): +30 a person, 120 in all
    assert rep["lift"]["incremental_gmv"] == pytest.approx(120.0)
    assert rep["net"] == pytest.approx(120.0 * 0.5 - 30)
    code, out, _ = _run(capsys, "coupon", "thresholds", "--json")
    th = json.loads(out)
    assert code == 0 and th["best_redemption"] == "c200" and th["thresholds"][0]["distribution"][8] == {"low": "260.00", "high": "280.00", "orders": 1, "redeemed": 1}


def test_coupon_cli_refuses_bad_templates(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "coupon", "create", "--key", "bad", "--kind", "threshold", "--threshold", "200",
                        "--amount-off", "30.005", "--valid-days", "7")
    assert code == 2 and "[amount_off]" in err and "two decimals" in err
    code, _, err = _run(capsys, "coupon", "create", "--key", "pct", "--kind", "percent", "--percent-off", "15",
                        "--valid-days", "7", "--budget", "1000")
    assert code == 2 and "[cap]" in err
    code, _, err = _run(capsys, "coupon", "create", "--key", "both", "--kind", "free_shipping", "--shipping", "10",
                        "--valid-days", "7", "--valid-until", "2030-01-01")
    assert code == 2 and "[valid_days]" in err
    code, out, _ = _run(capsys, "coupon", "list", "--json")
    assert json.loads(out)["total"] == 0  # nothing half-created
