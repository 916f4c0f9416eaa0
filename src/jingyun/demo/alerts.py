"""The demo business's alert rules (演示业务的预警规则), written to ``$JINGYUN_HOME/alert_rules.yaml``.

The planted GMV drop of the last full month (demo/truth.py ``diagnosis``: the short_video driver plus a
broad lull, 15 % in all, demo/dip.py) is what ``gmv-mom`` catches: judged on the month's last day against
the month before, yellow (between the 10 % yellow and 20 % red lines), diagnosed by channel with
short_video first. The truth records the colour and the day (``diagnosis.alert``).
"""

from __future__ import annotations

from pathlib import Path

from jingyun.config import Settings
from jingyun.ops.alerts.rules import RULES_FILE

DEMO_RULES = """# Alert rules of the demo business (演示业务预警规则). Edit freely; see docs/alerts.md.
rules:
  - id: gmv-mom
    name: 成交额环比 GMV month over month
    kind: change
    metric: gmv
    period: month
    compare: previous
    blue: 3%          # a notice to the owner; the planted October drop (15 %) is yellow
    yellow: 10%
    red: 20%
    by: channel
    department: 交易运营 Trade ops
  - id: gmv-dod
    kind: change
    metric: gmv
    period: day
    compare: previous
    yellow: 30%
    red: 50%
    department: 交易运营 Trade ops
  - id: refund-rate-wow
    kind: change
    metric: refund_rate
    period: week
    yellow: 10%
    red: 20%
    department: 客服部 Service
  - id: cac-stop-loss
    kind: stop_loss
    metric: cac
    period: month
    op: ">"
    value: 25
    plan: 启动紧急预案 Emergency plan
    department: 市场部 Marketing
  - id: conversion-stop-loss
    kind: stop_loss
    metric: conversion_rate
    period: day
    op: "<"
    value: 12%
    level: yellow
    plan: 优化触达策略 Optimise the touch strategy
    department: 交易运营 Trade ops
  - id: new-users-stop-loss
    kind: stop_loss
    target: daily_new_users
    period: month
    op: "<"
    value: 80%
    level: yellow
    plan: 追加预算 Add budget
    department: 增长部 Growth
  - id: gmv-below-target-3m
    kind: consecutive
    target: gmv
    period: month
    periods: 3
    level: yellow
    department: 交易运营 Trade ops
  - id: approval-timeouts
    kind: consecutive
    source: approvals.timeout_rate
    op: ">"
    value: 10%
    periods: 3
    level: yellow
    department: 审批 Approvals
  - id: gmv-anomaly
    kind: anomaly
    metric: gmv
    level: blue
    department: 交易运营 Trade ops
"""


def install_alert_rules(settings: Settings) -> Path | None:
    """Write the demo's rules unless the workspace already has its own."""
    path = settings.home / RULES_FILE
    if path.exists():
        return None
    path.write_text(DEMO_RULES, encoding="utf-8")
    return path
