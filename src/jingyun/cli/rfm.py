"""``jingyun rfm``: RFM scores and the 8 groups. RFM客户分群。"""

from __future__ import annotations

from typing import Annotated

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.cli.segment import AsOfOpt, JsonOpt
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.segments.playbooks import playbook_for
from jingyun.segments.rfm import RfmParams, compute_rfm
from jingyun.warehouse.backends import open_backend


def rfm(
    scoring: Annotated[str, typer.Option("--scoring", help="quantile or threshold. 分位数或固定阈值。")] = "quantile",
    bins: Annotated[int, typer.Option("--bins", help="Score levels for quantile scoring. 分档数。")] = 5,
    window_days: Annotated[int | None, typer.Option("--window-days", help="Only orders in the last N days. 仅统计近N天订单。")] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """RFM groups with sizes and value shares. RFM分群:人数与贡献占比。

    Example: jingyun rfm --scoring threshold --json
    """
    if scoring not in ("quantile", "threshold"):
        raise JingyunError("bad_param", "scoring must be quantile or threshold", "scoring")
    params = RfmParams(scoring=scoring, bins=bins, window_days=window_days, as_of=as_of)  # type: ignore[arg-type]
    with open_backend(load_settings()) as engine:  # the workspace's engine (JINGYUN_ENGINE)
        res = compute_rfm(engine, params)
    if as_json:
        print_json(res)
        return
    print_table(f"RFM ({res.scoring}, as of {res.as_of:%Y-%m-%d %H:%M}, {res.customers} customers 客户)",
                ["group", "分群", "users 人数", "share 占比", "value 金额", "value share 金额占比", "playbook 策略"],
                [[g.key, g.zh, g.size, f"{g.share:.1%}", f"{g.monetary:,.2f}", f"{g.value_share:.1%}",
                  (pb.zh if (pb := playbook_for("rfm", g.key)) else "")] for g in res.groups])


def register(app: typer.Typer) -> None:
    app.command("rfm")(rfm)
