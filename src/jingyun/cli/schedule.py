"""``jingyun schedule init|status|run|serve``: recurring work with timeouts and retries."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from jingyun.cli.output import console, print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.ops.scheduler import DEFAULT_SCHEDULE, load_jobs, run_due, schedule_path, status

app = typer.Typer(help="Recurring work: tags, snapshots, retraining, checks. 定时任务。", no_args_is_help=True)


@app.command()
def init(force: Annotated[bool, typer.Option(help="Overwrite an existing schedule")] = False) -> None:
    """Write the default schedule to the workspace. 生成默认定时任务。 Example: jingyun schedule init"""
    path = schedule_path(load_settings())
    if path.exists() and not force:
        raise JingyunError("exists", f"{path} exists; pass --force to overwrite", "schedule")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFAULT_SCHEDULE, encoding="utf-8")
    typer.echo(f"wrote {path}")


@app.command("status")
def status_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Each job's last run, its outcome and when it is next due. 任务状态。 Example: jingyun schedule status --json"""
    settings = load_settings()
    rows = status(settings, load_jobs(settings))
    if as_json:
        print_json(rows)
        return
    print_table("schedule 定时任务", ["job", "run", "status", "last started (UTC)", "s", "next due (UTC)", "error"],
                [[r["job"], r["run"], r["status"], r["last_started"] or "", r["seconds"] or "", r["due_at"],
                  (r["error"] or "")[:60]] for r in rows])


@app.command("run")
def run_cmd(
    job: Annotated[str | None, typer.Argument(help="Only this job (default: every job that is due)")] = None,
    force: Annotated[bool, typer.Option(help="Run even if not due")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run the jobs that are due (for cron / systemd timers). 运行到期任务。 Example: jingyun schedule run --json"""
    settings = load_settings()
    records = run_due(settings, load_jobs(settings), only=job, force=force)
    if as_json:
        print_json([r.to_dict() for r in records])
    else:
        print_table("runs 运行", ["job", "status", "attempts", "s", "error"],
                    [[r.job, r.status, r.attempts, r.seconds, (r.error or "")[:80]] for r in records])
    if any(r.status != "ok" for r in records):
        raise typer.Exit(1)


@app.command()
def serve(interval: Annotated[int, typer.Option(help="Seconds between checks for due jobs")] = 60) -> None:
    """Run due jobs forever (Ctrl-C to stop). 常驻运行定时任务。 Example: jingyun schedule serve --interval 60"""
    if interval < 1:
        raise JingyunError("bad_argument", "interval must be at least 1 second", "interval")
    settings = load_settings()
    while True:
        for record in run_due(settings, load_jobs(settings)):
            console.print(f"{record.finished_at} {record.job}: {record.status} ({record.seconds} s)"
                          + (f" — {record.error}" if record.error else ""))
        time.sleep(interval)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="schedule")
