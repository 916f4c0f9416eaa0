"""``jingyun org import|list``: the organisation (people, departments, positions, superiors)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.store.shared import metadata_store

app = typer.Typer(help="The organisation: people, positions, superiors. 组织架构。", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Exact JSON")]


@app.command("import")
def import_cmd(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)], as_json: AsJson = False) -> None:
    """Import name,email,department,role,superior rows; bad rows are listed by number. 导入组织架构。 Example: jingyun org import org.csv"""
    from jingyun.approvals import org

    settings = load_settings()
    report = org.import_csv(metadata_store(settings), settings, path)
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(f"{report.received} rows: {report.created} created, {report.updated} updated, "
               f"{len(report.errors)} refused")
    for e in report.errors:
        typer.echo(f"  row {e.row} [{e.field}]: {e.message}")


@app.command("list")
def list_cmd(as_json: AsJson = False) -> None:
    """People with title, departments and superior. 组织列表。 Example: jingyun org list --json"""
    from jingyun.approvals import org

    people = org.org_chart(metadata_store(load_settings()))
    if as_json:
        print_json([p.to_dict() for p in people])
        return
    print_table("organisation 组织", ["person", "title", "departments", "superior"],
                [[p.username, p.title, ", ".join(p.departments), p.superior or ""] for p in people])


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="org")
