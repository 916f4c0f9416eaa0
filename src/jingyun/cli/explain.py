"""``jingyun explain`` and ``jingyun anomalies``: what moved a metric, and which days were out of line.
归因诊断与异常检测。"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jingyun.analysis.anomaly import SERIES, AnomalyParams, AnomalyResult, run_anomalies
from jingyun.analysis.explain import DIMENSIONS, METRICS, ExplainParams, Explanation, run_explain
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.warehouse.backends import open_backend


def explain_json(result: Explanation) -> dict[str, Any]:
    data = result.to_dict()
    return {"metric": data.pop("metric"), "change": data.pop("change"), "drivers": data.pop("drivers"),
            "segments": data.pop("segments"), **data}


def _f(x: float | None, ratio: bool) -> str:
    if x is None:
        return "—"
    return f"{x:.4f}" if ratio else f"{x:,.2f}"


def explain(
    metric: Annotated[str, typer.Option(help=f"{' | '.join(METRICS)}. 指标")],
    current: Annotated[str, typer.Option(help="Period: 2026-10, 2026-10-01 or 2026-10-01..2026-10-15. 本期")],
    previous: Annotated[str | None, typer.Option(help="Period to compare with (default: the one before). 上期")] = None,
    by: Annotated[str, typer.Option(help=f"Dimension(s), comma-separated to cross: {', '.join(DIMENSIONS)}. 维度")] = "channel",
    top: Annotated[int, typer.Option(help="How many drivers to name. 主要因素个数")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")] = False,
) -> None:
    """Decompose a metric's change by dimension and name the drivers. 指标变化归因。

    Example: jingyun explain --metric gmv --current 2026-10 --previous 2026-09 --by channel --json
    """
    settings = load_settings()
    params = ExplainParams.create(metric, current, previous, by=by, top=top, timezone=settings.timezone)
    backend = open_backend(settings)
    try:
        result = run_explain(backend, params)
    finally:
        backend.close()
    if as_json:
        print_json(explain_json(result))
        return
    ratio = result.kind == "ratio"
    headers = ["segment 细分", "previous 上期", "current 本期", "contribution 贡献", "share 占变化"]
    if ratio:
        headers += ["weight 权重 (prev→cur)", "mix 结构效应", "rate 比率效应"]
    rows = []
    for s in result.segments:
        row = [s.segment, _f(s.previous, ratio), _f(s.current, ratio), _f(s.contribution, ratio),
               "—" if s.share_of_change is None else f"{s.share_of_change * 100:.1f}%"]
        if ratio:
            row += [f"{s.previous_weight or 0:.3f}→{s.current_weight or 0:.3f}", _f(s.mix_effect, True),
                    _f(s.rate_effect, True)]
        rows.append(row)
    pct = "" if result.change_pct is None else f" ({result.change_pct * 100:+.1f}%)"
    print_table(f"{result.metric_zh} {result.metric}: {_f(result.previous, ratio)} → {_f(result.current, ratio)}, "
                f"change 变化 {_f(result.change, ratio)}{pct}", headers, rows)
    print("Top drivers 主要驱动因素: " + (", ".join(f"{s.segment} ({_f(s.contribution, ratio)})" for s in result.drivers)
                                      or "none"))


def anomaly_json(result: AnomalyResult) -> dict[str, Any]:
    data = result.to_dict()
    return {"metric": data.pop("metric"), "anomalies": data.pop("anomalies"), "days": data.pop("days"), **data}


def anomalies(
    metric: Annotated[str, typer.Option(help=f"{' | '.join(SERIES)}. 指标")] = "gmv",
    date_from: Annotated[str | None, typer.Option("--from", help="First local day (YYYY-MM-DD). 开始日期")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local day. 结束日期")] = None,
    method: Annotated[str, typer.Option(help="stl | weekday. 方法")] = "stl",
    threshold: Annotated[float, typer.Option(help="Robust z-score cut. 阈值(稳健Z分数)")] = 3.5,
    all_days: Annotated[bool, typer.Option("--all-days", help="Show every day, not only anomalies. 显示全部日期")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")] = False,
) -> None:
    """Days out of line in a metric's daily series (weekly seasonality aware). 指标日序列异常检测。

    Example: jingyun anomalies --metric gmv --from 2026-06-01 --to 2026-10-31 --json
    """
    settings = load_settings()
    params = AnomalyParams.create(metric, date_from, date_to, method=method, threshold=threshold,
                                  timezone=settings.timezone)
    backend = open_backend(settings)
    try:
        result = run_anomalies(backend, params)
    finally:
        backend.close()
    if as_json:
        print_json(anomaly_json(result))
        return
    shown = result.days if all_days else result.anomalies
    ratio = SERIES[result.metric][1]
    print_table(f"Anomalies 异常 — {result.metric_zh} {result.metric} ({len(result.anomalies)} of {len(result.days)} days)",
                ["date 日期", "value 实际", "expected 预期", "z", "anomaly 异常"],
                [[d.date, _f(d.value, ratio), _f(d.expected, ratio), f"{d.z:+.2f}",
                  {"high": "↑ high 偏高", "low": "↓ low 偏低"}.get(d.direction or "", "")] for d in shown])


def register(app: typer.Typer) -> None:
    app.command(name="explain")(explain)
    app.command(name="anomalies")(anomalies)
