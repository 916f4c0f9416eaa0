"""``jingyun kpi``: KPI targets and balanced scorecards. KPI目标与平衡计分卡。"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jingyun.cli.metrics import fmt
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.kpi import (
    PERSPECTIVE_NAMES,
    load_targets,
    scorecard,
    scorecard_dict,
    target_dict,
    targets_path,
)
from jingyun.metrics.periods import parse_period
from jingyun.warehouse.backends import open_backend

kpi_app = typer.Typer(
    help="KPI targets and scorecards (vs target, previous period, year over year). KPI目标、达成率与计分卡。",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exact JSON. 输出JSON。")]
TargetsOpt = Annotated[
    Path | None,
    typer.Option("--targets", help="Targets YAML (default $JINGYUN_HOME/kpi_targets.yaml, else the demo example). 目标文件"),
]
_MARK = {"green": "🟢 green", "yellow": "🟡 yellow", "red": "🔴 red", "no_data": "⚪ no data"}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


@kpi_app.command("targets")
def targets_cmd(targets: TargetsOpt = None, as_json: JsonOpt = False) -> None:
    """List KPI targets. 列出KPI目标。

    Example: jingyun kpi targets --json
    """
    settings = load_settings()
    d = load_dictionary(settings)
    path = targets or targets_path(settings)
    ts = load_targets(d, path)
    if as_json:
        print_json({"file": str(path), "bands": {"green": ts.bands.green, "yellow": ts.bands.yellow},
                    "score_cap": ts.cap, "weight_total": sum(t.weight for t in ts.targets),
                    "targets": [target_dict(t) for t in ts.targets]})
        return
    rows = [[t.id, t.name_zh, t.metric, f"{t.op} {fmt(t.value, d.metrics[t.metric].unit)}", t.grain,
             _pct(t.weight), t.owner, f"{t.perspective} {PERSPECTIVE_NAMES[t.perspective]}", t.period]
            for t in ts.targets]
    print_table(f"KPI targets 目标 ({path})",
                ["id", "名称", "metric 指标", "target 目标", "grain 粒度", "weight 权重", "owner 负责人",
                 "perspective 维度", "period 周期"], rows)


@kpi_app.command("scorecard")
def scorecard_cmd(
    period: Annotated[str, typer.Option(help="2026-10, 2026-Q4, 2026-W41, 2026-10-05 or 2026. 考核周期")],
    targets: TargetsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Balanced scorecard for a period: attainment, status, weighted score, comparisons. 平衡计分卡。

    Example: jingyun kpi scorecard --period 2026-10 --json
    """
    settings = load_settings()
    d = load_dictionary(settings)
    ts = load_targets(d, targets or targets_path(settings))
    p = parse_period(period)
    backend = open_backend(settings)
    try:
        card = scorecard(backend, d, ts, p, settings.timezone)
    finally:
        backend.close()
    if as_json:
        print_json(scorecard_dict(card))
        return
    rows = []
    for group in card.perspectives:
        for r in group.targets:
            t = r.target
            rows.append([f"{group.perspective} {PERSPECTIVE_NAMES[group.perspective]}", t.name_zh,
                         f"{t.op} {fmt(t.value, r.unit)}", fmt(r.actual, r.unit), _pct(r.attainment),
                         _MARK[r.status], _pct(t.weight), _pct(r.previous.change_pct), _pct(r.year_ago.change_pct)])
    print_table(f"Scorecard 计分卡 {p.label} ({p.start}..{p.end})",
                ["perspective 维度", "KPI", "target 目标", "actual 实际", "attainment 达成率", "status 状态",
                 "weight 权重", "vs prev 环比", "YoY 同比"], rows)
    print_table("Summary 汇总", ["perspective 维度", "weight 权重", "score 得分", "status 状态"],
                [*([f"{g.perspective} {PERSPECTIVE_NAMES[g.perspective]}", _pct(g.weight), _pct(g.score),
                    _MARK[g.status]] for g in card.perspectives),
                 ["total 综合", _pct(card.weight_total), _pct(card.score), _MARK[card.status]]])
    for warning in card.warnings:
        typer.echo(f"note: {warning}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(kpi_app, name="kpi")
