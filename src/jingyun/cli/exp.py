"""``jingyun exp``: experiments and feature flags. 实验与功能开关。"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Annotated, Any

import typer

from jingyun.cli.output import print_json, print_table, to_json
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.experiments.analyze import AnalysisOptions, Correction, ExperimentResult, analyze_experiment
from jingyun.experiments.assignment import assign, evaluate_flag
from jingyun.experiments.calc import CalcResult, calculate
from jingyun.experiments.definition import Experiment, Flag, Targeting
from jingyun.experiments.power import sample_size_mean, sample_size_proportion
from jingyun.experiments.registry import (
    conclude_experiment,
    create_experiment,
    experiment_to_dict,
    get_experiment,
    get_flag,
    list_experiments,
    save_flag,
    stop_experiment,
)
from jingyun.experiments.stats import EffectResult
from jingyun.experiments.warehouse import segment_memberships, write_exposures
from jingyun.warehouse import Warehouse

exp_app = typer.Typer(
    help="Experiments and feature flags: assign, analyse, power. 实验与功能开关:分流、分析、样本量。",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exact JSON. 输出JSON。")]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="Significance level. 显著性水平。")]
CorrOpt = Annotated[str, typer.Option("--correction", help="holm, bh or none (across variations × metrics). 多重比较校正。")]
SeqOpt = Annotated[bool, typer.Option("--sequential", help="Always-valid intervals, safe to peek. 序贯检验(可随时查看)。")]


def clean(value: Any) -> Any:
    """JSON-safe: dataclasses to dicts, NaN/inf to null (json would write invalid NaN)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _correction(value: str) -> Correction:
    if value == "holm":
        return "holm"
    if value == "bh":
        return "bh"
    if value == "none":
        return "none"
    raise JingyunError("bad_correction", "correction must be holm, bh or none", "correction")


def _pct(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x * 100:+.1f}%"


def _effect_row(r: EffectResult, metric: str = "") -> list[str]:
    lo, hi = r.ci_rel
    row = [metric] if metric else []
    return [
        *row, r.variation, f"{r.control_mean:.4g}", f"{r.treatment_mean:.4g}", _pct(r.uplift_rel),
        f"[{_pct(lo)}, {_pct(hi)}]", f"{r.p_value:.3g}",
        "" if r.p_value_adjusted is None else f"{r.p_value_adjusted:.3g}",
        "" if r.chance_to_win is None else f"{r.chance_to_win * 100:.1f}%",
    ]


_HEAD = ["arm 组", "ctl 对照", "trt 实验", "lift 提升", "CI 区间", "p", "p adj", "win 胜率"]


def _variation_json(r: EffectResult) -> dict[str, Any]:
    d = clean(r)
    d["name"] = r.variation
    return dict(d)


# -- definitions --------------------------------------------------------------
def _parse_variations(values: list[str] | None) -> list[tuple[str, float]]:
    if not values:
        return [("control", 0.5), ("treatment", 0.5)]
    out = []
    for v in values:
        name, _, weight = v.partition("=")
        try:
            out.append((name.strip(), float(weight) if weight else 1.0))
        except ValueError:
            raise JingyunError("bad_weights", f"cannot read {v!r}; write name=weight, e.g. treatment=0.1", "variation") from None
    return out


def _parse_json(value: str | None, field: str) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise JingyunError("bad_json", f"{field} is not valid JSON: {exc}", field) from None


@exp_app.command("create")
def create_cmd(
    key: Annotated[str, typer.Argument(help="Experiment key, e.g. checkout_copy_v2. 实验标识。")],
    variation: Annotated[list[str] | None, typer.Option("--variation", "-v", help="name=weight, control first (repeat). 分组=权重,对照在前。")] = None,
    name: Annotated[str, typer.Option(help="Display name. 名称。")] = "",
    hypothesis: Annotated[str, typer.Option(help="Hypothesis. 假设。")] = "",
    traffic: Annotated[float, typer.Option(help="Share of eligible users included (0-1]. 流量比例。")] = 1.0,
    primary: Annotated[str, typer.Option(help="Primary metric: conversion, revenue, orders, aov, event:<name>. 主指标。")] = "conversion",
    secondary: Annotated[list[str] | None, typer.Option(help="Secondary metric (repeat). 次要指标。")] = None,
    guardrail: Annotated[list[str] | None, typer.Option(help="Guardrail metric (repeat), e.g. event:refund. 护栏指标。")] = None,
    conversion_event: Annotated[str, typer.Option(help="Event that counts as conversion. 转化事件。")] = "pay",
    window_days: Annotated[int, typer.Option(help="Days after first exposure counted. 观察窗口(天)。")] = 7,
    target: Annotated[str | None, typer.Option(help='Audience filter as JSON, e.g. {"city": "上海"}. 目标人群。')] = None,
    draft: Annotated[bool, typer.Option("--draft", help="Create as draft (not assigning). 草稿。")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Define an experiment. 创建实验。 Example: jingyun exp create checkout_copy_v2 -v control=0.5 -v treatment=0.5"""
    settings = load_settings()
    e = create_experiment(
        settings, key, variations=_parse_variations(variation), name=name, hypothesis=hypothesis, traffic=traffic,
        primary_metric=primary, secondary_metrics=tuple(secondary if secondary is not None else ["revenue"]),
        guardrail_metrics=tuple(guardrail or ()), conversion_event=conversion_event, window_days=window_days,
        targeting=Targeting.parse(_parse_json(target, "target")), status="draft" if draft else "running",
    )
    _show_experiment(e, json_out)


def _shown(e: Experiment) -> dict[str, Any]:
    """``experiment_to_dict`` with its times as datetimes, which the output prints in local time."""
    return {**experiment_to_dict(e), "start": e.start, "stop": e.stop, "created_at": e.created_at,
            "decisions": [{"decision": d.decision, "reason": d.reason, "at": d.at, "by": d.by} for d in e.decisions]}


def _show_experiment(e: Experiment, json_out: bool) -> None:
    if json_out:
        print_json(_shown(e))
        return
    d = json.loads(to_json(_shown(e)))
    print_table(f"experiment 实验 {e.key}", ["field 字段", "value 值"], [[k, json.dumps(v, ensure_ascii=False)] for k, v in d.items()])


@exp_app.command("list")
def list_cmd(json_out: JsonOpt = False) -> None:
    """List experiments. 实验列表。 Example: jingyun exp list --json"""
    items = list_experiments(load_settings())
    if json_out:
        print_json([_shown(e) for e in items])
        return
    print_table(
        "experiments 实验", ["key 标识", "status 状态", "variations 分组", "primary 主指标", "start 开始"],
        [[e.key, e.status, ", ".join(f"{v.name}:{w:.0%}" for v, w in zip(e.variations, e.weights, strict=True)),
          e.primary_metric, e.start] for e in items],
    )


@exp_app.command("show")
def show_cmd(key: str, json_out: JsonOpt = False) -> None:
    """Show one experiment with its decision log. 查看实验及决策记录。"""
    _show_experiment(get_experiment(load_settings(), key), json_out)


@exp_app.command("assign")
def assign_cmd(
    key: str,
    user_id: Annotated[list[str], typer.Argument(help="One or more user ids. 用户ID。")],
    attr: Annotated[list[str] | None, typer.Option("--attr", help="User attribute k=v for targeting (repeat). 用户属性。")] = None,
    log: Annotated[bool, typer.Option("--log", help="Write exp_exposure events to the warehouse. 记录曝光事件。")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Assign users to a variation (deterministic). 分流。 Example: jingyun exp assign checkout_copy_v2 u1 u2 --json"""
    settings = load_settings()
    e = get_experiment(settings, key)
    attrs: dict[str, Any] = dict(a.partition("=")[::2] for a in attr or [])
    memberships: dict[str, list[str]] = {}
    if e.targeting.segment is not None:  # audience targeting: memberships from the warehouse
        with Warehouse.open(settings, read_only=True) as wh:
            memberships = {u: segment_memberships(wh, u) for u in user_id}
    events: list[dict[str, Any]] = []
    results = [assign(u, e, {**attrs, "segments": memberships.get(u, [])}, log=events.append if log else None)
               for u in user_id]
    if events:
        with Warehouse.open(settings) as wh:
            write_exposures(wh, events)
    if json_out:
        print_json(clean(results))
        return
    print_table(f"assignment 分流 {key}", ["user 用户", "variation 分组", "in experiment 入组", "reason 原因"],
                [[a.user_id, a.variation, a.in_experiment, a.reason] for a in results])


def _print_result(res: ExperimentResult) -> None:
    counts = ", ".join(f"{k}: {v}" for k, v in res.counts.items())
    typer.echo(f"users 用户: {counts}; SRM p = {res.srm.p_value:.3g}{' ALARM 告警' if res.srm.alarm else ''}")
    rows = [_effect_row(r, f"{m.metric} ({m.role[0].upper()})") for m in res.metrics for r in m.variations]
    print_table(f"experiment 实验 {res.experiment} (P primary 主 / S secondary 次 / G guardrail 护栏)", ["metric 指标", *_HEAD], rows)
    typer.echo(res.verdict.en)
    typer.echo(res.verdict.zh)


@exp_app.command("analyze")
def analyze_cmd(
    key: str,
    alpha: AlphaOpt = 0.05,
    correction: CorrOpt = "holm",
    sequential: SeqOpt = False,
    no_cuped: Annotated[bool, typer.Option("--no-cuped", help="Turn off CUPED variance reduction. 关闭CUPED。")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Analyse an experiment from the warehouse. 分析实验。 Example: jingyun exp analyze checkout_copy_v2 --json"""
    settings = load_settings()
    e = get_experiment(settings, key)
    options = AnalysisOptions(alpha, _correction(correction), sequential, cuped=not no_cuped)
    with Warehouse.open(settings, read_only=True) as wh:
        res = analyze_experiment(wh, e, options)
    if json_out:
        print_json(clean(res))
        return
    _print_result(res)


@exp_app.command("power")
def power_cmd(
    baseline: Annotated[float, typer.Option(help="Baseline conversion rate (or mean with --sd). 基线。")],
    mde: Annotated[float, typer.Option(help="Minimum detectable effect (absolute unless --relative). 最小可检测效应。")],
    alpha: AlphaOpt = 0.05,
    power: Annotated[float, typer.Option(help="Power (1 - β). 检验功效。")] = 0.8,
    relative: Annotated[bool, typer.Option("--relative", help="MDE is relative to the baseline. 相对MDE。")] = False,
    sd: Annotated[float | None, typer.Option(help="Standard deviation: a mean metric instead of a rate. 标准差(均值指标)。")] = None,
    arms: Annotated[int, typer.Option(help="Number of arms incl. control. 组数。")] = 2,
    daily_traffic: Annotated[float | None, typer.Option(help="Users entering per day → days. 日流量。")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Sample size per arm and duration. 样本量与时长。 Example: jingyun exp power --baseline 0.10 --mde 0.01 --json"""
    if sd is None:
        r = sample_size_proportion(baseline, mde, alpha=alpha, power=power, relative=relative, arms=arms, daily_traffic=daily_traffic)
    else:
        r = sample_size_mean(baseline, sd, mde, alpha=alpha, power=power, relative=relative, arms=arms, daily_traffic=daily_traffic)
    if json_out:
        print_json(clean(r))
        return
    print_table("power 样本量", ["field 字段", "value 值"], [[k, v] for k, v in dataclasses.asdict(r).items()])


@exp_app.command("calc")
def calc_cmd(
    control: Annotated[str, typer.Option(help="[name=]n:conversions or [name=]n:mean:sd. 对照组。")],
    treatment: Annotated[list[str], typer.Option(help="Same form; repeat for several. 实验组(可多个)。")],
    alpha: AlphaOpt = 0.05,
    correction: CorrOpt = "holm",
    sequential: SeqOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Analyse a test run elsewhere from summary numbers. 外部实验计算器。
    Example: jingyun exp calc --control 10000:1000 --treatment 10000:1100 --json"""
    res = calculate(control, treatment, AnalysisOptions(alpha, _correction(correction), sequential, cuped=False))
    if json_out:
        print_json(calc_json(res))
        return
    print_table(f"calculator 计算器 ({res.kind})", _HEAD, [_effect_row(r) for r in res.variations])


def calc_json(res: CalcResult) -> dict[str, Any]:
    return {
        "kind": res.kind,
        "control": {"name": res.control.name, "n": res.control.statistic.n, "mean": res.control.statistic.mean},
        "variations": [_variation_json(r) for r in res.variations],
        "srm": clean(res.srm),
        "alpha": res.options.alpha, "correction": res.options.correction, "sequential": res.options.sequential,
    }


@exp_app.command("stop")
def stop_cmd(key: str, json_out: JsonOpt = False) -> None:
    """Stop assigning new users. 停止实验。 Example: jingyun exp stop checkout_copy_v2"""
    _show_experiment(stop_experiment(load_settings(), key), json_out)


@exp_app.command("conclude")
def conclude_cmd(
    key: str,
    decision: Annotated[str, typer.Option(help="ship, rollback or iterate. 决策:上线/回滚/迭代。")],
    reason: Annotated[str, typer.Option(help="Why. 决策理由。")],
    by: Annotated[str, typer.Option(help="Who decided. 决策人。")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Record the decision and close the experiment. 记录决策并结束实验。
    Example: jingyun exp conclude checkout_copy_v2 --decision ship --reason "+9.8% conversion\""""
    _show_experiment(conclude_experiment(load_settings(), key, decision, reason, by=by), json_out)


@exp_app.command("flag")
def flag_cmd(
    key: str,
    rollout: Annotated[float | None, typer.Option(help="Share of users on, 0-1 (5% → 0.05). 灰度比例。")] = None,
    kill: Annotated[bool, typer.Option("--kill", help="Kill switch: everyone off. 紧急关闭。")] = False,
    enable: Annotated[bool, typer.Option("--enable", help="Undo the kill switch. 重新启用。")] = False,
    user: Annotated[list[str] | None, typer.Option("--user", help="Evaluate for these user ids. 评估用户。")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create/update a feature flag and evaluate it. 功能开关与灰度发布。
    Example: jingyun exp flag new_checkout --rollout 0.05 --user u1"""
    settings = load_settings()
    try:
        flag = get_flag(settings, key)
    except JingyunError as exc:
        if exc.code != "unknown_flag":
            raise
        flag = Flag(key)
    flag = dataclasses.replace(
        flag, rollout=flag.rollout if rollout is None else rollout,
        enabled=(flag.enabled and not kill) or enable,
    )
    save_flag(settings, flag)
    evals = [evaluate_flag(u, flag) for u in user or []]
    if json_out:
        print_json({"flag": clean(flag), "evaluations": clean(evals)})
        return
    typer.echo(f"flag {flag.key}: rollout {flag.rollout:.0%}, {'enabled' if flag.enabled else 'KILLED 已关闭'}")
    if evals:
        print_table("flag 开关", ["user 用户", "on 开启", "reason 原因"], [[f.user_id, f.on, f.reason] for f in evals])


def register(app: typer.Typer) -> None:
    app.add_typer(exp_app, name="exp")
