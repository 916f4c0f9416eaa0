"""``jingyun demo``: build the demo business. 构建演示业务。"""

from __future__ import annotations

import contextlib
import datetime as dt

import typer

from jingyun.cli.output import console, print_json, print_table
from jingyun.config import Settings, load_settings
from jingyun.demo.build import DemoResult
from jingyun.demo.tour import TourStep
from jingyun.errors import JingyunError


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise JingyunError("bad_param", f"end date {value!r} is not YYYY-MM-DD", "end_date") from None


def demo(
    users: int = typer.Option(50_000, "--users", help="Number of users. 用户数。"),
    days: int = typer.Option(365, "--days", help="Days of data, ending on --end-date. 数据天数。"),
    seed: int = typer.Option(7, "--seed", help="Random seed; same seed → identical files. 随机种子。"),
    end_date: str = typer.Option("2026-10-31", "--end-date", help="Last day of the data (YYYY-MM-DD). 数据截止日期。"),
    ingest: bool = typer.Option(True, "--ingest/--no-ingest", help="Load the sources into the warehouse. 是否入库。"),
    replace: bool = typer.Option(False, "--replace", help="Delete an existing warehouse first. 先删除已有仓库。"),
    tour: bool = typer.Option(True, "--tour/--no-tour", help="Run every analysis and compare with the planted truth. 运行全部分析并与预设真相对照。"),
    serve: bool = typer.Option(False, "--serve", help="Then create demo accounts and serve the API and console. 然后创建演示账号并启动服务与控制台。"),
    port: int = typer.Option(8000, "--port", help="Port for --serve. 服务端口。"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON. 以JSON输出。"),
) -> None:
    """Build a fictional omnichannel retailer with planted ground truth. 生成带有预设真相的演示零售业务。

    Example: jingyun demo --users 5000 --days 120 --seed 7 --replace
    """
    from jingyun.demo import DemoParams, build

    settings = load_settings()
    params = DemoParams(users=users, days=days, seed=seed, end_date=_date(end_date))
    if serve:  # a taken port is said now, not after the build
        from jingyun.cli.serve import check_listen

        check_listen("127.0.0.1", port)
    result = build(settings, params, ingest=ingest, replace=replace, show_progress=not as_json)
    steps: list[TourStep] = []
    if tour and ingest:
        from jingyun.demo.tour import run_tour

        steps = run_tour(settings)
    if as_json:
        print_json({**result.to_dict(), "tour": [s.to_dict() for s in steps]})
    else:
        _print_summary(result, steps)
    if serve:
        _serve(settings, port)


def _print_summary(result: DemoResult, steps: list[TourStep]) -> None:
    if result.files:
        print_table(
            "Ingestion 入库 (received = stored + duplicates + quarantined)",
            ["table", "file", "received", "stored", "duplicates", "quarantined", "as planted"],
            [
                [f.table, f.file, f.received, f.stored, f.duplicates, f.quarantined, "yes" if f.matches else "NO"]
                for f in result.files
            ],
        )
    h = result.headline
    print_table(
        "Ground truth 预设真相",
        ["item", "value"],
        [
            ["users / orders / events", f"{h['users']:,} / {h['orders']:,} / {h['events']:,}"],
            ["funnel bottleneck 漏斗瓶颈", f"{h['bottleneck_step']} (worse recently on {h['bottleneck_worse_on']})"],
            ["A/B lift 实验提升", f"{h['ab_experiment']}: planted {h['ab_planted_lift']:+.1%}, realized {h['ab_realized_lift']:+.1%}"],
            ["churn share 流失占比", f"{h['churn_share_of_customers']:.1%} of customers"],
            ["GMV change last full month", f"{h['gmv_change_last_full_month']:,.2f} CNY, driver: {h['gmv_driver']}"],
            ["ground truth", str(result.truth_path)],
        ],
    )
    if steps:
        print_table(
            "Every analysis vs the planted truth 各项分析与预设真相对照",
            ["analysis 分析", "found 结果", "planted 预设", "match 一致", "s"],
            [[f"{s.name} {s.zh}", s.found, s.planted or "—",
              "—" if s.matches is None else ("yes" if s.matches else "NO"), f"{s.seconds:.1f}"] for s in steps],
        )
    console.print(f"done in {sum(result.seconds.values()) + sum(s.seconds for s in steps):.1f}s")


DEMO_ACCOUNTS = (  # username, role, department — password "jingyun-demo" (demo workspaces only)
    ("admin", "admin", "ops"), ("manager", "manager", "growth"),
    ("analyst", "analyst", "data"), ("specialist", "specialist", "growth"),
)
DEMO_PASSWORD = "jingyun-demo"


def _serve(settings: Settings, port: int) -> None:
    """Demo accounts (one per role), then the service with the console until Ctrl-C."""
    import uvicorn

    from jingyun.cli.serve import service_app
    from jingyun.security import auth
    from jingyun.security.config import load_service_settings
    from jingyun.store.db import open_store

    store = open_store(settings)
    service = load_service_settings(settings)
    for username, role, department in DEMO_ACCOUNTS:
        with contextlib.suppress(JingyunError):  # already there from an earlier demo
            auth.create_person(store, username=username, password=DEMO_PASSWORD, role=role,
                               departments=[department], service=service)
    app = service_app(settings)
    console.print(
        f"console 控制台: http://127.0.0.1:{port}/console  —  sign in as admin / manager / analyst / specialist, "
        f"password {DEMO_PASSWORD}; API docs: http://127.0.0.1:{port}/docs  (Ctrl-C to stop)"
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", workers=1, access_log=False)


def register(app: typer.Typer) -> None:
    app.command(name="demo")(demo)
