"""``jingyun schedule init|status|run|serve``: recurring work (cron or intervals) with timeouts and retries."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from jingyun.cli.output import console, print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.ops.scheduler import DEFAULT_SCHEDULE, Scheduler, schedule_path
from jingyun.store import open_store

app = typer.Typer(help="Recurring work: tags, snapshots, retraining, checks. 定时任务。", no_args_is_help=True)


def _scheduler() -> Scheduler:
    settings = load_settings()
    return Scheduler(settings, open_store(settings))


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
    """Each job's last run, its outcome and its next run. 任务状态。 Example: jingyun schedule status --json"""
    rows = _scheduler().status()
    if as_json:
        print_json(rows)
        return
    print_table("schedule 定时任务", ["job", "schedule", "status", "last started (UTC)", "s", "next run", "error"],
                [[r["job"], r["schedule"], r["status"], r["last_started"] or "", r["seconds"] or "", r["next_run"],
                  (r["error"] or "")[:60]] for r in rows])


@app.command("run")
def run_cmd(
    job: Annotated[str | None, typer.Argument(help="Only this job (default: every job that is due)")] = None,
    due: Annotated[bool, typer.Option("--due", help="Only what is due (the default)")] = False,
    force: Annotated[bool, typer.Option(help="Run even if not due")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run the jobs that are due, or one job now. 运行到期任务。 Example: jingyun schedule run tags --force"""
    if due and force:
        raise JingyunError("bad_argument", "give --due or --force, not both", "force")
    sched = _scheduler()
    sched.ledger.import_legacy(sched.settings, sched.jobs(), sched.clock.now())
    records = sched.run_due(only=job, force=force)
    if as_json:
        print_json([r.to_dict() for r in records])
    else:
        print_table("runs 运行", ["job", "trigger", "status", "attempts", "s", "error"],
                    [[r.job, r.trigger, r.status, r.attempts, r.seconds, (r.error or "")[:80]] for r in records])
    if any(r.status != "ok" for r in records):
        raise typer.Exit(1)


@app.command()
def serve() -> None:
    """Run due jobs until Ctrl-C, without the HTTP service. 常驻运行定时任务。 Example: jingyun schedule serve"""
    from jingyun.ops.service import ServiceScheduler

    settings = load_settings()
    sched = ServiceScheduler(settings, open_store(settings))
    sched.start()
    console.print(f"scheduler running for {settings.home} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sched.stop()


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="schedule")
