"""``jingyun demo``: generate the business, write its sources, ingest them.

Ingestion goes through the real pipeline (:func:`jingyun.ingest.ingest_file`)
in dependency order — products, users, then the rest — and each file's report
is compared with what the ground truth says was planted in it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from jingyun.config import Settings
from jingyun.demo.channel_response import plant_channel_response
from jingyun.demo.coupons import install_coupons
from jingyun.demo.generate import STAGES, DemoData, generate
from jingyun.demo.journey_effect import plant_journey_effect
from jingyun.demo.params import DemoParams, Truths
from jingyun.demo.pricing import install_pricing, write_competitor_prices
from jingyun.demo.truth import build_truth, write_truth
from jingyun.demo.write import Written, write_sources
from jingyun.errors import JingyunError


@dataclass
class FileOutcome:
    table: str
    file: str  # relative to the sources folder
    received: int
    stored: int
    duplicates: int
    quarantined: int
    expected: dict[str, int]
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def matches(self) -> bool:
        got = {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
               "quarantined": self.quarantined}
        return all(got[k] == self.expected[k] for k in got)

    @property
    def reconciles(self) -> bool:
        return self.received == self.stored + self.duplicates + self.quarantined


@dataclass
class DemoResult:
    params: DemoParams
    demo_dir: Path
    truth_path: Path
    headline: dict[str, Any]
    files: list[FileOutcome]
    seconds: dict[str, float]
    ingested: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": {"users": self.params.users, "days": self.params.days, "seed": self.params.seed,
                       "end_date": self.params.end_date.isoformat()},
            "demo_dir": str(self.demo_dir),
            "ground_truth": str(self.truth_path),
            "ingested": self.ingested,
            "files": [
                {"table": f.table, "file": f.file, "received": f.received, "stored": f.stored,
                 "duplicates": f.duplicates, "quarantined": f.quarantined, "reasons": f.reasons,
                 "expected": f.expected, "matches_truth": f.matches, "reconciles": f.reconciles}
                for f in self.files
            ],
            "headline": self.headline,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def headline(truth: dict[str, Any]) -> dict[str, Any]:
    ab = truth["ab_test"]
    diag = truth["diagnosis"]
    return {
        "users": truth["counts"]["users"],
        "orders": truth["counts"]["orders"],
        "events": truth["counts"]["events"],
        "bottleneck_step": truth["funnel"]["bottleneck_step"],
        "bottleneck_worse_on": truth["funnel"]["worsening"]["platform"],
        "ab_experiment": ab["experiment"],
        "ab_planted_lift": ab["planted"]["relative_lift"],
        "ab_realized_lift": ab["realized"]["relative_lift"],
        "churn_share_of_customers": truth["churn"]["share_of_customers"],
        "gmv_change_last_full_month": diag["change"],
        "gmv_driver": f"{diag['driver']['channel']} new-user conversion",
    }


def generate_and_write(
    params: DemoParams, demo_dir: Path, truths: Truths | None = None, progress: Progress | None = None
) -> tuple[DemoData, Written, dict[str, Any], Path]:
    """Generate, write the sources and the ground truth under ``demo_dir``."""
    sources = demo_dir / "sources"
    if sources.exists():
        shutil.rmtree(sources)  # only the demo's own folder is replaced
    task = progress.add_task("generate", total=len(STAGES)) if progress else None

    def on_stage(stage: str) -> None:
        if progress is not None and task is not None:
            progress.update(task, advance=1, description=f"generate: {stage}")

    data = generate(params, truths, on_stage)
    wtask = progress.add_task("write sources", total=1) if progress else None
    written = write_sources(data, sources)
    truth = build_truth(data, written, sources)
    truth["channel_response"] = plant_channel_response(sources)  # planted curves for the budget optimiser
    truth["pricing"] = write_competitor_prices(data, sources)  # competitor items with planted moves
    truth_path = write_truth(data, truth, demo_dir)
    if progress is not None and wtask is not None:
        progress.update(wtask, advance=1)
    return data, written, truth, truth_path


def install_tracking_plan(settings: Settings) -> None:
    """The demo's events follow the default tracking plan; install it when the workspace has none."""
    from jingyun.schema.tracking import DEFAULT_PLAN

    if not settings.tracking_plan_path.exists():
        settings.tracking_plan_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEFAULT_PLAN, settings.tracking_plan_path)


def build(
    settings: Settings,
    params: DemoParams,
    *,
    ingest: bool = True,
    replace: bool = False,
    show_progress: bool = False,
    truths: Truths | None = None,
) -> DemoResult:
    """Build the demo in ``settings.home``: sources, ground truth, then the warehouse."""
    params.validate()
    demo_dir = settings.home / "demo"
    wh_path = settings.warehouse_path
    if ingest and wh_path.exists() and not replace:
        raise JingyunError(
            "warehouse_exists",
            f"{wh_path} already exists; pass --replace to rebuild the warehouse from the demo, "
            "or --no-ingest to only write the sources",
            "replace",
        )
    seconds: dict[str, float] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, disable=not show_progress, transient=False) as progress:
        t0 = time.perf_counter()
        _data, written, truth, truth_path = generate_and_write(params, demo_dir, truths, progress)
        seconds["generate_and_write"] = time.perf_counter() - t0
        outcomes: list[FileOutcome] = []
        if ingest:
            t1 = time.perf_counter()
            outcomes = _ingest(settings, written, truth, demo_dir / "sources", replace, progress)
            seconds["ingest"] = time.perf_counter() - t1
    from jingyun.demo.org import install_org

    install_org(settings)  # the organisation chart approvals and incidents route through
    install_pricing(settings, demo_dir / "sources")  # competitor prices and the demo's pricing rule
    if ingest:
        plant_journey_effect(settings, truth_path)  # abandoned browse's planted lift (truth: journey_effect)
        install_coupons(settings)  # coupon templates and codes behind the discounted orders (demo/coupons.py)
    return DemoResult(params, demo_dir, truth_path, headline(truth), outcomes, seconds, ingest)


def _ingest(
    settings: Settings, written: Written, truth: dict[str, Any], sources: Path, replace: bool, progress: Progress
) -> list[FileOutcome]:
    from jingyun.demo.alerts import install_alert_rules
    from jingyun.ingest import ingest_file
    from jingyun.warehouse import Warehouse

    if replace:
        for suffix in ("", ".wal"):
            p = Path(str(settings.warehouse_path) + suffix)
            if p.exists():
                p.unlink()
    install_tracking_plan(settings)
    install_alert_rules(settings)
    task = progress.add_task("ingest", total=len(written.files))
    outcomes = []
    with Warehouse.open(settings) as wh:
        for f in written.files:
            rel = str(f.path.relative_to(sources))
            progress.update(task, description=f"ingest {rel}")
            report = ingest_file(wh, f.table, f.path, mapping=f.mapping, source=f"demo/{rel}")
            outcomes.append(FileOutcome(
                f.table, rel, report.received, report.stored, report.duplicates, report.quarantined,
                truth["expected_ingest"][rel], dict(sorted(report.reasons.items())),
            ))
            progress.update(task, advance=1)
        # what `jingyun optimize` does after a backfill: time-ordered storage and the
        # per-person order summary, which ingestion keeps current from here on
        from jingyun.warehouse.optimize import optimize

        progress.update(task, description="optimize")
        optimize(wh)
    return outcomes
