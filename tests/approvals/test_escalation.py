"""Escalation to the superior after exactly 24 h, on calendar hours and business hours, under a moved clock;
and SLA statistics on built requests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from jingyun import approvals
from jingyun.approvals.hours import deadline
from jingyun.approvals.workflows import DEFAULTS, workflows_path
from jingyun.config import Settings
from jingyun.store import Store

SH = dt.timedelta(hours=8)


def utc(local: str) -> dt.datetime:
    return dt.datetime.fromisoformat(local) - SH  # Shanghai wall time → naive UTC


def submit(store: Store, settings: Settings, at: dt.datetime, amount: str = "1000",
           type: str = "marketing") -> approvals.ApprovalRequest:
    return approvals.submit(store, settings, type=type, amount=Decimal(amount), title="t", payload={},
                            requester="alice", now=at)


def test_calendar_escalation_after_exactly_24_hours(store: Store, settings: Settings) -> None:
    t0 = utc("2026-03-06 17:30:00")  # a Friday: calendar hours run through the weekend
    req = submit(store, settings, t0)
    assert approvals.escalate_due(store, settings, now=t0 + dt.timedelta(hours=24) - dt.timedelta(seconds=1)) == []
    moved = approvals.escalate_due(store, settings, now=t0 + dt.timedelta(hours=24))
    assert [(m.from_, m.to) for m in moved] == [("mdir", "gm")]
    step = approvals.get(store, req.id).steps[0]
    assert (step.assignee, step.timed_out, step.escalations) == ("gm", True, 1)
    # idempotent: the moved step has a fresh clock
    assert approvals.escalate_due(store, settings, now=t0 + dt.timedelta(hours=24)) == []
    # the superior may now decide; the original approver may not
    req = approvals.decide(store, settings, req.id, actor="gm", decision="approve", now=t0 + dt.timedelta(hours=25))
    assert req.status == "approved"
    # gm has no superior: a step of theirs is reminded, not moved
    t1 = t0 + dt.timedelta(days=10)
    big = submit(store, settings, t1, "600000")
    approvals.decide(store, settings, big.id, actor="mdir", decision="approve", now=t1)
    approvals.decide(store, settings, big.id, actor="fdir", decision="approve", now=t1)
    moved = approvals.escalate_due(store, settings, now=t1 + dt.timedelta(hours=24))
    assert [(m.from_, m.to) for m in moved] == [("gm", None)]


def test_business_hours_escalation(store: Store, settings: Settings) -> None:
    workflows_path(settings).write_text(DEFAULTS.read_text(encoding="utf-8").replace("clock: calendar",
                                                                                       "clock: business"),
                                        encoding="utf-8")
    t0 = utc("2026-03-06 17:30:00")  # Friday 17:30: 0.5 h Friday, 9 h Mon, Tue, 5.5 h Wed → Wed 14:30
    due = utc("2026-03-11 14:30:00")
    req = submit(store, settings, t0)
    assert approvals.escalate_due(store, settings, now=due - dt.timedelta(seconds=1)) == []
    assert approvals.escalate_due(store, settings, now=t0 + dt.timedelta(hours=24)) == []  # calendar would have
    moved = approvals.escalate_due(store, settings, now=due)
    assert [(m.request_id, m.to) for m in moved] == [(req.id, "gm")]


def test_business_deadline_with_a_holiday_calendar() -> None:
    holiday = dt.date(2026, 3, 9)  # make Monday a holiday
    start = utc("2026-03-06 17:30:00")
    got = deadline(start, 24, clock="business", tz="Asia/Shanghai",
                   is_workday=lambda d: d.weekday() < 5 and d != holiday)
    assert got == utc("2026-03-12 14:30:00")
    # before opening hours the clock starts at 09:00; exactly 9 h fills one day
    assert deadline(utc("2026-03-02 07:00:00"), 9, clock="business", tz="Asia/Shanghai") == utc("2026-03-02 18:00:00")
    assert deadline(utc("2026-03-02 07:00:00"), 24, clock="calendar", tz="Asia/Shanghai") == utc("2026-03-03 07:00:00")


def test_sla_statistics_exact(store: Store, settings: Settings) -> None:
    t0 = utc("2026-03-02 10:00:00")
    h = dt.timedelta(hours=1)
    a = submit(store, settings, t0)                       # mdir answers after 2 h
    approvals.decide(store, settings, a.id, actor="mdir", decision="approve", now=t0 + 2 * h)
    b = submit(store, settings, t0)                       # mdir answers after 6 h (reject)
    approvals.decide(store, settings, b.id, actor="mdir", decision="reject", now=t0 + 6 * h)
    c = submit(store, settings, t0)                       # mdir times out, gm answers at 30 h
    approvals.escalate_due(store, settings, now=t0 + 24 * h)
    approvals.decide(store, settings, c.id, actor="gm", decision="approve", now=t0 + 30 * h)
    d = submit(store, settings, t0, type="budget")        # fdir answers after 1 h
    approvals.decide(store, settings, d.id, actor="fdir", decision="approve", now=t0 + h)
    submit(store, settings, t0 + 40 * h)                  # pending, not yet late: not counted
    stats = approvals.sla_stats(store)
    assert stats.overall.to_dict() == {"key": "all", "steps": 4, "decided": 4, "timed_out": 1,
                                       "avg_hours": pytest.approx((2 + 6 + 30 + 1) / 4), "timeout_rate": 0.25}
    by_type = {r.key: r for r in stats.by_type}
    assert (by_type["marketing"].steps, by_type["marketing"].timed_out) == (3, 1)
    assert by_type["marketing"].avg_hours == pytest.approx(38 / 3)
    assert by_type["budget"].timeout_rate == 0.0 and by_type["budget"].avg_hours == pytest.approx(1.0)
    by_approver = {r.key: r for r in stats.by_approver}
    assert set(by_approver) == {"mdir", "fdir"}
    assert by_approver["mdir"].timeout_rate == pytest.approx(1 / 3)
    days = approvals.timeout_rate_by_day(store, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 3),
                                         tz="Asia/Shanghai")
    assert [(d.isoformat(), r.steps, r.timed_out) for d, r in days] == [
        ("2026-03-01", 0, 0), ("2026-03-02", 4, 1), ("2026-03-03", 0, 0)]
    assert days[0][1].timeout_rate is None
