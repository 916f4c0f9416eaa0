"""``jingyun model``: train, list, show and score predictive models. 预测模型:训练、列表、详情、评分。"""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path
from typing import Annotated, Any

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.models.registry import KINDS, ModelEntry, open_registry
from jingyun.warehouse import Warehouse

model_app = typer.Typer(
    help="Predictive models: churn, forecast, recommend, clv. 预测模型:流失、销量预测、推荐、客户价值。",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exact JSON. 输出JSON。")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Data end: first day not used (default: after the last data). 数据截止日。")
]


def _date(value: str | None, fld: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise JingyunError("bad_param", f"{value!r} is not a date (YYYY-MM-DD)", fld) from None


def _train_churn(wh: Warehouse, as_of: dt.date | None, horizon: int) -> tuple[dict[str, Any], Any, dt.date | None]:
    from jingyun.models.churn import ChurnParams, evaluate, fit_latest

    params = ChurnParams(as_of=as_of, horizon_days=horizon).validate()
    _, ev = evaluate(wh, params)
    model, end = fit_latest(wh, params)
    metrics = ev.to_dict()
    return {"params": vars(params), "metrics": metrics, "data_end": end}, model, end


def _train_forecast(wh: Warehouse, as_of: dt.date | None, horizon: int) -> tuple[dict[str, Any], Any, dt.date | None]:
    from jingyun.models.forecast import ForecastParams, run_forecast

    params = ForecastParams(end=as_of, horizon=horizon).validate()
    result = run_forecast(wh, params)
    out = result.to_dict()
    metrics = out["backtest"]
    return {"params": vars(params), "metrics": metrics, "data_end": result.end,
            "forecasts": out["forecasts"]}, None, result.end


def _train_recommend(wh: Warehouse, as_of: dt.date | None, horizon: int) -> tuple[dict[str, Any], Any, dt.date | None]:
    from jingyun.models.churn_features import data_end
    from jingyun.models.recommend import RecommendParams, evaluate

    end = as_of or data_end(wh)
    params = RecommendParams(test_days=horizon).validate()
    _, ev = evaluate(wh, params, end)
    return {"params": vars(params), "metrics": ev.to_dict(), "data_end": end}, None, end


def _train_clv(wh: Warehouse, as_of: dt.date | None, horizon: int) -> tuple[dict[str, Any], Any, dt.date | None]:
    from jingyun.models.clv import ClvParams, fit_clv, last_order_day

    last = (as_of - dt.timedelta(days=1)) if as_of else last_order_day(wh)
    params = ClvParams(calibration_end=last - dt.timedelta(days=horizon), holdout_end=last).validate()
    result = fit_clv(wh, params)
    return {"params": vars(params), "metrics": result.to_dict(), "data_end": last + dt.timedelta(days=1)}, None, \
        last + dt.timedelta(days=1)


TRAINERS = {"churn": _train_churn, "forecast": _train_forecast, "recommend": _train_recommend, "clv": _train_clv}
DEFAULT_HORIZON = {"churn": 60, "forecast": 28, "recommend": 60, "clv": 90}


def _headline(kind: str, m: dict[str, Any]) -> list[list[Any]]:
    def f(x: Any) -> str:
        return "" if x is None else (f"{x:.4f}" if isinstance(x, float) else str(x))

    if kind == "churn":
        return [["ROC-AUC (model / rule)", f"{f(m['model']['roc_auc'])} / {f(m['rule_baseline']['roc_auc'])}"],
                ["PR-AUC (model / rule)", f"{f(m['model']['pr_auc'])} / {f(m['rule_baseline']['pr_auc'])}"],
                ["lift top 10% 前10%提升度", f(m["model"]["lift_top_decile"])],
                ["AUC gain over rule 超出规则", f(m["auc_gain_over_rule"])],
                ["test cut-off 测试截止日", m["test_cutoff"]], ["test rows 测试人数", m["test_rows"]]]
    if kind == "forecast":
        return [["WAPE (model / seasonal naive)", f"{f(m['wape'])} / {f(m['baseline_wape'])}"],
                ["accuracy 准确率 (1−WAPE)", f(m["accuracy"])], ["interval coverage 区间覆盖率", f(m["coverage"])],
                ["series 序列数", len(m["series"])]]
    if kind == "recommend":
        return [[f"recall@{m['k']} (model / popularity)", f"{f(m['model']['recall'])} / {f(m['popularity']['recall'])}"],
                [f"precision@{m['k']} (model / popularity)",
                 f"{f(m['model']['precision'])} / {f(m['popularity']['precision'])}"],
                ["users evaluated 评估用户数", m["users"]]]
    b = m["bgnbd"]
    return [["BG/NBD r, alpha, a, b", ", ".join(f(b[k]) for k in ("r", "alpha", "a", "b"))],
            ["customers 客户数", m["customers"]]]


def _print_entry(entry: ModelEntry) -> None:
    rows: list[list[Any]] = [["model id 模型ID", entry.model_id], ["kind 类型", entry.kind],
            ["created 创建时间", entry.created_at],
            ["data end 数据截止", entry.data_end.isoformat() if entry.data_end else ""]]
    rows += _headline(entry.kind, entry.metrics)
    print_table(f"Model 模型 {entry.model_id}", ["item 项目", "value 值"], rows)


def train(
    kind: Annotated[str, typer.Argument(help="churn | forecast | recommend | clv")],
    as_of: AsOfOpt = None,
    horizon: Annotated[int | None, typer.Option(
        "--horizon", help="Churn label days / forecast days / recommend test days / CLV holdout days. 期限。")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train and validate a model, then record it in the registry. 训练并验证模型,写入模型登记表。

    Example: jingyun model train churn --horizon 60 --json
    """
    if kind not in KINDS:
        raise JingyunError("bad_param", f"model kind must be one of {', '.join(KINDS)}", "kind")
    settings = load_settings()
    with Warehouse.open(settings) as wh:
        out, artifact_obj, end = TRAINERS[kind](wh, _date(as_of, "as_of"), horizon or DEFAULT_HORIZON[kind])
    registry = open_registry(settings)
    entry = registry.register(kind, data_start=None, data_end=end, params=out["params"], metrics=out["metrics"])
    if artifact_obj is not None:
        path = settings.home / "models" / f"{entry.model_id}.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(artifact_obj))
        entry = registry.set_artifact(entry.model_id, str(path))
    if as_json:
        print_json({**entry.to_dict(), **({"forecasts": out["forecasts"]} if "forecasts" in out else {})})
    else:
        _print_entry(entry)


def list_models(
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind. 仅此类型。")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List registered models, newest first. 列出已登记模型。

    Example: jingyun model list --kind churn --json
    """
    entries = open_registry(load_settings()).list(kind)
    if as_json:
        print_json([{**e.to_dict(), "created_at": e.created_at} for e in entries])
    else:
        print_table("Models 模型", ["model id 模型ID", "kind 类型", "created 创建时间", "data end 数据截止"],
                    [[e.model_id, e.kind, e.created_at, e.data_end or ""] for e in entries])


def show(model_id: Annotated[str, typer.Argument(help="Model id from `model list`. 模型ID。")],
         as_json: JsonOpt = False) -> None:
    """Show one model: window, parameters, validation metrics. 查看模型详情。

    Example: jingyun model show churn-20261101120000-ab12cd --json
    """
    entry = open_registry(load_settings()).get(model_id)
    if as_json:
        print_json(entry.to_dict())
    else:
        _print_entry(entry)


def score(
    kind: Annotated[str, typer.Argument(help="churn")],
    model_id: Annotated[str | None, typer.Option(
        "--model-id", help="Use this registered model (default: train on the latest data). 使用已登记模型。")] = None,
    as_of: AsOfOpt = None,
    horizon: Annotated[int, typer.Option("--horizon", help="Churn label days. 流失判定天数。")] = 60,
    as_json: JsonOpt = False,
) -> None:
    """Score everyone and write model_scores (model = churn_risk). 计算流失风险并写入 model_scores。

    Example: jingyun model score churn --json
    """
    from jingyun.models.churn import ChurnModel, ChurnParams, score_churn

    if kind != "churn":
        raise JingyunError("bad_param", "only churn is scored here; use `jingyun clv score` for CLV", "kind")
    params = ChurnParams(as_of=_date(as_of, "as_of"), horizon_days=horizon).validate()
    settings = load_settings()
    with Warehouse.open(settings) as wh:
        model = None
        if model_id is not None:
            entry = open_registry(settings).get(model_id)
            if entry.kind != "churn" or not entry.artifact or not Path(entry.artifact).exists():
                raise JingyunError("not_found", f"model {model_id} has no saved churn model", "model_id")
            model = pickle.loads(Path(entry.artifact).read_bytes())
            if not isinstance(model, ChurnModel):
                raise JingyunError("bad_artifact", f"{entry.artifact} is not a churn model", "model_id")
        result = score_churn(wh, params, model)
    out = {**result.to_dict(), "model_id": model_id}
    if as_json:
        print_json(out)
    else:
        print_table("Churn scoring 流失风险评分", ["item 项目", "value 值"], [
            ["as of 截止日", out["as_of"]], ["scored 评分人数", result.scored],
            ["risk > 0.7 高风险", result.high_risk], ["mean risk 平均风险", f"{result.mean_risk:.4f}"],
            ["written to 写入", "model_scores (model = 'churn_risk')"]])


model_app.command("train")(train)
model_app.command("list")(list_models)
model_app.command("show")(show)
model_app.command("score")(score)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
