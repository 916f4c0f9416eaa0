"""The demo check: on the 50,000-user demo year, whose paid channels report values from planted response
curves, the optimiser recovers the planted best split (ground_truth.json ``channel_response``) within 10 %
for every channel. Slow: it builds the full demo."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from jingyun.budgets.optimize import optimize
from jingyun.config import load_settings
from jingyun.demo.build import build
from jingyun.demo.params import DemoParams
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import open_backend


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("JINGYUN_FULL_DEMO"),
                    reason="needs the 50,000-user demo: JINGYUN_FULL_DEMO=1 builds it (2-5 min); "
                           "test_budget_optimiser.py checks the same recovery on a generated history")
def test_optimiser_recovers_the_planted_split_on_the_demo(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    result = build(settings, DemoParams())
    planted = json.loads(Path(result.truth_path).read_text(encoding="utf-8"))["channel_response"]
    with Warehouse.open(settings, read_only=True) as wh:
        prop = optimize(open_backend(settings, warehouse=wh), total=Decimal(str(planted["daily_total"])), days=1,
                        channels=list(planted["curves"]))
    assert {c.channel for c in prop.channels} == set(planted["best_split"])
    for c in prop.channels:
        assert abs(c.daily / planted["best_split"][c.channel] - 1) <= 0.10, (c.channel, c.daily)
