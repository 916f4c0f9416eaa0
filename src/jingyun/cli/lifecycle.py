"""``jingyun lifecycle``: lifecycle stages. 生命周期阶段。"""

from __future__ import annotations

from typing import Annotated

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.cli.segment import AsOfOpt, JsonOpt
from jingyun.config import load_settings
from jingyun.segments.common import as_naive_utc
from jingyun.segments.lifecycle import compute_lifecycle, preset
from jingyun.segments.playbooks import playbook_for
from jingyun.warehouse.backends import open_backend


def lifecycle(
    preset_name: Annotated[str, typer.Option("--preset", help="retail or saas. 零售或SaaS预设。")] = "retail",
    churn_risk_days: Annotated[int | None, typer.Option("--churn-risk-days", help="Idle days for churn risk. 流失风险沉默天数。")] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Users per lifecycle stage. 各生命周期阶段人数。

    Example: jingyun lifecycle --preset saas --json
    """
    overrides: dict[str, object] = {"as_of": as_naive_utc(as_of) if as_of else None}
    if churn_risk_days is not None:
        overrides["churn_risk_days"] = churn_risk_days
    params = preset(preset_name, **overrides)
    with open_backend(load_settings()) as engine:  # the workspace's engine (JINGYUN_ENGINE)
        res = compute_lifecycle(engine, params)
    if as_json:
        print_json(res)
        return
    print_table(f"Lifecycle 生命周期 ({preset_name}, as of {res.as_of:%Y-%m-%d %H:%M}, {res.users} users)",
                ["stage", "阶段", "users 人数", "share 占比", "playbook 策略"],
                [[s.stage, s.zh, s.users, f"{s.share:.1%}",
                  (pb.zh if (pb := playbook_for("lifecycle", s.stage)) else "")] for s in res.stages])


def register(app: typer.Typer) -> None:
    app.command("lifecycle")(lifecycle)
