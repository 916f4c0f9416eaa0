"""``jingyun privacy``: PIPL data-subject rights — export, erase, retention. 个人信息主体权利:查阅复制、删除、保存期限。"""

from __future__ import annotations

from typing import Annotated

import typer

from jingyun.cli.identity import ApiKeyOpt, identify
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.privacy import erase as erasing
from jingyun.privacy import retention
from jingyun.privacy.export import export_person
from jingyun.security import cli_identity
from jingyun.store.db import open_store
from jingyun.warehouse import Warehouse

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exact JSON. 输出JSON。")]
privacy_app = typer.Typer(help="PIPL rights: export or erase one person, retention policies. 个人信息:导出、删除、保存期限。",
                          no_args_is_help=True)


def _admin(permission: str, api_key: str | None) -> cli_identity.Identity:
    settings = load_settings()
    identity = identify(settings, api_key)
    if identity.principal is None:
        raise JingyunError("login_required", f"{permission} needs an admin credential: {cli_identity.SIGN_IN}",
                           "credential", status=401)
    identity.principal.require(permission)
    return identity


@privacy_app.command("export")
def export_cmd(user_id: str, as_json: JsonOpt = True, api_key: ApiKeyOpt = None) -> None:
    """Everything held about one person, as JSON (admins; audited). 导出某人的全部数据(管理员,留审计)。

    Example: jingyun login && jingyun privacy export u_001 > u_001.json
    """
    identity = _admin("privacy:export", api_key)
    settings = load_settings()
    store = open_store(settings)
    try:
        with Warehouse.open(settings) as wh:
            data = export_person(wh, store, user_id)
    finally:
        store.close()
    rows = sum(len(v) for v in data["warehouse"].values()) + sum(len(v) for v in data["metadata"].values())
    cli_identity.audit(settings, identity, "export", f"person:{data['person_ids'][0]}",
                       {"command": "privacy export", "rows": rows})
    print_json(data)


@privacy_app.command("erase")
def erase_cmd(
    user_id: str,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; change nothing. 仅统计,不删除。")] = False,
    now: Annotated[bool, typer.Option("--now", help="Purge the erased bytes from the files now instead of at the "
                                                    "nightly optimize (can take a minute). 立即清除残留字节。")] = False,
    as_json: JsonOpt = False,
    api_key: ApiKeyOpt = None,
) -> None:
    """Erase one person everywhere, leave tombstones, write an audit record (admins). 删除某人(管理员)。

    The rows go at once; the bytes they leave in the files go at the nightly optimize (or with --now).

    Example: jingyun privacy erase u_001 --dry-run
    """
    identity = _admin("privacy:erase", api_key)
    settings = load_settings()
    store = open_store(settings)
    try:
        with Warehouse.open(settings) as wh:
            report = erasing.erase(wh, store, user_id, dry_run=dry_run, actor=identity.actor, purge=now)
    finally:
        store.close()
    if as_json:
        print_json(report.to_dict())
        return
    print_table(f"erase {'(dry run) ' if dry_run else ''}{report.token}", ["table 表", "deleted 删除", "pseudonymised 假名化"],
                [[t, c["deleted"], c["pseudonymised"]] for t, c in report.warehouse.items()]
                + [[f"store:{t}", n, 0] for t, n in report.store.items()]
                + [[f"file:{p}", n, 0] for p, n in report.files.items()])
    typer.echo(f"{report.tombstones} tombstones, {report.seconds:.2f}s"
               + (", bytes purged at the nightly optimize 残留字节将在夜间优化时清除" if report.purge == "pending" else ""))


@privacy_app.command("retention")
def retention_cmd(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would go; change nothing. 仅报告。")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Apply the retention policies of $JINGYUN_HOME/retention.yaml. 按保存期限删除或匿名化过期数据。

    Example: jingyun privacy retention --dry-run --json
    """
    settings = load_settings()
    policies = retention.load_policies(settings)
    store = open_store(settings)
    try:
        with Warehouse.open(settings) as wh:
            results = retention.run(wh, store, policies, dry_run=dry_run)
    finally:
        store.close()
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    print_table(f"retention {'(dry run)' if dry_run else ''}", ["table 表", "action 动作", "days 天", "cutoff 截止", "rows 行"],
                [[r.table, r.action, r.days, r.cutoff, r.rows] for r in results])


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
