"""The demo tour runs every analysis and compares with the planted truth."""

from __future__ import annotations

from pathlib import Path

from jingyun.config import load_settings
from jingyun.demo import DemoParams, build
from jingyun.demo.tour import STEPS, run_tour


def test_tour_runs_every_step_and_recovers_what_small_data_can(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    build(settings, DemoParams(users=3000, days=240))
    steps = {s.name: s for s in run_tour(settings)}
    assert list(steps) == [name for name, _, _ in STEPS]
    assert not any(s.found.startswith("could not run") for s in steps.values())
    # what a 3,000-user demo is large enough to show (the CLV recovery needs the default size)
    for name in ("funnel bottleneck", "what moved GMV", "A/B test lift", "reconciliation checks"):
        assert steps[name].matches, steps[name]
    # need groups are scored against the planted traits of the people they label, not planted totals
    needs = steps["need-based groups"]
    assert needs.matches is not None and needs.found.count("precision") == 3, needs
    print(needs)
