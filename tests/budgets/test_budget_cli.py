"""jingyun budget plan|status|release|optimize end to end, with --json and one-line errors."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from jingyun.cli.main import main
from jingyun.config import Settings
from jingyun.demo.channel_response import PLANTED, conversion_value
from jingyun.store import Store
from jingyun.warehouse import Warehouse


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_budget_cli(settings: Settings, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    wh = Warehouse.open(settings)
    rng = np.random.default_rng(3)
    start = dt.date(2025, 10, 1)
    rows = []
    for ch in ("feed_ads", "referral"):
        s = np.round(400 * rng.lognormal(0, 0.35, 120), 2)
        v = conversion_value(PLANTED[ch], s, rng)
        rows += [(start + dt.timedelta(days=i), ch, f"{ch}_on", str(s[i]), json.dumps({"conversion_value": float(v[i])}))
                 for i in range(120)]
    wh.con.executemany("INSERT INTO marketing_spend (date, channel, campaign_id, spend, attributes) "
                       "VALUES (?, ?, ?, CAST(? AS DECIMAL(18,2)), ?)", rows)
    wh.close()
    code, out, _ = _run(capsys, "budget", "plan", "--key", "q", "--total", "100000", "--from", "2025-10-01", "--to",
                        "2025-10-10", "--line", "marketing/feed_ads=50000", "--line", "marketing/referral=35000", "--json")
    assert code == 0 and json.loads(out)["reserve"] == "15000.00"
    code, _, err = _run(capsys, "budget", "plan", "--key", "q", "--total", "100000", "--from", "2025-10-01", "--to",
                        "2025-10-10", "--line", "marketing/feed_ads=85000.01")
    assert code == 2 and err.strip().startswith("error: reserve_locked") and len(err.strip().splitlines()) == 1
    code, out, _ = _run(capsys, "budget", "status", "q", "--as-of", "2025-10-02", "--json")
    data = json.loads(out)["budgets"][0]
    first_two = sum(float(r[3]) for r in rows if r[0] <= dt.date(2025, 10, 2))
    assert code == 0 and data["burn_down"][1]["actual_cumulative"] == f"{first_two:.2f}"
    code, out, _ = _run(capsys, "budget", "release", "q", "--line", "marketing/referral", "--amount", "1000",
                        "--reason", "test", "--as", "alice", "--json")
    assert code == 0 and json.loads(out)["status"] == "pending"
    code, out, _ = _run(capsys, "budget", "optimize", "--total", "30000", "--days", "30", "--floor", "referral=6000",
                        "--json")
    prop = json.loads(out)
    assert code == 0 and sum(float(c["proposed"]) for c in prop["channels"]) == pytest.approx(30000)
    assert float(next(c for c in prop["channels"] if c["channel"] == "referral")["proposed"]) >= 6000
    code, _, err = _run(capsys, "budget", "optimize", "--total", "1000", "--floor", "nowhere=1")
    assert code == 2 and "unknown_channel" in err
