"""``jingyun optimize``: store fact tables in time order, rebuild derived summaries. 优化存储。"""

from __future__ import annotations

from typing import Annotated

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.privacy.erase import purge_pending
from jingyun.store.db import open_store
from jingyun.warehouse import Warehouse
from jingyun.warehouse.optimize import DEFAULT_TABLES, OptimizeReport, optimize


def optimize_cmd(
    table: Annotated[list[str] | None, typer.Option("--table", help="Fact table to sort (repeatable; default events and orders). 要排序的事实表。")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Rewrite fact tables sorted by time and rebuild the per-person order summary. 按时间重排事实表并重建人均订单汇总。

    Time-window questions then skip the row groups outside the window. Run it after a
    backfill or a large import; rows and columns do not change. Then the bytes of erased
    people (`jingyun privacy erase`) still in the files are purged (row "privacy_purge").

    Example: jingyun optimize --table events --json
    """
    settings = load_settings()
    with Warehouse.open(settings) as wh:
        reports = optimize(wh, tuple(table) if table else DEFAULT_TABLES)
        store = open_store(settings)
        try:
            purged = purge_pending(wh, store)
        finally:
            store.close()
    if purged.erasures:
        reports.append(OptimizeReport("privacy_purge", len(purged.erasures), f"({purged.purge})", purged.seconds))
    if as_json:
        print_json([r.__dict__ for r in reports])
    else:
        print_table("optimize 优化", ["table 表", "rows 行数", "sorted by 排序", "seconds 秒"],
                    [[r.table, r.rows, r.sorted_by, r.seconds] for r in reports])


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize_cmd)
