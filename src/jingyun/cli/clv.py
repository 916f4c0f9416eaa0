"""``jingyun clv``: customer lifetime value (BG/NBD + Gamma-Gamma). 客户生命周期价值。"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.models.clv import ClvFitResult, ClvParams, TimeUnit, fit_clv, last_order_day, score_clv
from jingyun.warehouse import Warehouse

clv_app = typer.Typer(
    help="Customer lifetime value: BG/NBD + Gamma-Gamma. 客户生命周期价值(BG/NBD + Gamma-Gamma)。",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exact JSON. 输出JSON。")]
UnitOpt = Annotated[
    str, typer.Option("--time-unit", help="Time unit for r/alpha: week or day. 时间单位:week 或 day。")
]


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise JingyunError("bad_param", f"{value!r} is not a date; write YYYY-MM-DD", field) from None


def _unit(value: str) -> TimeUnit:
    if value == "week":
        return "week"
    if value == "day":
        return "day"
    raise JingyunError("bad_param", "time unit must be week or day", "time_unit")


def _print_fit(result: ClvFitResult) -> None:
    b, g = result.bgnbd.params, result.gamma_gamma.params
    print_table(
        f"CLV model fit 模型拟合 (calibration end {result.calibration_end}, unit {result.time_unit})",
        ["model 模型", "parameter 参数", "value 值"],
        [
            ["BG/NBD", "r", f"{b.r:.4f}"],
            ["BG/NBD", "alpha", f"{b.alpha:.4f}"],
            ["BG/NBD", "a", f"{b.a:.4f}"],
            ["BG/NBD", "b", f"{b.b:.4f}"],
            ["BG/NBD", "log-likelihood 对数似然", f"{result.bgnbd.log_likelihood:.2f}"],
            ["Gamma-Gamma", "p", f"{g.p:.4f}"],
            ["Gamma-Gamma", "q", f"{g.q:.4f}"],
            ["Gamma-Gamma", "gamma", f"{g.gamma:.4f}"],
            ["", "customers 客户数", str(result.customers)],
            ["", "repeat customers 复购客户数", str(result.repeat_customers)],
        ],
    )
    if result.holdout:
        print_table(
            f"Holdout check 留出期检验 (to {result.holdout_end})",
            ["calibration repeats 校准期复购", "customers 客户数", "actual 实际", "predicted 预测"],
            [[h.frequency, h.customers, f"{h.actual:.3f}", f"{h.predicted:.3f}"] for h in result.holdout],
        )


def fit(
    calibration_end: Annotated[
        str, typer.Option("--calibration-end", help="Last day of the calibration period (YYYY-MM-DD, inclusive). 校准期末日。")
    ],
    holdout_end: Annotated[
        str | None, typer.Option("--holdout-end", help="Last day of the holdout period (inclusive). 留出期末日。")
    ] = None,
    time_unit: UnitOpt = "week",
    as_json: JsonOpt = False,
) -> None:
    """Fit BG/NBD and Gamma-Gamma on orders. 拟合购买频次与客单价模型。

    Example: jingyun clv fit --calibration-end 2024-06-30 --holdout-end 2024-12-31 --json
    """
    params = ClvParams(
        calibration_end=_date(calibration_end, "calibration_end"),
        holdout_end=_date(holdout_end, "holdout_end") if holdout_end is not None else None,
        time_unit=_unit(time_unit),
    ).validate()
    with Warehouse.open(load_settings(), read_only=True) as wh:
        result = fit_clv(wh, params)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_fit(result)


def score(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Fit on orders up to this day (default: last order day). 截止日。")
    ] = None,
    months: Annotated[int, typer.Option("--months", help="CLV horizon in months. CLV期限(月)。")] = 12,
    discount_rate: Annotated[
        float, typer.Option("--discount-rate", help="Monthly discount rate. 月折现率。")
    ] = 0.01,
    margin: Annotated[float, typer.Option("--margin", help="Profit margin in (0, 1]. 利润率。")] = 1.0,
    top_share: Annotated[
        float, typer.Option("--top-share", help="Share flagged high_value_clv. 高价值客户比例。")
    ] = 0.2,
    time_unit: UnitOpt = "week",
    as_json: JsonOpt = False,
) -> None:
    """Score every customer and write model_scores. 计算客户CLV并写入 model_scores。

    Example: jingyun clv score --months 12 --discount-rate 0.01 --margin 0.3 --json
    """
    with Warehouse.open(load_settings()) as wh:
        day = _date(as_of, "as_of") if as_of is not None else last_order_day(wh)
        params = ClvParams(
            calibration_end=day,
            time_unit=_unit(time_unit),
            months=months,
            monthly_discount_rate=discount_rate,
            margin=margin,
        ).validate()
        result = score_clv(wh, params, high_value_share=top_share)
    out = {
        "as_of": day.isoformat(),
        "scored": result.scored,
        "high_value": result.high_value,
        "high_value_threshold": result.high_value_threshold,
        "scored_at": result.scored_at,
        "table": result.table,
        "model": "clv",
        **{k: v for k, v in result.fit.to_dict().items() if k in ("bgnbd", "gamma_gamma", "time_unit")},
    }
    if as_json:
        print_json(out)
    else:
        print_table(
            "CLV scoring 客户价值评分",
            ["item 项目", "value 值"],
            [
                ["as of 截止日", out["as_of"]],
                ["customers scored 评分客户数", result.scored],
                ["high_value_clv flagged 高价值客户", result.high_value],
                ["high-value threshold 高价值门槛", f"{result.high_value_threshold:.2f}"],
                ["written to 写入", "model_scores (model = 'clv')"],
            ],
        )


clv_app.command("fit")(fit)
clv_app.command("score")(score)


def register(app: typer.Typer) -> None:
    app.add_typer(clv_app, name="clv")
