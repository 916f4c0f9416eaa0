"""The generator: reproducible, sized by flags, faithful to its own stories."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import hyp2f1

from jingyun.demo.build import generate_and_write
from jingyun.demo.generate import generate
from jingyun.demo.params import DemoParams
from jingyun.demo.purchases import simulate_repeat_purchases
from jingyun.errors import JingyunError


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_reproducible_bytes(tmp_path: Path, small_demo: tuple[Path, dict[str, Any]]) -> None:
    demo_dir, _ = small_demo
    again = tmp_path / "again"
    generate_and_write(DemoParams(users=800, days=60, seed=11), again)
    first, second = _digests(demo_dir), _digests(again)
    assert len(first) >= 18
    assert first == second
    other = tmp_path / "other"
    generate_and_write(DemoParams(users=800, days=60, seed=12), other)
    changed = [k for k, v in _digests(other).items() if first.get(k) != v]
    assert "events/app_events_1.ndjson" in " ".join(changed)
    assert "ground_truth.json" in changed


def test_sizes_scale_with_flags() -> None:
    small = generate(DemoParams(users=500, days=60, seed=3))
    more_users = generate(DemoParams(users=1000, days=60, seed=3))
    more_days = generate(DemoParams(users=500, days=120, seed=3))
    assert small.users.n == 500 and more_users.users.n == 1000
    assert 1.6 < len(more_users.events) / len(small.events) < 2.4
    # The same users spread over a longer period: more events, fewer per day.
    assert len(more_days.events) > 1.3 * len(small.events)
    period = (small.events.ts >= small.cal.start_ms) & (small.events.ts < small.cal.end_ms)
    assert period.all()
    days = np.unique(small.cal.day_of_ts(small.events.ts))
    assert len(days) == 60


def test_bad_flags_are_refused() -> None:
    with pytest.raises(JingyunError) as err:
        generate(DemoParams(users=10))
    assert err.value.field == "users"
    with pytest.raises(JingyunError):
        generate(DemoParams(days=5))


def _expected_x(r: float, alpha: float, a: float, b: float, t: float) -> float:
    # Fader, Hardie & Lee (2005) eq. 7, written out here independently of the package.
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))


@pytest.mark.parametrize("t", [30.0, 180.0, 365.0])
def test_bgnbd_story_matches_closed_form(t: float) -> None:
    r, alpha, a, b = 0.6, 30.0, 0.8, 4.0
    rng = np.random.default_rng(2024)
    n = 400_000
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    draw = simulate_repeat_purchases(rng, lam, p, np.full(n, t))
    mean = draw.count.mean()
    assert mean == pytest.approx(_expected_x(r, alpha, a, b, t), rel=0.02)
    # Purchases sit inside the horizon, sorted per customer, and dropouts happen after one.
    assert (draw.t <= t).all() and (draw.t >= 0).all()
    assert (draw.count[draw.dropped] >= 1).all()
    # P(still alive | n repeats) = (1-p)^n averaged: compare the dropped share with a direct Monte Carlo.
    k = rng.geometric(p)
    n_poisson = rng.poisson(lam * t)
    assert draw.dropped.mean() == pytest.approx((k <= n_poisson).mean(), abs=0.005)


def test_gamma_gamma_spend_mean() -> None:
    d = generate(DemoParams(users=20_000, days=120, seed=5))
    bg = d.truths.bgnbd
    # E[z] = p * gamma / (q - 1) for the Gamma-Gamma spend model.
    assert d.detail.orders.value.mean() == pytest.approx(bg.p * bg.gamma / (bg.q - 1), rel=0.05)
    # Amounts written are the drawn values up to cents of rounding in the order lines.
    assert np.abs(d.detail.amount - d.detail.orders.value).max() < 0.1


def test_planted_ab_lift_is_present() -> None:
    d = generate(DemoParams(users=30_000, days=365, seed=8))
    from jingyun.demo.truth import _ab

    ab = _ab(d)
    c, t = ab["realized"]["control"], ab["realized"]["treatment"]
    assert min(c["users"], t["users"]) > 4000
    # The arms are 50/50 by hash: no sample-ratio mismatch at the usual 0.001 level.
    assert abs(c["users"] - t["users"]) < 3.3 * np.sqrt(c["users"] + t["users"])
    diff = t["rate"] - c["rate"]
    se = np.sqrt(c["rate"] * (1 - c["rate"]) / c["users"] + t["rate"] * (1 - t["rate"]) / t["users"])
    planted = ab["planted"]["treatment_rate"] - ab["planted"]["control_rate"]
    assert diff > 0
    assert abs(diff - planted) < 3 * se
    assert c["rate"] == pytest.approx(ab["planted"]["control_rate"], abs=3 * se)


def test_faults_in_files_match_truth(small_demo: tuple[Path, dict[str, Any]]) -> None:
    demo_dir, truth = small_demo
    ev = demo_dir / "sources" / "events"
    seen: dict[str, str] = {}
    exposures: dict[str, set[str]] = {"control": set(), "treatment": set()}
    # Read the files in ingestion order, line by line, independently of the generator.
    for name in ("app_events_1.ndjson", "app_events_2.ndjson", "web_events.ndjson", "miniprogram_events.ndjson"):
        got = {"malformed_lines": 0, "missing_event_id": 0, "exact_duplicates": 0, "conflicting_duplicates": 0,
               "placeholder_user": 0, "unknown_platform": 0}
        for line in (ev / name).read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = None
            if not isinstance(rec, dict):
                got["malformed_lines"] += 1
                continue
            if rec.get("event_id") is None:
                got["missing_event_id"] += 1
                continue
            payload = json.dumps(rec, sort_keys=True)
            first = seen.setdefault(rec["event_id"], payload)
            if first is not payload:
                got["exact_duplicates" if first == payload else "conflicting_duplicates"] += 1
                continue
            got["placeholder_user"] += rec.get("user_id") in ("null", "undefined", "guest")
            got["unknown_platform"] += rec.get("platform") == "tv"
            if rec["event"] == "exp_exposure":
                exposures[rec["properties"]["variation"]].add(rec["user_id"])
        planted = truth["faults"]["event_files"].get(name, {})
        assert got == {k: planted.get(k, 0) for k in got}, name
    ab = truth["ab_test"]["realized"]
    assert {k: len(v) for k, v in exposures.items()} == {"control": ab["control"]["users"], "treatment": ab["treatment"]["users"]}
    with (demo_dir / "sources" / "orders" / "orders.csv").open(encoding="utf-8") as fh:
        negative = sorted(r["order_id"] for r in csv.DictReader(fh) if float(r["amount"]) < 0)
    assert negative == sorted(truth["faults"]["negative_amount_orders"]) and len(negative) == 5


def test_funnel_bottleneck_is_lowest_and_worse_recently(small_demo: tuple[Path, dict[str, Any]]) -> None:
    _, truth = small_demo
    f = truth["funnel"]
    rates = f["realized"]["step_conversion"]
    assert min(rates, key=rates.__getitem__) == "checkout->pay" == f["bottleneck_step"]
    assert rates["checkout->pay"] < 0.5 * min(rates["view_product->add_to_cart"], rates["add_to_cart->checkout"])
    w = f["worsening"]
    assert w["recent"]["step_conversion"]["checkout->pay"] < w["previous"]["step_conversion"]["checkout->pay"]


def test_driver_and_churn_truth(small_demo: tuple[Path, dict[str, Any]]) -> None:
    demo_dir, truth = small_demo
    d = truth["diagnosis"]
    conv = d["new_user_conversion"]["short_video"]
    assert conv["period"] < 0.5 * conv["previous"]
    assert sum(d["contributions"].values()) == pytest.approx(d["change"], abs=0.05)
    import pyarrow.parquet as pq

    users = pq.read_table(demo_dir / "truth" / "users.parquet").to_pydict()
    assert sum(users["churned"]) == truth["churn"]["churned_users"]
    assert all((c and at is not None) or (not c and at is None) for c, at in zip(users["churned"], users["churned_at"], strict=True))
    assert truth["counts"]["test_users"] == len(truth["test_accounts"]) > 0
