"""``jingyun channels``: channel ROI and the value-cost matrix. 渠道ROI与价值-成本矩阵。"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jingyun.analysis.channels import QUADRANTS, ChannelParams, ChannelReport, run_channels
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.warehouse.backends import open_backend


def channels_json(report: ChannelReport) -> dict[str, Any]:
    data = report.to_dict()
    return {"channels": data.pop("channels"), "quadrants": data.pop("quadrants"), **data}


def _num(x: float | None, fmt: str = ",.2f") -> str:
    return "—" if x is None else format(x, fmt)


def channels(
    date_from: Annotated[str | None, typer.Option("--from", help="First local day (YYYY-MM-DD). 开始日期")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local day. 结束日期")] = None,
    acquisition: Annotated[str, typer.Option(help="New customers by users | attribution. 新客归属")] = "users",
    model: Annotated[str, typer.Option(help="Attribution model when --acquisition attribution. 归因模型")] = "last_touch",
    ltv_days: Annotated[int, typer.Option(help="LTV horizon in days after the first order. LTV观察天数")] = 180,
    value_threshold: Annotated[float | None, typer.Option(help="LTV split of the matrix (default median). 价值阈值")] = None,
    cost_threshold: Annotated[float | None, typer.Option(help="CAC split of the matrix (default median). 成本阈值")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")] = False,
) -> None:
    """Spend, new customers, CAC, revenue, ROI, ROAS, LTV/CAC per channel. 渠道投入产出。

    Example: jingyun channels --from 2026-10-01 --to 2026-10-31 --json
    """
    settings = load_settings()
    params = ChannelParams.create(date_from, date_to, acquisition=acquisition, model=model, ltv_days=ltv_days,
                                  value_threshold=value_threshold, cost_threshold=cost_threshold,
                                  timezone=settings.timezone)
    backend = open_backend(settings)
    try:
        report = run_channels(backend, params)
    finally:
        backend.close()
    if as_json:
        print_json(channels_json(report))
        return
    rows = [[c.rank, c.channel, _num(c.spend), _num(c.new_customers, ",.1f"), _num(c.cac), _num(c.revenue),
             _num(c.gross_profit), _num(c.roi, ".2f"), _num(c.roas, ".2f"), _num(c.ltv), _num(c.ltv_cac, ".2f"),
             f"{c.quadrant_zh} {c.quadrant}" if c.quadrant else ""] for c in report.channels]
    print_table(f"Channels 渠道 {report.date_from or ''}..{report.date_to or ''}",
                ["#", "channel 渠道", "spend 花费", "new 新客", "CAC 获客成本", "revenue 收入", "profit 毛利", "ROI",
                 "ROAS", f"LTV({report.ltv_days}d)", "LTV/CAC", "quadrant 象限"], rows)
    print_table(f"Value-cost matrix 价值-成本矩阵 (LTV ≥ {_num(report.value_threshold)}, CAC ≤ {_num(report.cost_threshold)})",
                ["quadrant 象限", "channels 渠道", "action 建议"],
                [[f"{zh} {q}", ", ".join(report.quadrants[q]), action] for q, (zh, action) in QUADRANTS.items()])


def register(app: typer.Typer) -> None:
    app.command(name="channels")(channels)
