"""``jingyun status``: whether commands on this home run directly or through its service. 运行状态。"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jingyun.cli.output import print_json, print_table


def status(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON / 以JSON输出")] = False) -> None:
    """Which mode applies (direct / through the service), the service's addresses, uptime, running
    commands and jobs. 显示命令是直接访问仓库还是经由服务运行。

    Example: jingyun status --json
    """
    from jingyun.config import load_settings
    from jingyun.control.client import home_path
    from jingyun.control.client import status as service_status
    from jingyun.control.owner import read_owner

    home = home_path()
    service = service_status(home)
    out: dict[str, Any] = {"home": str(home), "mode": "service" if service else "direct", "service": service}
    if service is None:
        out["warehouse"] = str(load_settings(home).warehouse_path)
        stale = read_owner(home)
        out["stale_owner"] = stale.to_dict() if stale else None
    if as_json:
        print_json(out)
        return
    if service is None:
        typer.echo(f"mode: direct — commands open {out['warehouse']} themselves (no service owns {home})")
        if out["stale_owner"]:
            typer.echo(f"  (a stale owner file names pid {out['stale_owner']['pid']}, which is gone)")
        return
    typer.echo(f"mode: through the service — pid {service['pid']}, up {_duration(service['uptime_s'])}")
    typer.echo(f"  control socket: {service['socket']}")
    typer.echo(f"  http: {service['http']}")
    commands = service.get("commands") or []
    jobs = service.get("jobs") or []
    if commands:
        print_table("running commands 运行中的命令", ["id", "command", "client pid", "s"],
                    [[c["id"], "jingyun " + " ".join(c["argv"]), c["client_pid"], c["seconds"]] for c in commands])
    if jobs:
        keys = sorted({k for j in jobs for k in j})
        print_table("jobs 任务", keys, [[j.get(k, "") for k in keys] for j in jobs])
    if not commands and not jobs:
        typer.echo("  nothing running")


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def register(app: typer.Typer) -> None:
    app.command("status")(status)
