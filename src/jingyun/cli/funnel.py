"""``jingyun funnel``: conversion through ordered steps. 漏斗分析。"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jingyun.analysis.funnel import FunnelParams, FunnelResult, run_funnel
from jingyun.cli.output import console, print_json, print_table
from jingyun.config import load_settings
from jingyun.warehouse.backends import open_backend


def funnel_json(result: FunnelResult) -> dict[str, Any]:
    data = result.to_dict()
    return {"steps": data.pop("steps"), "bottleneck": data.pop("bottleneck"), **data}


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def funnel(
    steps: Annotated[str, typer.Option(help="Comma-separated step events, in order. 漏斗步骤(逗号分隔,按顺序)")],
    window: Annotated[str, typer.Option(help="Conversion window, e.g. 30m, 24h, 7d. 转化窗口")] = "24h",
    date_from: Annotated[str | None, typer.Option("--from", help="First local day chains may start (YYYY-MM-DD). 开始日期")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local day chains may start. 结束日期")] = None,
    by: Annotated[str | None, typer.Option(help="Breakdown: platform, users.<column>, properties.<key>. 分组维度")] = None,
    mode: Annotated[str, typer.Option(help="default | strict | any. 模式:默认/严格顺序/任意顺序")] = "default",
    exclude: Annotated[str | None, typer.Option(help="Comma-separated exclusion events. 排除事件")] = None,
    period: Annotated[str, typer.Option(help="Trend period: day | week. 趋势粒度")] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")] = False,
) -> None:
    """Funnel conversion, drop-off and bottleneck. 漏斗转化、流失与瓶颈。

    Example: jingyun funnel --steps view,add_to_cart,checkout,pay --window 24h --from 2024-06-01 --to 2024-06-30 --json
    """
    settings = load_settings()
    params = FunnelParams.create(
        [s.strip() for s in steps.split(",") if s.strip()], window, date_from, date_to, mode,
        [s.strip() for s in exclude.split(",") if s.strip()] if exclude else (), by, period, settings.timezone,
    )
    backend = open_backend(settings)
    try:
        result = run_funnel(backend, params)
    finally:
        backend.close()
    if as_json:
        print_json(funnel_json(result))
        return
    print_table(
        "Funnel 漏斗", ["#", "step 步骤", "users 人数", "conversion 总转化", "step conv. 步骤转化", "drop-off 流失"],
        [[i + 1, s.name, s.users, _pct(s.conversion), _pct(s.step_conversion), s.drop_off] for i, s in enumerate(result.steps)],
    )
    for group in result.breakdown:
        print_table(f"{result.breakdown_by} = {group.value}", ["step 步骤", "users 人数", "conversion 总转化"],
                    [[s.name, s.users, _pct(s.conversion)] for s in group.steps])
    loss = result.bottleneck.largest_loss
    console.print(f"Bottleneck 瓶颈: {loss.step} (step conversion {_pct(loss.step_conversion)}, lost {loss.drop_off})")
    change = result.bottleneck.largest_change
    if change:
        console.print(f"Largest change vs previous period 环比变化最大: {change.step} "
                      f"({_pct(change.previous_step_conversion)} → {_pct(change.step_conversion)})")
    ttc = result.time_to_convert
    if ttc and ttc.median_seconds is not None:
        console.print(f"Median time to convert 转化时长中位数: {ttc.median_seconds:.0f} s ({ttc.users} converted)")


def register(app: typer.Typer) -> None:
    app.command(name="funnel")(funnel)
