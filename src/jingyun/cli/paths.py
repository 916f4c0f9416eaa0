"""``jingyun paths``: the most common next or previous steps. 路径分析。"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jingyun.analysis.paths import PathsParams, PathsResult, run_paths
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.warehouse.backends import open_backend


def paths_json(result: PathsResult) -> dict[str, Any]:
    return result.to_dict()


def paths(
    from_event: Annotated[str, typer.Option(help="Anchor event. 起始/目标事件")],
    direction: Annotated[str, typer.Option(help="next | previous. 向后/向前")] = "next",
    depth: Annotated[int, typer.Option(help="Steps to follow (1-20). 步数")] = 3,
    top: Annotated[int, typer.Option(help="Events kept per step; the rest become (other). 每步保留事件数")] = 10,
    gap: Annotated[int, typer.Option(help="Minutes of inactivity that end a session without session_id. 会话间隔(分钟)")] = 30,
    date_from: Annotated[str | None, typer.Option("--from", help="First local day (YYYY-MM-DD). 开始日期")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local day. 结束日期")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Exact JSON output (Sankey nodes and links). 输出JSON")] = False,
) -> None:
    """Paths after (or before) an event, per session. 会话内路径。

    Example: jingyun paths --from-event view --direction next --depth 3 --json
    """
    settings = load_settings()
    params = PathsParams.create(from_event, direction, depth, gap_minutes=gap, top=top, date_from=date_from,
                                date_to=date_to, timezone=settings.timezone)
    backend = open_backend(settings)
    try:
        result = run_paths(backend, params)
    finally:
        backend.close()
    if as_json:
        print_json(paths_json(result))
        return
    print_table(f"{'Next' if result.direction == 'next' else 'Previous'} steps from {result.from_event} 路径 "
                f"({result.sessions} sessions 会话)", ["step 步", "event 事件", "sessions 会话数"],
                [[n.step, n.event, n.sessions] for n in result.nodes])


def register(app: typer.Typer) -> None:
    app.command(name="paths")(paths)
