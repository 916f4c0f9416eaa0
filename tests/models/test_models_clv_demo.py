"""`jingyun clv fit` on the demo business recovers the planted BG/NBD and Gamma-Gamma parameters."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from jingyun.cli.main import main
from jingyun.config import Settings


@pytest.mark.slow
def test_clv_fit_recovers_demo_ground_truth(
    home: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from jingyun.demo import DemoParams
    from jingyun.demo.build import generate_and_write
    from jingyun.ingest import ingest_file
    from jingyun.warehouse import Warehouse

    # 50,000 users (the demo default) give ~25,000 customers by the calibration
    # end: simulating BG/NBD at that size, a and b scatter by ~6% (1 SE), so the
    # 15% bar is ~2.5 SE (at 20,000 users, seed 7, b came out 14.5% high: too close).
    # Only the users and orders sources are ingested: CLV reads nothing else,
    # and the events are most of the demo's ingest time (same fit, 3x faster).
    _, written, _, _ = generate_and_write(DemoParams(users=50_000, seed=11), home / "demo")
    with Warehouse.open(settings) as wh:
        for source in written.files:
            if source.table in ("users", "orders"):
                ingest_file(wh, source.table, source.path, mapping=source.mapping, source="demo")
    truth = json.loads((home / "demo" / "ground_truth.json").read_text(encoding="utf-8"))
    planted = truth["bgnbd"]
    assert planted["time_unit"] == "day"
    # The A/B test adds "induced" orders outside the BG/NBD story (the truth says
    # so); end the calibration the day before its window opens.
    window_from = dt.date.fromisoformat(truth["ab_test"]["window"]["from"][:10])
    calibration_end = window_from - dt.timedelta(days=1)
    code = main(["clv", "fit", "--calibration-end", calibration_end.isoformat(), "--time-unit", "day", "--json"])
    assert code == 0
    fit = json.loads(capsys.readouterr().out)
    for name in ("r", "alpha", "a", "b"):
        assert fit["bgnbd"][name] == pytest.approx(planted[name], rel=0.15), name
    for name in ("p", "q", "gamma"):
        assert fit["gamma_gamma"][name] == pytest.approx(planted[name], rel=0.15), name
