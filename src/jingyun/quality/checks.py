"""Reconciliation checks (对账检查): rules that run on the warehouse and list offending rows.

Each check is one SQL query whose rows are the offenders; the result carries the
count and the first ``limit`` rows. Test accounts are included on purpose —
reconciliation is about the data, not the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED
from jingyun.warehouse.connection import Warehouse


@dataclass(frozen=True)
class Check:
    name: str
    zh: str
    en: str
    sql: str  # may use {stale_hours}


@dataclass
class CheckResult:
    name: str
    zh: str
    en: str
    count: int
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.count == 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "zh": self.zh, "en": self.en, "ok": self.ok, "count": self.count,
                "columns": self.columns, "rows": self.rows}


CHECKS: dict[str, Check] = {c.name: c for c in (
    Check(
        "order_payment_mismatch", "订单金额与支付不符", "Paid orders (incl. later refunded/returned) whose amount differs from their payments",
        """SELECT o.order_id, o.status, o.amount, coalesce(p.paid, 0) AS paid, o.amount - coalesce(p.paid, 0) AS difference
           FROM orders o LEFT JOIN (SELECT order_id, sum(paid_amount) AS paid FROM payments GROUP BY order_id) p
             ON p.order_id = o.order_id
           WHERE """ + SHIPPED.paid_orders.where("o") + """ AND o.amount <> coalesce(p.paid, 0)
           ORDER BY abs(o.amount - coalesce(p.paid, 0)) DESC, o.order_id""",
    ),
    Check(
        "payment_without_order", "无对应订单的支付", "Payments with no order",
        """SELECT p.payment_id, p.order_id, p.ts, p.paid_amount FROM payments p
           WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = p.order_id) ORDER BY p.ts, p.payment_id""",
    ),
    Check(
        "events_unknown_user", "事件用户不存在", "Events from users that do not exist",
        """SELECT e.user_id, count(*) AS events, min(e.ts) AS first_ts, max(e.ts) AS last_ts FROM events e
           WHERE e.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = e.user_id)
           GROUP BY e.user_id ORDER BY events DESC, e.user_id""",
    ),
    Check(
        "duplicate_users_by_phone", "手机号重复的用户", "Users sharing a phone number",
        # by the keyed pseudonym: the clear phone is encrypted at rest (warehouse.personal), and the
        # pseudonym is what a de-identified export shows, so the finding can be joined to one
        """SELECT _phone_ps AS phone_pseudonym, count(*) AS users, string_agg(user_id, ',' ORDER BY user_id) AS user_ids
           FROM users WHERE _phone_ps IS NOT NULL GROUP BY _phone_ps HAVING count(*) > 1 ORDER BY users DESC, _phone_ps""",
    ),
    Check(
        "stale_sources", "数据源断流", "Sources with no new data for too long",
        """SELECT tbl AS "table", source, last_ingested, round(date_diff('minute', last_ingested, now() AT TIME ZONE 'UTC') / 60.0, 1) AS hours_since
           FROM (SELECT tbl, source, max(finished_at) AS last_ingested FROM _ingest_log
                 WHERE source NOT LIKE 'replay:%' GROUP BY tbl, source)
           WHERE last_ingested < (now() AT TIME ZONE 'UTC') - INTERVAL {stale_hours} HOUR ORDER BY last_ingested""",
    ),
)}


def run_checks(
    wh: Warehouse, names: list[str] | None = None, *, limit: int = 100, stale_hours: int = 24
) -> list[CheckResult]:
    if stale_hours < 0:
        raise JingyunError("bad_argument", "stale hours must be >= 0", "stale_hours")
    if limit < 0:
        raise JingyunError("bad_argument", "limit must be >= 0", "limit")
    chosen = names or list(CHECKS)
    results = []
    for name in chosen:
        if name not in CHECKS:
            raise JingyunError("unknown_check", f"unknown check {name!r}; known: {', '.join(CHECKS)}", "check")
        check = CHECKS[name]
        sql = check.sql.format(stale_hours=int(stale_hours))
        count = int(wh.scalar(f"SELECT count(*) FROM ({sql})"))
        cursor = wh.con.execute(f"{sql} LIMIT {int(limit)}")
        columns = [d[0] for d in cursor.description]
        rows = [list(r) for r in cursor.fetchall()]
        results.append(CheckResult(check.name, check.zh, check.en, count, columns, rows))
    return results
