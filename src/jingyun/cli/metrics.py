"""``jingyun metrics``: the metric dictionary. 指标字典:列表、定义、计算。"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from jingyun.cli.identity import ApiKeyOpt, identify
from jingyun.cli.identity import masker as cli_masker
from jingyun.cli.output import print_json, print_table
from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError
from jingyun.metrics.compute import ComputeParams, MetricResult, compute
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.model import Derived, Metric
from jingyun.security import cli_identity
from jingyun.security.cli_identity import Identity
from jingyun.security.config import load_service_settings
from jingyun.security.masking import require_field_access, sensitive_field
from jingyun.warehouse import personal
from jingyun.warehouse.backends import open_backend

metrics_app = typer.Typer(
    help="Metric dictionary: list, show and compute metrics. 指标字典:列出、查看、计算指标。",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exact JSON. 输出JSON。")]



def metric_dict(m: Metric) -> dict[str, Any]:
    formula = dataclasses.asdict(m.formula)
    formula["filters"] = formula.get("filters", [])
    return {
        "name": m.name, "zh": m.zh, "en": m.en, "unit": m.unit, "direction": m.direction, "grain": m.grain,
        "owner": m.owner, "perspective": m.perspective,
        "description": {"zh": m.description_zh, "en": m.description_en},
        "kind": m.formula.kind, "formula": formula, "defined_in": m.origin,
    }


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit in ("users", "orders", "count") and float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


@metrics_app.command("list")
def list_metrics(as_json: JsonOpt = False) -> None:
    """List every metric (shipped and your own). 列出全部指标。

    Example: jingyun metrics list --json
    """
    d = load_dictionary(load_settings())
    if as_json:
        print_json({"metrics": [metric_dict(m) for m in d.metrics.values()], "files": list(d.files)})
        return
    print_table("Metrics 指标", ["name 名称", "中文", "English", "unit 单位", "better 方向", "grain 粒度", "owner 负责人"],
                [[m.name, m.zh, m.en, m.unit, m.direction, m.grain, m.owner] for m in d.metrics.values()])


@metrics_app.command("show")
def show(name: Annotated[str, typer.Argument(help="Metric name, e.g. gmv. 指标名")], as_json: JsonOpt = False) -> None:
    """Show one metric's definition. 查看指标定义。

    Example: jingyun metrics show conversion_rate
    """
    d = load_dictionary(load_settings())
    m = d.metric(name)
    data = metric_dict(m)
    if as_json:
        print_json(data)
        return
    f = m.formula
    rows: list[list[Any]] = [["name 名称", f"{m.zh} / {m.en}"], ["description 说明", m.description_zh],
                             ["", m.description_en], ["unit 单位", m.unit], ["better 方向", m.direction],
                             ["grain 粒度", m.grain], ["owner 负责人", m.owner], ["perspective 维度", m.perspective],
                             ["kind 类型", f.kind]]
    if isinstance(f, Derived):
        rows.append(["formula 公式", f.expression + (f" × {f.scale:g}" if f.scale != 1 else "")])
    else:
        for key, value in dataclasses.asdict(f).items():
            if (key != "kind" and value not in (None, (), [], 1, False, 0)) or key == "source":
                rows.append([key, str(value)])
    rows.append(["defined in 定义于", m.origin])
    print_table(f"Metric 指标 {m.name}", ["field 字段", "value 值"], rows)


@metrics_app.command("validate")
def validate(files: Annotated[list[Path] | None, typer.Argument(help="Extra YAML files to check. 待检查的YAML文件")] = None,
             as_json: JsonOpt = False) -> None:
    """Check the catalogue, $JINGYUN_HOME/metrics/*.yaml and any given files. 校验指标定义。

    Example: jingyun metrics validate my_metrics.yaml
    """
    d = load_dictionary(load_settings(), extra_files=tuple(files or ()))
    if as_json:
        print_json({"ok": True, "metrics": len(d.metrics), "files": list(d.files)})
        return
    typer.echo(f"ok: {len(d.metrics)} metrics from {len(d.files)} file(s) 校验通过")


def result_json(result: MetricResult) -> dict[str, Any]:
    return result.to_dict()


@metrics_app.command("compute")
def compute_cmd(
    name: Annotated[str, typer.Argument(help="Metric name. 指标名")],
    date_from: Annotated[str, typer.Option("--from", help="First local day (YYYY-MM-DD). 开始日期")],
    date_to: Annotated[str, typer.Option("--to", help="Last local day (YYYY-MM-DD), inclusive. 结束日期")],
    grain: Annotated[str | None, typer.Option(help="day | week | month | total (default: the metric's). 粒度")] = None,
    by: Annotated[str | None, typer.Option(help="Breakdown: a column (channel, platform…), users.<column> or properties.<key>. 分组维度")] = None,
    include_test: Annotated[bool, typer.Option("--include-test", help="Keep test accounts. 包含测试账号")] = False,
    show_sql: Annotated[bool, typer.Option("--sql", help="Also print the query. 显示SQL")] = False,
    as_json: JsonOpt = False,
    api_key: ApiKeyOpt = None,
) -> None:
    """Compute a metric per day/week/month. 按日/周/月计算指标。

    A breakdown by personal data (users.phone, properties.contacts…) needs a manager or admin
    sign-in and is audited as an export, as in the API.
    Example: jingyun metrics compute gmv --from 2026-10-01 --to 2026-10-31 --grain week --by channel --json
    """
    settings = load_settings()
    d = load_dictionary(settings)
    params = ComputeParams.create(name, date_from, date_to, grain=grain, by=by, timezone=settings.timezone,
                                  include_test=include_test)
    identity = None
    if params.by is not None and sensitive_field(params.by):  # refused before any work
        identity = _breakdown_identity(settings, api_key, params.by)
    backend = open_backend(settings)
    try:
        result = compute(backend, d, params)
    finally:
        backend.close()
    if params.by is not None:
        _gate_breakdown(settings, result, identity, api_key, name)
    if as_json:
        print_json(result_json(result))
        return
    m = result.metric
    headers = ["bucket 时段", *([f"{by} 分组"] if by else []), f"{m.zh} {m.en}", "parts 组成"]
    rows = [[p.label, *([p.by_value] if by else []), fmt(p.value, m.unit),
             ", ".join(f"{k}={'—' if v is None else round(v, 4)}" for k, v in p.parts.items())]
            for p in result.points]
    print_table(f"{m.name} ({m.unit}, {result.grain}, {settings.timezone})", headers, rows)
    if show_sql:
        typer.echo(result.sql)


def _breakdown_identity(settings: Settings, api_key: str | None, by: str) -> Identity:
    identity = identify(settings, api_key)
    if identity.principal is None:
        raise JingyunError("login_required", f"{by} is personal data: a breakdown by it needs a manager or admin "
                           f"sign-in; {cli_identity.SIGN_IN}", "by")
    require_field_access(by, sees_raw=identity.sees_raw, field_name="by")
    personal.require_groupable(load_service_settings(settings), by)
    return identity


def _gate_breakdown(settings: Settings, result: MetricResult, identity: Identity | None, api_key: str | None,
                    name: str) -> None:
    """Breakdown values through the masking gate, as ``GET /metrics/{name}/values`` does: a property
    breakdown's free text and JSON for masked callers; values per person audited like an export."""
    masker = cli_masker(settings)
    masked = [masker.any(p.by_value) for p in result.points]
    if all(m == p.by_value for m, p in zip(masked, result.points, strict=True)) and identity is None:
        return  # nothing personal in the values: an aggregate, printed as it always was
    identity = identity or identify(settings, api_key)
    if not identity.sees_raw:
        for m, p in zip(masked, result.points, strict=True):
            p.by_value = m
    cli_identity.audit(settings, identity, "export", f"metric:{name}",
                       {"command": "metrics compute", "by": result.by, "rows": len(result.points),
                        "deidentified": not identity.sees_raw})


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")
