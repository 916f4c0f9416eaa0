"""``jingyun tags``: the tag system. 标签体系。"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.cli.segment import AsOfOpt, JsonOpt
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.segments.store import SegmentStore
from jingyun.segments.tags import compute_tags, define_tag, import_tag_csv, load_tags
from jingyun.warehouse import Warehouse

tags_app = typer.Typer(help="Tags: define, compute, import, approve. 标签:定义、计算、导入、审批。", no_args_is_help=True)


@tags_app.command("list")
def list_tags(as_json: JsonOpt = False) -> None:
    """List tag definitions. 列出标签。

    Example: jingyun tags list --json
    """
    tags = load_tags(load_settings())
    if as_json:
        print_json([t.__dict__ for t in tags.values()])
        return
    print_table(f"Tags 标签 ({len(tags)})", ["name", "kind 类型", "group 分组", "中文", "English", "owner", "refresh"],
                [[t.name, t.kind, t.group, t.zh, t.en, t.owner, t.refresh] for t in tags.values()])


@tags_app.command("compute")
def compute(
    names: Annotated[list[str] | None, typer.Argument(help="Tags to compute (default all). 要计算的标签。")] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute tags into user_tags, with coverage. 重新计算标签并报告覆盖率。

    Example: jingyun tags compute rfm_group lifecycle_stage --json
    """
    with Warehouse.open(load_settings()) as wh:
        runs = compute_tags(wh, names or None, as_of=as_of)
    if as_json:
        print_json(runs)
        return
    print_table("Tag runs 标签计算", ["tag", "persons 人数", "coverage 覆盖率", "seconds 秒"],
                [[r.tag, r.rows, f"{r.coverage:.1%}", r.seconds] for r in runs])


@tags_app.command("import")
def import_csv(tag: str, path: Path, as_json: JsonOpt = False) -> None:
    """Import values of an imported tag from a CSV (person_id,value). 从CSV导入标签值。

    Example: jingyun tags import crm_interest interests.csv
    """
    with Warehouse.open(load_settings()) as wh:
        n = import_tag_csv(wh, tag, path)
    print_json({"tag": tag, "rows": n}) if as_json else typer.echo(f"{tag}: {n} rows imported 已导入")


@tags_app.command("define")
def define(
    path: Annotated[Path, typer.Argument(help="JSON file with one tag definition. 标签定义JSON文件。")],
    author: Annotated[str, typer.Option("--author", help="Who defines it. 定义人。")] = "ops",
    as_json: JsonOpt = False,
) -> None:
    """Add a version of a custom tag (campaign tags wait for approval). 新增标签版本(营销标签需审批)。

    Example: jingyun tags define my_tag.json --author alice
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise JingyunError("bad_file", f"cannot read {path}: {exc}", "path") from None
    tag, version, status = define_tag(load_settings(), raw, author)
    out = {"tag": tag.name, "version": version, "status": status}
    print_json(out) if as_json else typer.echo(f"{tag.name} v{version}: {status}")


@tags_app.command("approve")
def approve(
    tag: str, version: int,
    approver: Annotated[str, typer.Option("--by", help="Approver (not the author). 审批人(非作者)。")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead. 驳回。")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Approve (or reject) a tag version. 审批标签版本。

    Example: jingyun tags approve my_tag 1 --by bob
    """
    v = SegmentStore(load_settings()).decide_tag_version(tag, version, approver, not reject)
    print_json(v) if as_json else typer.echo(f"{tag} v{version}: {v.status}")


def register(app: typer.Typer) -> None:
    app.add_typer(tags_app, name="tags")
