"""The funnel finds the bottleneck the demo business planted (ground truth in $JINGYUN_HOME/demo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jingyun.cli.main import main


@pytest.mark.slow
def test_funnel_finds_planted_bottleneck(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--users", "1500", "--days", "60", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    truth = json.loads(Path(summary["ground_truth"]).read_text(encoding="utf-8"))["funnel"]
    steps = truth["steps"]
    assert main(["funnel", "--steps", ",".join(steps), "--window", "1h", "--by", "platform", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    planted = truth["bottleneck_step"].split("->")[1]  # "checkout->pay": the loss happens on the way to pay
    assert out["bottleneck"]["largest_loss"]["step"] == planted
    assert [s["name"] for s in out["steps"]] == steps and out["steps"][-1]["users"] > 0
    # The weakest step is the planted one on every online platform too.
    for group in out["breakdown"]:
        if group["steps"][0]["users"] >= 50:
            worst = min(group["steps"][1:], key=lambda s: s["step_conversion"])
            assert worst["name"] == planted, group["value"]
