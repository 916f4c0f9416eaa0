"""``jingyun attribution``: which channels earned the conversions. 多触点归因。"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jingyun.analysis.attribution import MODELS, AttributionParams, AttributionResult, run_models
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.warehouse.backends import open_backend


def attribution_json(result: AttributionResult) -> dict[str, Any]:
    data = result.to_dict()
    return {"model": data.pop("model"), "channels": data.pop("channels"), **data}


def attribution(
    model: Annotated[str, typer.Option(help=f"{' | '.join(MODELS)} | all. 归因模型")] = "last_touch",
    date_from: Annotated[str | None, typer.Option("--from", help="First local day of conversions (YYYY-MM-DD). 开始日期")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local day of conversions. 结束日期")] = None,
    lookback: Annotated[str, typer.Option(help="Lookback window before a conversion, e.g. 7d, 30d. 回溯窗口")] = "30d",
    half_life: Annotated[str, typer.Option(help="Time-decay half-life, e.g. 7d. 时间衰减半衰期")] = "7d",
    position_weights: Annotated[str, typer.Option(help="Position model first,middle,last shares. 位置权重")] = "0.4,0.2,0.4",
    conversion_event: Annotated[str | None, typer.Option(help="Count an event as the conversion instead of orders. 转化事件")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")] = False,
) -> None:
    """Conversions and revenue credited per channel. 各渠道的转化与收入归因。

    Example: jingyun attribution --model markov --from 2026-10-01 --to 2026-10-31 --json
    """
    settings = load_settings()
    chosen = "last_touch" if model == "all" else model
    params = AttributionParams.create(
        chosen, lookback=lookback, half_life=half_life, position_weights=position_weights,
        conversion_event=conversion_event, date_from=date_from, date_to=date_to, timezone=settings.timezone,
    )
    models = MODELS if model == "all" else (params.model,)
    backend = open_backend(settings)
    try:
        results = run_models(backend, params, models)
    finally:
        backend.close()
    if as_json:
        if model == "all":
            print_json({"models": {m: attribution_json(r) for m, r in results.items()}})
        else:
            print_json(attribution_json(results[params.model]))
        return
    for m, r in results.items():
        rows = [[c.channel, f"{c.conversions:.2f}", f"{c.share * 100:.1f}%", f"{c.revenue:,.2f}",
                 "" if c.removal_effect is None else f"{c.removal_effect:.4f}"] for c in r.channels]
        print_table(f"Attribution 归因 — {m} ({r.conversions} conversions 转化, {r.touched_conversions} touched 有触点)",
                    ["channel 渠道", "conversions 转化", "share 占比", "revenue 收入", "removal effect 移除效应"], rows)


def register(app: typer.Typer) -> None:
    app.command(name="attribution")(attribution)
