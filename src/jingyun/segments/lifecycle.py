"""Lifecycle stages (生命周期): new, growing, mature, high-value, churn-risk, churned.

Ages are whole elapsed days at ``as_of``: account age from registration (or the
first activity when a person never registered), idle days from the last event
or valid order. The stages are checked in priority order — churned, churn-risk,
high-value, new, growing, mature — so one person has exactly one stage.

Edges (retail preset): day 30 is still ``new`` and day 31 ``growing``; exactly
60 idle days is ``churn_risk`` (idle_days >= churn_risk_days). High value is the
top 20% of customers by lifetime value: a customer is in it when fewer than
20% of customers have a strictly larger LTV, so ties at the edge are all in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Literal

from jingyun.errors import JingyunError
from jingyun.metrics import definitions
from jingyun.segments.common import NOT_TEST, VALID_ORDER
from jingyun.segments.rfm import resolve_as_of
from jingyun.warehouse import portable
from jingyun.warehouse.backends import Source, engine_of
from jingyun.warehouse.sqltext import ts_literal

STAGES: dict[str, tuple[str, str]] = {
    "new": ("新用户", "New"),
    "growing": ("成长期", "Growing"),
    "mature": ("成熟期", "Mature"),
    "high_value": ("高价值", "High value"),
    "churn_risk": ("流失风险", "Churn risk"),
    "churned": ("已流失", "Churned"),
}
Preset = Literal["retail", "saas"]


@dataclass(frozen=True)
class LifecycleParams:
    new_max_days: int = 30  # account age 0..new_max_days is new
    growing_max_days: int = 90  # then growing up to this age; older is mature
    high_value_share: float = 0.20  # top share of customers by LTV
    churn_risk_days: int = 60  # idle this many days or more: churn risk
    churned_days: int = 180  # idle this many days or more: churned
    as_of: dt.datetime | None = None

    def validate(self) -> LifecycleParams:
        if not 0 <= self.new_max_days < self.growing_max_days:
            raise JingyunError("bad_param", "need 0 <= new_max_days < growing_max_days", "new_max_days")
        if not 0 < self.high_value_share < 1:
            raise JingyunError("bad_param", "high_value_share must be in (0, 1)", "high_value_share")
        if not 0 < self.churn_risk_days < self.churned_days:
            raise JingyunError("bad_param", "need 0 < churn_risk_days < churned_days", "churn_risk_days")
        return self


# The operations playbook's presets: retail buys monthly; SaaS users who skip two weeks are at risk.
PRESETS: dict[str, LifecycleParams] = {
    "retail": LifecycleParams(),
    "saas": LifecycleParams(new_max_days=14, growing_max_days=60, high_value_share=0.2,
                            churn_risk_days=14, churned_days=45),
}


def preset(name: str, **overrides: object) -> LifecycleParams:
    if name not in PRESETS:
        raise JingyunError("bad_param", f"unknown preset {name!r}; use {', '.join(PRESETS)}", "preset")
    return replace(PRESETS[name], **overrides).validate()  # type: ignore[arg-type]


@dataclass(frozen=True)
class StageCount:
    stage: str
    zh: str
    en: str
    users: int
    share: float


@dataclass(frozen=True)
class LifecycleResult:
    as_of: dt.datetime
    params: LifecycleParams
    users: int
    stages: list[StageCount]
    query: str


def _days(col: str, as_of: dt.datetime) -> str:
    return (f"CAST(FLOOR((epoch({ts_literal(as_of)}) - epoch({col})) / 86400.0)"
            " AS BIGINT)")


def lifecycle_query(p: LifecycleParams, as_of: dt.datetime) -> str:
    """person_id, age_days, idle_days, ltv, stage — one row per (non-test) person."""
    before = f"ts < {ts_literal(definitions.window_end(as_of))}"  # as_of itself included
    return (
        # every person (definitions.people_sql), as RFM and the audience universe count them;
        # someone without a users row is aged from their first activity
        f"WITH people AS (SELECT p.person_id, min(u.registered_at) AS registered_at, count(u.person_id) AS known "
        f"FROM ({definitions.people_sql()}) p LEFT JOIN users u ON u.person_id = p.person_id "
        f"AND {definitions.real_people('u')} GROUP BY p.person_id), "
        "activity AS (SELECT person_id, min(ts) AS first_ts, max(ts) AS last_ts FROM ("
        f"SELECT person_id, ts FROM events WHERE person_id IS NOT NULL AND {NOT_TEST} AND {before} "
        f"UNION ALL SELECT person_id, ts FROM orders WHERE person_id IS NOT NULL AND {VALID_ORDER} AND {before}"
        ") a GROUP BY person_id), "
        "value AS (SELECT person_id, CAST(sum(amount) AS DOUBLE) AS ltv FROM orders "
        f"WHERE person_id IS NOT NULL AND {VALID_ORDER} AND {before} GROUP BY person_id), "
        "ranked AS (SELECT person_id, ltv, RANK() OVER (ORDER BY ltv DESC) - 1 AS better, "
        "count(*) OVER () AS customers FROM value), "
        "joined AS (SELECT p.person_id, "
        f"{_days('COALESCE(p.registered_at, a.first_ts)', as_of)} AS age_days, "
        f"{_days('COALESCE(a.last_ts, p.registered_at)', as_of)} AS idle_days, "
        "COALESCE(r.ltv, 0) AS ltv, "
        f"CASE WHEN r.better < {p.high_value_share!r} * r.customers THEN TRUE ELSE FALSE END AS top_value "
        "FROM people p LEFT JOIN activity a ON a.person_id = p.person_id "
        "LEFT JOIN ranked r ON r.person_id = p.person_id "
        "WHERE p.known > 0 OR a.first_ts IS NOT NULL) "
        "SELECT person_id, age_days, idle_days, ltv, CASE "
        f"WHEN idle_days >= {p.churned_days} THEN 'churned' "
        f"WHEN idle_days >= {p.churn_risk_days} THEN 'churn_risk' "
        "WHEN top_value THEN 'high_value' "
        f"WHEN age_days <= {p.new_max_days} THEN 'new' "
        f"WHEN age_days <= {p.growing_max_days} THEN 'growing' "
        "ELSE 'mature' END AS stage FROM joined"
    )


def compute_lifecycle(source: Source, params: LifecycleParams | None = None) -> LifecycleResult:
    engine = engine_of(source)
    p = (params or LifecycleParams()).validate()
    as_of = resolve_as_of(engine, p.as_of)
    sql = portable.check(lifecycle_query(p, as_of))
    rows = engine.rows(f"SELECT stage, count(*) FROM ({sql}) s GROUP BY stage")
    counts = {str(s): int(n) for s, n in rows}
    total = sum(counts.values())
    stages = [StageCount(k, zh, en, counts.get(k, 0), round(counts.get(k, 0) / total, 6) if total else 0.0)
              for k, (zh, en) in STAGES.items()]
    return LifecycleResult(as_of, p, total, stages, sql)
