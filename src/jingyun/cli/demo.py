"""``jingyun demo``: build the demo business. 构建演示业务。"""

from __future__ import annotations

import datetime as dt

import typer

from jingyun.cli.output import console, print_json, print_table
from jingyun.config import load_settings
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
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON. 以JSON输出。"),
) -> None:
    """Build a fictional omnichannel retailer with planted ground truth. 生成带有预设真相的演示零售业务。

    Example: jingyun demo --users 5000 --days 120 --seed 7 --replace
    """
    from jingyun.demo import DemoParams, build

    settings = load_settings()
    params = DemoParams(users=users, days=days, seed=seed, end_date=_date(end_date))
    result = build(settings, params, ingest=ingest, replace=replace, show_progress=not as_json)
    # Later issues add "run every analysis, then serve the console" here, after ingestion.
    if as_json:
        print_json(result.to_dict())
        return
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
    console.print(f"done in {sum(result.seconds.values()):.1f}s")


def register(app: typer.Typer) -> None:
    app.command(name="demo")(demo)
