"""``jingyun journey``: automated journeys — save, list, show, pause, resume, simulate on history. 用户旅程。"""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from jingyun.automation import registry
from jingyun.automation.guards import GuardRules
from jingyun.automation.journey import Journey, load_file
from jingyun.automation.simulate import SimulationResult, simulate
from jingyun.cli.output import console, print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import for_settings
from jingyun.store import open_store
from jingyun.warehouse.backends import open_backend

app = typer.Typer(help="Journeys: triggers, steps, guard rails, simulation on history. 用户旅程:触发、步骤、护栏、历史回放。",
                  no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exact JSON. 输出JSON。")]


def _by() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # pragma: no cover - a user without a passwd entry
        return "cli"


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise JingyunError("bad_date", f"cannot read {value!r} as a date; write YYYY-MM-DD", field) from None


def _journey(ref: str) -> Journey:
    """A journey file, or the key of a saved journey (its running version)."""
    path = Path(ref)
    if path.exists():
        return load_file(path)
    if path.suffix in (".yaml", ".yml", ".json"):
        raise JingyunError("bad_journey", f"no file {ref}", "file")
    return registry.get(open_store(load_settings()), ref).journey


def _show(stored: registry.StoredJourney, tz: str) -> None:
    typer.echo(f"{stored.key} v{stored.version} [{stored.status}] priority {stored.priority} — {stored.name}")


@app.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="Journey YAML or JSON. 旅程定义文件。")],
    as_json: JsonOpt = False,
) -> None:
    """Save a journey as a draft, or a new version of it. 保存旅程(草稿或新版本)。

    Example: jingyun journey create abandoned_browse.yaml
    """
    settings = load_settings()
    stored, changed = registry.create(open_store(settings), load_file(file), by=_by())
    if as_json:
        print_json({**stored.to_dict(settings.timezone), "changed": changed})
        return
    _show(stored, settings.timezone)
    if not changed:
        typer.echo("unchanged: the same definition is already saved 定义未变")


@app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="draft | active | paused")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1-200). 每页条数")] = 50,
    offset: Annotated[int, typer.Option(help="Skip this many. 跳过条数")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List journeys. 列出旅程。

    Example: jingyun journey list --status active --json
    """
    settings = load_settings()
    found, total = registry.listing(open_store(settings), status=status, limit=limit, offset=offset)
    if as_json:
        print_json({"total": total, "limit": limit, "offset": offset,
                    "items": [j.to_dict(settings.timezone) for j in found]})
        return
    print_table(f"Journeys 旅程 ({total})", ["key", "name 名称", "status 状态", "priority 优先级", "version 版本",
                                            "updated 更新"],
                [[j.key, j.name, j.status, j.priority, j.version, j.updated_at] for j in found])


@app.command("show")
def show(
    key: Annotated[str, typer.Argument(help="Journey key. 旅程标识。")],
    version: Annotated[int | None, typer.Option(help="A past version. 历史版本")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a journey's definition and status. 查看旅程定义与状态。

    Example: jingyun journey show abandoned-browse --json
    """
    settings = load_settings()
    store = open_store(settings)
    stored = registry.get(store, key, version=version)
    if as_json:
        print_json({**stored.to_dict(settings.timezone), "versions": registry.versions(store, key)})
        return
    _show(stored, settings.timezone)
    print_table("Steps 步骤", ["id", "type 类型", "detail"],
                [[s.id, s.type, s.model_dump_json(exclude={"id", "type"}, exclude_none=True, by_alias=True)[:80]]
                 for s in stored.journey.steps])


@app.command("pause")
def pause(key: str, as_json: JsonOpt = False) -> None:
    """Pause an active journey: no new entries, waiting users hold. 暂停旅程。

    Example: jingyun journey pause abandoned-browse
    """
    settings = load_settings()
    stored = registry.pause(open_store(settings), key, by=_by())
    print_json(stored.to_dict(settings.timezone)) if as_json else _show(stored, settings.timezone)


@app.command("resume")
def resume(key: str, as_json: JsonOpt = False) -> None:
    """Resume a paused journey (a draft needs approval first). 恢复已暂停的旅程。

    Example: jingyun journey resume abandoned-browse
    """
    settings = load_settings()
    stored = registry.resume(open_store(settings), key, by=_by())
    print_json(stored.to_dict(settings.timezone)) if as_json else _show(stored, settings.timezone)


def _result_json(results: list[SimulationResult], users: bool) -> Any:
    out = [r.to_dict(with_users=users) for r in results]
    return out[0] if len(out) == 1 else out


@app.command("simulate")
def simulate_cmd(
    files: Annotated[list[str], typer.Argument(help="Journey files or saved keys; several compete for the same "
                                                    "caps. 旅程文件或已保存旅程。")],
    date_from: Annotated[str, typer.Option("--from", help="First local day (YYYY-MM-DD). 开始日期")],
    date_to: Annotated[str, typer.Option("--to", help="Last local day. 结束日期")],
    users: Annotated[bool, typer.Option("--users", help="List each entry's path. 列出每次进入的路径")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Replay stored events through journeys in event time; sends nothing. 用历史数据回放旅程,不发送任何消息。

    Example: jingyun journey simulate abandoned_browse.yaml --from 2024-06-01 --to 2024-06-30 --json
    """
    settings = load_settings()
    journeys = [_journey(f) for f in files]
    start, end = _date(date_from, "from"), _date(date_to, "to")
    try:
        store = open_store(settings)
    except Exception:
        store = None
    with open_backend(settings) as backend:
        results = simulate(backend, journeys, start, end, timezone=settings.timezone,
                           rules=GuardRules.from_settings(settings), store=store, defs=for_settings(settings),
                           with_users=users)
    if as_json:
        print_json(_result_json(results, users))
        return
    for r in results:
        console.print(f"[bold]{r.journey}[/bold]: entered 进入 {r.entered}")
        print_table("Steps 步骤", ["id", "users 人次"], [[s.id, s.users] for s in r.steps])
        print_table("Actions 动作", ["channel 渠道", "sent 发送"], [[k, v] for k, v in r.actions.items()])
        print_table("Suppressed 护栏拦截", ["rule 规则", "count 数量"], [[k, v] for k, v in r.suppressed.items()])
        for note in r.notes:
            console.print(f"note: {note}")
        if users:
            print_table("Entries 进入记录", ["user_id", "entered_at", "path"],
                        [[p.user_id, p.entered_at.isoformat(), " → ".join(p.path)] for p in r.users[:200]])


def _duration(value: str | None) -> int | None:
    if value is None:
        return None
    from jingyun.automation.rules import seconds

    try:
        return seconds(value, "window")
    except ValueError as exc:
        raise JingyunError("bad_window", f"cannot read {value!r} as a duration; write e.g. 72h or 7d", "window") from exc


@app.command("report")
def report_cmd(
    ref: Annotated[str, typer.Argument(help="Journey file or saved key. 旅程文件或已保存旅程。")],
    date_from: Annotated[str | None, typer.Option("--from", help="First local day (default: 30 days before --to). "
                                                                "开始日期")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local day (default: the latest data). 结束日期")] = None,
    source: Annotated[str, typer.Option(help="auto | simulated | live. 数据来源")] = "auto",
    window: Annotated[str | None, typer.Option(help="Revenue attribution window, e.g. 72h (default: the goal's). "
                                                    "归因窗口")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Treated vs holdout: conversion, revenue, coupon cost, lift with its interval. 旅程效果:处理组对照组提升。

    Example: jingyun journey report abandoned-browse --from 2026-09-01 --to 2026-09-30 --json
    """
    from jingyun.automation.report import default_range, report

    settings = load_settings()
    journey = _journey(ref)
    start = _date(date_from, "from") if date_from else None
    end = _date(date_to, "to") if date_to else None
    window_s = _duration(window)
    try:
        store = open_store(settings)
    except Exception:
        store = None
    with open_backend(settings) as backend:
        if start is None or end is None:
            _, hi = default_range(backend, settings.timezone)
            end = end or hi
            start = start or end - dt.timedelta(days=29)
        rep = report(backend, journey, start, end, settings=settings, store=store, source=source,  # type: ignore[arg-type]
                     window_s=window_s)
    out = rep.to_dict()
    if as_json:
        print_json(out)
        return
    console.print(f"[bold]{rep.journey}[/bold] {out['from']} … {out['to']} ({rep.source}), goal 目标: {rep.goal}, "
                  f"window 窗口 {out['window_hours']:g} h")
    rows = []
    for name, arm in (("treated 处理组", out["treated"]), ("holdout 对照组", out["holdout"])):
        rows.append([name, arm["entries"], arm["people"], arm["converted"], _pct(arm["conversion_rate"]),
                     arm["revenue"], _money(arm["revenue_per_person"])])
    print_table("Treated vs holdout 处理组与对照组", ["arm 组", "entries 进入", "people 人数", "converted 转化",
                                                 "rate 转化率", "revenue 收入", "per person 人均"], rows)
    lift = out["lift"]
    print_table("Lift 提升 (95% CI)", ["metric 指标", "lift 提升", "interval 区间", "p"], [
        ["conversion 转化率", _pct(lift["conversion"]["uplift_abs"]),
         f"[{_pct(lift['conversion']['ci_abs'][0])}, {_pct(lift['conversion']['ci_abs'][1])}]",
         lift["conversion"]["p_value"]],
        ["revenue/person 人均收入", _money(lift["revenue_per_person"]["uplift_abs"]),
         f"[{_money(lift['revenue_per_person']['ci_abs'][0])}, {_money(lift['revenue_per_person']['ci_abs'][1])}]",
         lift["revenue_per_person"]["p_value"]]])
    console.print(f"coupon cost 券成本: {out['coupon_cost']}")
    print_table("Steps 步骤", ["id", "users 人次"], [[s["id"], s["users"]] for s in out["steps"]])
    print_table("Sends 发送", ["channel 渠道", "status 状态", "n"],
                [[c, st, n] for c, by in out["sends"].items() for st, n in by.items()])
    for note in out["notes"]:
        console.print(f"note: {note}")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.2f}%"


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="journey")
