"""The demo tour: run every analysis on the demo business and hold each result
up against what was planted — the loop closed on known answers.

Each step calls the same library function the CLI and API call, and reports
what it found next to the ground truth (``ground_truth.json``). A step that
cannot run says why instead of stopping the tour.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.warehouse.backends import open_backend
from jingyun.warehouse.connection import Warehouse


@dataclass(frozen=True)
class TourStep:
    name: str
    zh: str
    found: str
    planted: str
    matches: bool | None  # None: nothing planted to compare with
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "zh": self.zh, "found": self.found, "planted": self.planted,
                "matches": self.matches, "seconds": round(self.seconds, 2)}


def _months(truth: dict[str, Any]) -> tuple[str, str]:
    period = truth["diagnosis"]["period"]["from"][:7]
    previous = truth["diagnosis"]["previous"]["from"][:7]
    return period, previous


def _funnel(wh: Warehouse, settings: Settings, truth: dict[str, Any]) -> tuple[str, str, bool | None]:
    from jingyun.analysis.funnel import FunnelParams, run_funnel

    steps = truth["funnel"]["steps"]
    result = run_funnel(open_backend(settings, warehouse=wh), FunnelParams.create(steps, "24h", timezone=settings.timezone))
    found_step = result.bottleneck.largest_loss.step
    planted = truth["funnel"]["bottleneck_step"]
    rates = ", ".join(f"{s.name} {s.step_conversion:.0%}" for s in result.steps[1:])
    return f"weakest step: {found_step} ({rates})", planted, planted.endswith(f"->{found_step}")


def _explain(wh: Warehouse, settings: Settings, truth: dict[str, Any]) -> tuple[str, str, bool | None]:
    from jingyun.analysis.explain import ExplainParams, run_explain

    current, previous = _months(truth)
    result = run_explain(open_backend(settings, warehouse=wh), ExplainParams.create(
        "gmv", current, previous, by="channel,user_type", timezone=settings.timezone))
    change = truth["diagnosis"]["change"]
    worst = min(truth["diagnosis"]["contributions"].items(), key=lambda kv: kv[1])
    movers = result.drivers if result.change < 0 else result.drags
    top = movers[0].segment.replace(" / ", "/") if movers else "(none)"
    found = f"GMV {result.change:+,.2f} ({current} vs {previous}); largest fall: {top}"
    planted = f"GMV {change:+,.2f}; largest fall: {worst[0]}"
    return found, planted, abs(result.change - change) < 0.01 and top == worst[0]


def _experiment(wh: Warehouse, settings: Settings, truth: dict[str, Any]) -> tuple[str, str, bool | None]:
    from jingyun.experiments.analyze import analyze_experiment
    from jingyun.experiments.registry import create_experiment, get_experiment

    ab = truth["ab_test"]
    key = ab["experiment"]
    try:
        exp = get_experiment(settings, key)
    except JingyunError:
        exp = create_experiment(settings, key, variations=tuple((v, 0.5) for v in ab["variations"]),
                                start=dt.datetime.fromisoformat(ab["window"]["from"]).astimezone(dt.UTC).replace(tzinfo=None))
    result = analyze_experiment(wh, exp)
    primary = result.metrics[0].variations[0]
    lo, hi = primary.ci_rel
    planted = ab["planted"]["relative_lift"]
    realized = ab["realized"]["treatment"]["rate"] / ab["realized"]["control"]["rate"] - 1
    found = f"{primary.uplift_rel:+.1%} [{lo:+.1%}, {hi:+.1%}], chance to win {primary.chance_to_win or 0:.0%}"
    return found, f"{planted:+.1%} planted, {realized:+.1%} realized", lo <= realized <= hi


def _clv(wh: Warehouse, settings: Settings, truth: dict[str, Any]) -> tuple[str, str, bool | None]:
    from jingyun.models.clv import ClvParams, fit_clv

    ab_start = dt.date.fromisoformat(truth["ab_test"]["window"]["from"][:10])
    fit = fit_clv(wh, ClvParams(calibration_end=ab_start - dt.timedelta(days=1), time_unit="day").validate())
    b, g = fit.bgnbd.params, fit.gamma_gamma.params
    got = {"r": b.r, "alpha": b.alpha, "a": b.a, "b": b.b, "p": g.p, "q": g.q, "gamma": g.gamma}
    want = truth["bgnbd"]
    worst = max(abs(got[k] / want[k] - 1) for k in got)
    found = ", ".join(f"{k}={v:.3g}" for k, v in got.items())
    planted = ", ".join(f"{k}={want[k]:.3g}" for k in got)
    return f"{found} (worst {worst:.0%} off)", planted, worst <= 0.15


def _scorecard(wh: Warehouse, settings: Settings, truth: dict[str, Any]) -> tuple[str, str, bool | None]:
    from jingyun.metrics.dictionary import load_dictionary
    from jingyun.metrics.kpi import load_targets, scorecard, targets_path
    from jingyun.metrics.periods import parse_period

    d = load_dictionary(settings)
    card = scorecard(open_backend(settings, warehouse=wh), d, load_targets(d, targets_path(settings)), parse_period(_months(truth)[0]),
                     settings.timezone)
    score = "—" if card.score is None else f"{card.score:.1%}"
    return f"composite score {score} ({card.status})", "", None


def _rfm(wh: Warehouse, settings: Settings, truth: dict[str, Any]) -> tuple[str, str, bool | None]:
    from jingyun.segments.rfm import compute_rfm

    result = compute_rfm(wh)
    top = sorted(result.groups, key=lambda g: -g.size)[:3]
    return f"{result.customers:,} customers; largest: " + ", ".join(f"{g.zh} {g.size:,}" for g in top), "", None


def _needs(wh: Warehouse, settings: Settings, truth: dict[str, Any]) -> tuple[str, str, bool | None]:
    from zoneinfo import ZoneInfo

    import pyarrow.parquet as pq

    from jingyun.segments.common import VALID_ORDER
    from jingyun.segments.needs import compute_needs

    result = compute_needs(wh, keep_posteriors=True)
    traits = {str(r["user_id"]): r for r in pq.read_table(settings.home / "demo" / "truth" / "users.parquet").to_pylist()}
    # Scored like the test does: on the customers with >= min_orders valid orders inside the demo window (the period
    # the event log covers, where coupon use, premium views and after-sales contacts can show), fixed before the
    # labels are read; "undecided" counts as not in the group. Planted totals over everyone cannot be compared:
    # most people never buy often enough to show a trait.
    params = truth["params"]
    start = dt.datetime.combine(dt.date.fromisoformat(params["start_date"]), dt.time(), ZoneInfo(params["timezone"]))
    since = start.astimezone(dt.UTC).replace(tzinfo=None)
    rows = wh.rows(f"SELECT person_id FROM orders WHERE {VALID_ORDER} AND ts >= ? GROUP BY person_id "
                   "HAVING count(*) >= ?", [since, result.min_orders])
    scored = [str(r[0]) for r in rows if str(r[0]) in traits]
    found, ok = [], bool(scored)
    for g in result.groups:
        said = {pid: bool(result.labels.get(pid, {}).get(g.key)) for pid in scored}
        tp = sum(1 for pid in scored if said[pid] and traits[pid][g.key])
        predicted = sum(said.values())
        actual = sum(1 for pid in scored if traits[pid][g.key])
        precision, recall = (tp / predicted if predicted else 0.0), (tp / actual if actual else 0.0)
        ok = ok and precision >= 0.8 and recall >= 0.8
        found.append(f"{g.key} precision {precision:.2f} recall {recall:.2f}")
    planted = (f"traits of the {len(scored):,} customers with >= {result.min_orders} orders in the demo window "
               "(goal: each >= 0.80)")
    return ", ".join(found), planted, ok


def _checks(wh: Warehouse, settings: Settings, truth: dict[str, Any]) -> tuple[str, str, bool | None]:
    from jingyun.quality.checks import run_checks

    results = {r.name: r for r in run_checks(wh, ["order_payment_mismatch", "payment_without_order"], limit=100)}
    faults = truth["faults"]
    found = (results["order_payment_mismatch"].count, results["payment_without_order"].count)
    planted = (len(faults["mismatched_payments"]), len(faults["orphan_payments"]))
    return (f"{found[0]} payment mismatches, {found[1]} orphan payments",
            f"{planted[0]} mismatches, {planted[1]} orphans", found == planted)


STEPS: tuple[tuple[str, str, Callable[[Warehouse, Settings, dict[str, Any]], tuple[str, str, bool | None]]], ...] = (
    ("funnel bottleneck", "漏斗瓶颈", _funnel),
    ("what moved GMV", "GMV变化归因", _explain),
    ("A/B test lift", "A/B实验提升", _experiment),
    ("lifetime-value model", "客户生命周期价值模型", _clv),
    ("KPI scorecard", "KPI计分卡", _scorecard),
    ("RFM groups", "RFM分群", _rfm),
    ("need-based groups", "需求分群", _needs),
    ("reconciliation checks", "对账检查", _checks),
)


def run_tour(settings: Settings) -> list[TourStep]:
    truth_path = settings.home / "demo" / "ground_truth.json"
    if not truth_path.exists():
        raise JingyunError("no_demo", f"no demo ground truth at {truth_path}; run `jingyun demo` first", "home")
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    out: list[TourStep] = []
    with Warehouse.open(settings) as wh:
        for name, zh, step in STEPS:
            started = time.perf_counter()
            try:
                found, planted, matches = step(wh, settings, truth)
            except JingyunError as exc:  # one analysis that cannot run does not stop the tour
                found, planted, matches = f"could not run: {exc}", "", False
            out.append(TourStep(name, zh, found, planted, matches, time.perf_counter() - started))
    return out
