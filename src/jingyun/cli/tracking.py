"""``jingyun tracking init|show|report``: the tracking plan and its compliance."""

from __future__ import annotations

import shutil
from typing import Annotated

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.ingest.tracking_report import tracking_report
from jingyun.schema.tracking import DEFAULT_PLAN, load_plan
from jingyun.warehouse import Warehouse

app = typer.Typer(help="Tracking plan (埋点方案) and compliance per source.", no_args_is_help=True)


@app.command()
def init(force: Annotated[bool, typer.Option(help="Overwrite an existing plan")] = False) -> None:
    """Write the default tracking plan into the workspace. 生成默认埋点方案。"""
    settings = load_settings()
    target = settings.tracking_plan_path
    if target.exists() and not force:
        raise JingyunError("exists", f"{target} exists; pass --force to overwrite", "tracking_plan")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEFAULT_PLAN, target)
    typer.echo(f"wrote {target}")


@app.command()
def show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the events the plan declares. 查看埋点方案。"""
    plan = load_plan(load_settings().tracking_plan_path)
    if plan is None:
        raise JingyunError("no_plan", "this workspace has no tracking plan; run `jingyun tracking init`", "tracking_plan")
    rows = [{"event": e.name, "zh": e.zh, "required": e.required, "optional": e.optional} for e in plan.events.values()]
    if as_json:
        print_json(rows)
    else:
        print_table("tracking plan / 埋点方案", ["event", "中文", "required", "optional"],
                    [[r["event"], r["zh"], r["required"], r["optional"]] for r in rows])


@app.command()
def report(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Events that break the plan or are not in it, per source. 各数据源的埋点合规报告。"""
    with Warehouse.open(load_settings(), read_only=True) as wh:
        result = tracking_report(wh)
    if as_json:
        print_json({"sources": [r.to_dict() for r in result]})
        return
    print_table("tracking compliance / 埋点合规", ["source", "events", "violations", "unknown events", "quarantined", "compliance"],
                [[r.source, r.events, r.violations, r.unknown_events, r.quarantined, f"{r.compliance:.1%}"] for r in result])
    for r in result:
        if r.issues:
            print_table(r.source, ["issue", "count"], sorted(r.issues.items(), key=lambda kv: -kv[1])[:20])


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="tracking")
