"""``jingyun segment``: saved segments (audiences). 人群圈选与管理。

Also defines the options the other segment command groups share (``--json``, ``--as-of``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from jingyun.cli.identity import ApiKeyOpt, RemovedRoleOpt, identify, masker
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.localtime import aware
from jingyun.security import cli_identity
from jingyun.segments import saved, snapshots
from jingyun.segments.playbooks import get_playbook
from jingyun.segments.store import SavedSegment, SegmentStore
from jingyun.warehouse import Warehouse

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exact JSON. 输出JSON。")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Reference time (UTC, ISO); default: the latest data. 计算基准时间,默认为最新数据时间。"),
]
RuleOpt = Annotated[
    str, typer.Option("--rule", help="Rule JSON, or @file.json. 规则JSON或@文件。")
]

segment_app = typer.Typer(help="Saved segments: create, size, export, refresh, compare. 人群:创建、估算、导出、刷新、对比。",
                          no_args_is_help=True)


def _rule(text: str) -> dict[str, Any]:
    try:
        raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
        rule = json.loads(raw)
    except (OSError, json.JSONDecodeError) as exc:
        raise JingyunError("bad_rule", f"cannot read the rule: {exc}", "rule") from None
    if not isinstance(rule, dict):
        raise JingyunError("bad_rule", "a rule is a JSON object", "rule")
    return rule


@segment_app.command("create")
def create(
    name: str, rule: RuleOpt,
    zh: Annotated[str, typer.Option("--zh", help="Chinese name. 中文名。")] = "",
    en: Annotated[str, typer.Option("--en", help="English name. 英文名。")] = "",
    owner: Annotated[str, typer.Option("--owner", help="Owner. 负责人。")] = "",
    automation: Annotated[bool, typer.Option("--automation", help="Used by automation: refresh incrementally. 供自动化使用。")] = False,
    playbook: Annotated[str | None, typer.Option("--playbook", help="Playbook key. 运营策略。")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Update an existing segment. 覆盖已有人群。")] = False,
    department: Annotated[str | None, typer.Option("--department", help="Owning department (default: none, a "
                                                   "workspace segment everyone sees). 所属部门。")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate, estimate and save a segment: the same segment the API and the console see. 校验、估算并保存人群。

    Example: jingyun segment create zj_buyers --rule '{"attr": "province", "op": "eq", "value": "浙江省"}'
    Example: jingyun segment create zj_buyers --rule @zj.json --department growth
    """
    seg = SavedSegment(name, _rule(rule), zh, en, owner, automation, playbook)
    with Warehouse.open(load_settings()) as wh:
        stored, size = saved.create(wh, seg, replace_existing=replace, department=department)
    if as_json:
        print_json({"segment": stored, "estimate": size})
        return
    typer.echo(f"saved {name} v{stored.version}: {size.size} of {size.universe} users ({size.share:.1%})"
               + (f" — warning: {size.warning}" if size.warning else ""))


@segment_app.command("size")
def size(
    name: Annotated[str | None, typer.Argument(help="Saved segment (or give --rule). 已保存人群。")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Rule JSON or @file. 规则。")] = None,
    as_of: AsOfOpt = None, as_json: JsonOpt = False,
) -> None:
    """Estimate the size of a rule or saved segment. 估算人群规模。

    Example: jingyun segment size --rule '{"tag": "price_sensitive", "op": "eq", "value": true}' --json
    """
    with Warehouse.open(load_settings()) as wh:
        if rule is not None:
            body = _rule(rule)
        elif name:
            body = SegmentStore(wh.settings).get_segment(name).rule
        else:
            raise JingyunError("bad_param", "give a segment name or --rule", "rule")
        est = saved.estimate(wh, body, as_of=as_of)
    if as_json:
        print_json(est)
        return
    typer.echo(f"{est.size} of {est.universe} users ({est.share:.1%})" + (f" — warning: {est.warning}" if est.warning else ""))


@segment_app.command("list")
def list_segments(as_json: JsonOpt = False) -> None:
    """List saved segments. 列出已保存人群。

    Example: jingyun segment list --json
    """
    segs = SegmentStore(load_settings()).segments()
    if as_json:
        print_json([{**dataclasses.asdict(s), "updated_at": aware(s.updated_at) if s.updated_at else None}
                    for s in segs.values()])
        return
    print_table("Segments 人群", ["name", "中文", "department 部门", "status 状态", "owner", "automation", "playbook",
                                "version", "updated"],
                [[s.name, s.zh, s.department or "", s.status, s.owner, s.automation, s.playbook or "", s.version,
                  aware(s.updated_at) if s.updated_at else None] for s in segs.values()])


@segment_app.command("show")
def show(name: str, as_json: JsonOpt = False) -> None:
    """Show a segment: rule, playbook, last runs. 查看人群定义、策略与刷新记录。

    Example: jingyun segment show zj_buyers --json
    """
    store = SegmentStore(load_settings())
    seg = store.get_segment(name)
    pb = get_playbook(seg.playbook) if seg.playbook else None
    runs = [r for r in saved.run_status(store) if r.target == name][-5:]
    if as_json:
        print_json({"segment": seg, "playbook": pb, "runs": runs})
        return
    typer.echo(json.dumps(seg.rule, ensure_ascii=False, indent=2))
    if pb:
        typer.echo(f"playbook 策略: {pb.zh} — {pb.action_zh}")
    print_table("Runs 刷新记录", ["run", "kind", "status", "seconds", "members"],
                [[r.run_id, r.kind, r.status, r.seconds, r.rows] for r in runs])


@segment_app.command("refresh")
def refresh(
    name: str,
    incremental: Annotated[bool, typer.Option("--incremental", help="Only persons touched since the last run. 增量刷新。")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds before the run is stopped. 超时秒数。")] = 600.0,
    as_json: JsonOpt = False,
) -> None:
    """Recompute membership, logging entries and exits. 重新计算成员并记录进出事件。

    Example: jingyun segment refresh zj_buyers --incremental --json
    """
    with Warehouse.open(load_settings()) as wh:
        res = saved.refresh(wh, name, kind="incremental" if incremental else "full", timeout_s=timeout_s)
    if as_json:
        print_json(res)
        return
    typer.echo(f"{name} ({res.kind}): {res.members} members, +{res.entries} / -{res.exits}, "
               f"{res.evaluated} evaluated in {res.seconds:.2f}s")


@segment_app.command("export")
def export(
    name: str, path: Path,
    personal: Annotated[bool, typer.Option("--personal", help="Include personal data: needs a manager or admin "
                                           "sign-in (`jingyun login`). 含个人信息(需经理或管理员登录)。")] = False,
    purpose: Annotated[str, typer.Option("--purpose", help="What the export is for: marketing exports hold only people "
                                         "with marketing consent. 用途:营销导出仅含已同意营销的用户。")] = "analytics",
    as_json: JsonOpt = False,
    api_key: ApiKeyOpt = None,
    role: RemovedRoleOpt = None,
) -> None:
    """Export members to .csv or .xlsx, de-identified by default; every export is audited. 导出成员(默认脱敏,留审计)。

    Example: jingyun segment export zj_buyers members.xlsx
    Example: jingyun login && jingyun segment export zj_buyers members.xlsx --personal
    """
    settings = load_settings()
    identity = identify(settings, api_key, role_flag=role)
    if personal:
        identity.require_raw("personal")
    with Warehouse.open(settings) as wh:
        n = saved.export(wh, name, path, mask=None if personal else masker(settings), purpose=purpose)
    # rows in detail: the Auditor raises bulk_export past JINGYUN_EXPORT_ALERT_ROWS, as for the API
    cli_identity.audit(settings, identity, "export", f"segment:{name}",
                       {"command": "segment export", "rows": n, "deidentified": not personal, "purpose": purpose})
    print_json({"segment": name, "path": str(path), "rows": n, "deidentified": not personal}) if as_json \
        else typer.echo(f"{n} rows → {path}")


@segment_app.command("diff")
def diff(a: str, b: str, as_json: JsonOpt = False) -> None:
    """Compare two segments: overlap and differences. 对比两个人群。

    Example: jingyun segment diff zj_buyers price_lovers --json
    """
    with Warehouse.open(load_settings()) as wh:
        d = saved.diff(wh, a, b)
    if as_json:
        print_json(d)
        return
    print_table(f"{a} vs {b}", ["size A", "size B", "both 重合", "only A", "only B", "jaccard"],
                [[d.size_a, d.size_b, d.both, d.only_a, d.only_b, d.jaccard]])


@segment_app.command("snapshot")
def snapshot(
    scheme: Annotated[str, typer.Argument(help="lifecycle, rfm or a tag name. 分群方案。")],
    label: Annotated[str | None, typer.Option("--label", help="Snapshot label (default: this month). 快照标签。")] = None,
    as_of: AsOfOpt = None, as_json: JsonOpt = False,
) -> None:
    """Snapshot a scheme and check its group sizes. 快照分群并检查粒度。

    Example: jingyun segment snapshot lifecycle --json
    """
    with Warehouse.open(load_settings()) as wh:
        snap = snapshots.take_snapshot(wh, scheme, label=label, as_of=as_of)
    guard = snapshots.size_guard(snap.counts)
    if as_json:
        print_json({"snapshot": snap, "guard": guard})
        return
    print_table(f"{scheme} {snap.label}", ["group", "users"], sorted(snap.counts.items()))
    for w in guard.warnings:
        typer.echo(f"warning: {w}")


@segment_app.command("transitions")
def transitions(scheme: str, from_label: str, to_label: str, as_json: JsonOpt = False) -> None:
    """Transition matrix between two snapshots. 两次快照间的迁移矩阵。

    Example: jingyun segment transitions lifecycle 2026-09 2026-10 --json
    """
    with Warehouse.open(load_settings()) as wh:
        t = snapshots.compare_snapshots(wh, scheme, from_label, to_label)
    if as_json:
        print_json(t)
        return
    print_table(f"{scheme}: {from_label} → {to_label} (moved {t.moved}, stayed {t.stayed})",
                ["from \\ to", *t.groups], [[g, *(t.matrix[g][h] for h in t.groups)] for g in t.groups])


def register(app: typer.Typer) -> None:
    app.add_typer(segment_app, name="segment")
