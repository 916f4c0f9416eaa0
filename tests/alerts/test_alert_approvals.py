""""Approval timeout rate > 10 % for 3 consecutive days → yellow", read from the approvals SLA statistics
(``jingyun.approvals.timeout_rate_by_day`` / ``sla_stats``) over approval steps built with known outcomes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from conftest import write_rules
from jingyun.approvals import sla_stats
from jingyun.config import Settings
from jingyun.ops.alerts.service import run
from jingyun.store.approvals import ApprovalRequestRow, ApprovalStepRow
from jingyun.store.db import Store
from jingyun.warehouse.backends import Backend

SHANGHAI = ZoneInfo("Asia/Shanghai")
D1 = dt.date(2026, 10, 12)
RULE = {"id": "approval-timeouts", "kind": "consecutive", "source": "approvals.timeout_rate", "op": ">",
        "value": "10%", "periods": 3, "department": "Trade"}


def _utc(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def steps(store: Store, day: dt.date, *, counted: int, timed_out: int, hour: int = 10, pending: int = 0) -> None:
    """``counted`` steps activated on local ``day`` (``timed_out`` of them timed out, the rest decided in 2 h),
    plus ``pending`` still inside their 24 h (not counted: they may yet be answered in time)."""
    with store.session() as ses:
        req = ApprovalRequestRow(type="marketing", amount_cents=100_000_00, title=f"req {day}", requester="alice",
                                 created_at=_utc(day, hour))
        ses.add(req)
        ses.flush()
        for i in range(counted + pending):
            start = _utc(day, hour, i % 60)
            late, waiting = i < timed_out, i >= counted
            ses.add(ApprovalStepRow(
                request_id=req.id, stage=i, position="marketing.director", approver="bob", assignee="bob",
                status="pending" if waiting else "approved", activated_at=start, assigned_at=start,
                decided_at=None if waiting or late else start + dt.timedelta(hours=2),
                decided_by=None if waiting or late else "bob", timed_out=late))


def _judge(settings: Settings, backend: Backend, store: Store, day: dt.date) -> list[tuple[str, str]]:
    got = run(settings, backend, store, day, send=False)
    assert got.evaluation.skipped == {}
    return [(f.rule.id, f.level) for f in got.evaluation.findings]


def test_three_days_above_ten_percent_is_yellow_exactly_at_the_boundary(asettings: Settings, backend: Backend,
                                                                       store: Store) -> None:
    write_rules(asettings, [RULE])
    d2, d3, d4, d5 = (D1 + dt.timedelta(days=n) for n in range(1, 5))
    steps(store, D1, counted=10, timed_out=2)  # 20 %
    steps(store, d2, counted=9, timed_out=1, pending=3)  # 1/9 = 11.1 % (pending steps are not counted)
    steps(store, d3, counted=10, timed_out=1)  # exactly 10 %: not above
    steps(store, d4, counted=19, timed_out=2)  # 10.5 %
    steps(store, d5, counted=8, timed_out=1, hour=0)  # 12.5 %, 00:00-00:07 local: still d4 in UTC
    # the same day read independently through sla_stats: the rule sees what approvals report
    rate = sla_stats(store, since=_utc(d2, 0), until=_utc(d3, 0)).overall.timeout_rate
    assert rate == 1 / 9
    assert _judge(asettings, backend, store, d2) == []  # two days in a row, the day before D1 unknown
    assert _judge(asettings, backend, store, d3) == []  # 20 %, 11.1 %, 10 %: the third is not > 10 %
    assert _judge(asettings, backend, store, d5) == []  # 10 %, 10.5 %, 12.5 %: broken by d3
    with store.session() as ses:  # one more timed-out step on d3: 2/11 = 18.2 %
        req = ses.query(ApprovalRequestRow).filter_by(title=f"req {d3}").one()
        ses.add(ApprovalStepRow(request_id=req.id, stage=99, position="marketing.director", approver="bob",
                                assignee="bob", status="pending", activated_at=_utc(d3, 11),
                                assigned_at=_utc(d3, 11), timed_out=True))
    assert _judge(asettings, backend, store, d3) == [("approval-timeouts", "yellow")]
    got = run(asettings, backend, store, d5, send=False)
    f = got.evaluation.findings[0]
    assert [e["value"] for e in f.evidence] == [2 / 11, 2 / 19, 1 / 8]  # oldest first; d5's small hours count on d5
    assert (f.level, f.reference) == ("yellow", 0.1)


def test_a_day_without_counted_steps_is_unknown_not_zero(asettings: Settings, backend: Backend,
                                                        store: Store) -> None:
    write_rules(asettings, [RULE])
    steps(store, D1, counted=4, timed_out=4)
    steps(store, D1 + dt.timedelta(days=1), counted=0, timed_out=0, pending=5)  # only pending: nothing known
    steps(store, D1 + dt.timedelta(days=2), counted=4, timed_out=4)
    assert _judge(asettings, backend, store, D1 + dt.timedelta(days=2)) == []


def test_a_weekly_rule_reads_the_week_through_sla_stats(asettings: Settings, backend: Backend, store: Store) -> None:
    write_rules(asettings, [{**RULE, "period": "week", "periods": 2}])
    sunday = dt.date(2026, 10, 18)
    for n in range(14):  # two ISO weeks, one timed-out step in five each day: 20 %
        steps(store, sunday - dt.timedelta(days=n), counted=5, timed_out=1)
    assert _judge(asettings, backend, store, sunday) == [("approval-timeouts", "yellow")]
    assert _judge(asettings, backend, store, sunday - dt.timedelta(days=1)) == []  # a Saturday closes no week
