"""``jingyun quarantine list|show|fix|replay|discard``."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated

import typer

from jingyun.cli.identity import ApiKeyOpt, identify, masker
from jingyun.cli.output import print_json, print_table
from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError
from jingyun.ingest import quarantine as q
from jingyun.security import cli_identity
from jingyun.security.cli_identity import Identity
from jingyun.warehouse import Warehouse

app = typer.Typer(help="Inspect, fix and replay rejected records. 隔离区:查看、修正、重放被拒记录。", no_args_is_help=True)


def _shown(settings: Settings, identity: Identity, rows: list[q.QuarantineRow], target: str) -> list[q.QuarantineRow]:
    """Raw payloads hold personal data: in clear for a raw role (audited), through the gate for everyone else."""
    if identity.sees_raw:
        if rows:
            cli_identity.audit(settings, identity, "read_personal", target,
                               {"command": "quarantine", "rows": len(rows), "deidentified": False})
        return rows
    mask = masker(settings)
    return [replace(r, raw=None if r.raw is None else str(mask.any(r.raw))) for r in rows]


@app.command("list")
def list_cmd(
    table: Annotated[str | None, typer.Option(help="Only this table")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason, e.g. bad_timestamp or bad_timestamp:ts")] = None,
    status: Annotated[str, typer.Option(help="open | replayed | discarded | all")] = "open",
    limit: Annotated[int, typer.Option(help="Page size")] = 50,
    offset: Annotated[int, typer.Option(help="Rows to skip (pagination)")] = 0,
    summary: Annotated[bool, typer.Option(help="Counts per table and reason instead of rows")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    api_key: ApiKeyOpt = None,
) -> None:
    """List quarantined records (paginated); payloads de-identified unless a manager or admin is signed in.
    列出隔离记录。 Example: jingyun quarantine list --table events --json"""
    settings = load_settings()
    identity = identify(settings, api_key)
    with Warehouse.open(settings) as wh:
        st = None if status == "all" else status
        if summary:
            rows = q.summary(wh, st)
            if as_json:
                print_json([{"table": t, "reason": r, "count": n} for t, r, n in rows])
            else:
                print_table("quarantine", ["table", "reason", "count"], rows)
            return
        total, page = q.list_rows(wh, table=table, reason=reason, status=st, limit=limit, offset=offset)
    page = _shown(settings, identity, page, "quarantine")
    if as_json:
        print_json({"total": total, "offset": offset, "limit": limit, "rows": [r.to_dict() for r in page]})
        return
    print_table(
        f"quarantine ({offset + 1}-{offset + len(page)} of {total})",
        ["qid", "table", "line", "reason", "field", "raw"],
        [[r.qid, r.table, r.line, r.reason, r.field, (r.raw or "")[:60]] for r in page],
    )


@app.command()
def show(qid: int, as_json: Annotated[bool, typer.Option("--json")] = False, api_key: ApiKeyOpt = None) -> None:
    """Show one record with its full payload (de-identified unless a manager or admin is signed in). 查看单条记录。"""
    settings = load_settings()
    identity = identify(settings, api_key)
    with Warehouse.open(settings) as wh:
        row = q.get_row(wh, qid)
    [row] = _shown(settings, identity, [row], f"quarantine:{qid}")
    if as_json:
        print_json(row.to_dict(raw_limit=None))
    else:
        for key, value in row.to_dict(raw_limit=None).items():
            typer.echo(f"{key}: {value}")


@app.command()
def fix(
    qid: int,
    set_: Annotated[list[str] | None, typer.Option("--set", help="field=value (value parsed as JSON when it can be); repeatable")] = None,
    unset: Annotated[list[str] | None, typer.Option(help="Remove a field; repeatable")] = None,
    raw: Annotated[str | None, typer.Option(help="Replace the whole raw payload with this text")] = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Correct a quarantined payload before replay. 修正记录。 Example: jingyun quarantine fix 12 --set platform=web"""
    settings = load_settings()
    identity = identify(settings, api_key)
    changes: dict[str, object] = {}
    for item in set_ or []:
        if "=" not in item:
            raise JingyunError("bad_argument", f"--set needs field=value, got {item!r}", "set")
        key, value = item.split("=", 1)
        try:
            changes[key] = json.loads(value)
        except json.JSONDecodeError:
            changes[key] = value
    for key in unset or []:
        changes[key] = None
    with Warehouse.open(settings) as wh:
        row = q.fix(wh, qid, set_fields=changes, raw=raw)
    [row] = _shown(settings, identity, [row], f"quarantine:{qid}")
    typer.echo(f"fixed {row.qid}: {row.raw}")


@app.command()
def replay(
    qids: Annotated[list[int] | None, typer.Argument(help="Record ids (default: all open records that match)")] = None,
    table: Annotated[str | None, typer.Option()] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-run quarantined records through the pipeline. 重放隔离记录。 Example: jingyun quarantine replay --reason unknown_enum"""
    with Warehouse.open(load_settings()) as wh:
        result = q.replay(wh, ids=qids or None, table=table, reason=reason)
    if as_json:
        print_json(result.to_dict())
    else:
        print_table("replay", ["selected", "stored", "duplicates", "still quarantined"],
                    [[result.selected, result.stored, result.duplicates, result.still_quarantined]])


@app.command()
def discard(qids: list[int]) -> None:
    """Mark records as discarded (kept, but no longer open). 标记为丢弃(保留记录)。"""
    with Warehouse.open(load_settings()) as wh:
        n = q.discard(wh, qids)
    typer.echo(f"discarded {n}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="quarantine")
