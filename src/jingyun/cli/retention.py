"""``jingyun retention``: cohorts and their return rates. 留存与同期群。"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jingyun.analysis.retention import RetentionParams, RetentionResult, run_retention
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.warehouse.backends import open_backend


def retention_json(result: RetentionResult) -> dict[str, Any]:
    data = result.to_dict()
    return {"cohorts": data.pop("cohorts"), **data}


def retention(
    cohort_event: Annotated[str | None, typer.Option(help="Event that puts a person in a cohort (first in range). 初始事件")] = None,
    return_event: Annotated[str | None, typer.Option(help="Event that counts as a return. 回访事件")] = None,
    days: Annotated[int, typer.Option(help="Periods after the cohort period to show (0..N). 观察期数")] = 7,
    cohort: Annotated[str, typer.Option(help="Cohort by: event | registration | purchase. 同期群依据")] = "event",
    returning: Annotated[str, typer.Option(help="Return is: event | purchase. 回访依据")] = "event",
    period: Annotated[str, typer.Option(help="day | week | month. 周期")] = "day",
    date_from: Annotated[str | None, typer.Option("--from", help="First local day of cohorts (YYYY-MM-DD). 开始日期")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local day of cohorts. 结束日期")] = None,
    by: Annotated[str | None, typer.Option(help="Breakdown: platform, users.<column>, properties.<key>. 分组维度")] = None,
    unbounded: Annotated[bool, typer.Option("--unbounded", help="Count returns on or after period k. 无界留存")] = False,
    revenue: Annotated[bool, typer.Option("--revenue", help="Add cumulative revenue per member (LTV). 累计人均收入")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")] = False,
) -> None:
    """Retention matrix by cohort. 同期群留存矩阵。

    Example: jingyun retention --cohort-event signup --return-event open_app --days 7 --from 2024-06-01 --to 2024-06-30 --json
    """
    settings = load_settings()
    params = RetentionParams.create(
        cohort_event, return_event, days, cohort=cohort, returning=returning, period=period, unbounded=unbounded,
        date_from=date_from, date_to=date_to, by=by, revenue=revenue, timezone=settings.timezone,
    )
    backend = open_backend(settings)
    try:
        result = run_retention(backend, params)
    finally:
        backend.close()
    if as_json:
        print_json(retention_json(result))
        return
    label = {"day": "d", "week": "w", "month": "m"}[result.period]
    headers = ["cohort 同期群", *(["value 分组"] if result.breakdown_by else []), "size 人数",
               *(f"{label}{k}" for k in range(result.periods + 1))]
    table = []
    for c in result.cohorts:
        cells = [f"{x} ({r * 100:.0f}%)" for x, r in zip(c.retained, c.rate, strict=True)]
        table.append([c.cohort, *([c.value] if result.breakdown_by else []), c.size, *cells])
    print_table("Retention 留存" + (" (unbounded 无界)" if result.unbounded else ""), headers, table)
    if revenue:
        print_table("Cumulative revenue per member 人均累计收入 (LTV)", ["cohort 同期群", *headers[-result.periods - 1:]],
                    [[c.cohort, *(c.revenue_per_member or [])] for c in result.cohorts])


def register(app: typer.Typer) -> None:
    app.command(name="retention")(retention)
