"""``jingyun check``: reconciliation checks on the warehouse."""

from __future__ import annotations

from typing import Annotated

import typer

from jingyun.cli.identity import ApiKeyOpt, gate, identify
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.quality.checks import CHECKS, run_checks
from jingyun.warehouse import Warehouse


def check(
    names: Annotated[list[str] | None, typer.Argument(help=f"Checks to run (default all): {', '.join(CHECKS)}")] = None,
    limit: Annotated[int, typer.Option(help="Offending rows shown per check")] = 20,
    stale_hours: Annotated[int, typer.Option(help="A source is stale after this many hours without data")] = 24,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    fail: Annotated[bool, typer.Option("--fail/--no-fail", help="Exit 1 when a check finds rows (for schedulers)")] = False,
    api_key: ApiKeyOpt = None,
) -> None:
    """Run data-quality and reconciliation checks. 运行数据对账检查。

    Offending rows with personal data (a shared phone number) print de-identified unless a manager
    or admin is signed in; raw reads are audited.
    Example: jingyun check order_payment_mismatch --json
    """
    settings = load_settings()
    identity = identify(settings, api_key)
    with Warehouse.open(settings, read_only=True) as wh:
        results = run_checks(wh, names, limit=limit, stale_hours=stale_hours)
    for r in results:
        check_sql = CHECKS[r.name].sql if r.name in CHECKS else None
        r.columns, r.rows = gate(settings, identity, r.columns, r.rows, command="check", target=f"check:{r.name}",
                                 sql=check_sql)
    if as_json:
        print_json({"checks": [r.to_dict() for r in results]})
    else:
        print_table("checks / 对账检查", ["check", "检查", "offending rows"], [[r.name, r.zh, r.count] for r in results])
        for r in results:
            if r.rows:
                print_table(f"{r.name} ({r.count})", r.columns, r.rows)
    if fail and any(not r.ok for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
