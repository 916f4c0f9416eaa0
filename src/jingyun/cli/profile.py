"""``jingyun profile USER_ID``: the 360° profile. 用户360画像。"""

from __future__ import annotations

from typing import Annotated

import typer

from jingyun.cli.identity import ApiKeyOpt, RemovedRoleOpt, identify, masker
from jingyun.cli.output import print_json, print_table
from jingyun.cli.segment import AsOfOpt, JsonOpt
from jingyun.config import load_settings
from jingyun.security import cli_identity
from jingyun.segments.profile import build_profile
from jingyun.warehouse import Warehouse


def profile(
    user_id: Annotated[str, typer.Argument(help="User or person id. 用户ID。")],
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
    api_key: ApiKeyOpt = None,
    role: RemovedRoleOpt = None,
) -> None:
    """Everything known about one user: personal data in clear for a signed-in manager or admin,
    de-identified for everyone else; every read is audited. 单个用户的全景画像(按登录身份脱敏,留审计)。

    Example: jingyun profile u0000002 --json
    """
    settings = load_settings()
    identity = identify(settings, api_key, role_flag=role)
    if identity.principal is not None:
        identity.principal.require("profile:read")
    with Warehouse.open(settings) as wh:
        p = build_profile(wh, user_id, as_of=as_of)
    if not identity.sees_raw:
        p = p.deidentified(masker(settings))
    cli_identity.audit(settings, identity, "read_personal", f"person:{p.person_id}",
                       {"command": "profile", "deidentified": not identity.sees_raw})
    if as_json:
        print_json(p)
        return
    print_table(f"Profile 画像 {p.person_id} ({'masked 已脱敏' if p.masked else 'personal 明文'})", ["field", "value"],
                [[k, v] for k, v in p.attributes.items()]
                + [["lifecycle 生命周期", p.lifecycle.get("stage")], ["rfm", p.rfm and p.rfm["group"]],
                   ["segments 人群", ", ".join(p.segments)], ["scores 模型分", p.scores or ""]])
    print_table("Tags 标签", ["tag", "value"], sorted(p.tags.items()))
    print_table("Recent orders 最近订单", ["order", "ts", "amount", "status"],
                [[o["order_id"], o["ts"], o["amount"], o["status"]] for o in p.orders])
    print_table("Playbooks 推荐策略", ["for", "action 动作"], [[x["for"], x["action_zh"]] for x in p.playbooks])


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
