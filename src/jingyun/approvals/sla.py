"""SLA statistics of approval steps (审批时效): average time to decision and timeout rate, per request type and
per approver, over the steps activated in a period. The alert rules read :func:`sla_stats` and
:func:`timeout_rate_by_day` ("approval timeout rate > 10 % for 3 consecutive days").

A step counts once its outcome is known: decided, or timed out (a pending step inside its 24 h is left out,
it may still be answered in time). ``timeout_rate`` = timed-out steps / counted steps. ``avg_hours`` is the mean
of decided_at - activated_at over decided steps. A step is attributed to the approver the workflow named
(``approver``), whoever answered it in the end: the timeout is theirs.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select

from jingyun.localtime import aware
from jingyun.store import Store
from jingyun.store.approvals import ApprovalRequestRow, ApprovalStepRow


@dataclass(frozen=True)
class SlaRow:
    key: str  # the type or the approver
    steps: int
    decided: int
    timed_out: int
    avg_hours: float | None

    @property
    def timeout_rate(self) -> float | None:
        return self.timed_out / self.steps if self.steps else None

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "steps": self.steps, "decided": self.decided, "timed_out": self.timed_out,
                "avg_hours": self.avg_hours, "timeout_rate": self.timeout_rate}


@dataclass(frozen=True)
class SlaStats:
    overall: SlaRow
    by_type: list[SlaRow]
    by_approver: list[SlaRow]

    def to_dict(self) -> dict[str, object]:
        return {"overall": self.overall.to_dict(), "by_type": [r.to_dict() for r in self.by_type],
                "by_approver": [r.to_dict() for r in self.by_approver]}


def _steps(store: Store, since: dt.datetime | None, until: dt.datetime | None,
           type: str | None) -> list[tuple[str, ApprovalStepRow]]:
    with store.session() as ses:
        stmt = select(ApprovalRequestRow.type, ApprovalStepRow).join(
            ApprovalRequestRow, ApprovalRequestRow.id == ApprovalStepRow.request_id).where(
            ApprovalStepRow.activated_at.is_not(None),
            (ApprovalStepRow.decided_at.is_not(None)) | ApprovalStepRow.timed_out.is_(True))
        if since is not None:
            stmt = stmt.where(ApprovalStepRow.activated_at >= since)
        if until is not None:
            stmt = stmt.where(ApprovalStepRow.activated_at < until)
        if type is not None:
            stmt = stmt.where(ApprovalRequestRow.type == type)
        return [(t, s) for t, s in ses.execute(stmt).all()]


def _row(key: str, steps: list[ApprovalStepRow]) -> SlaRow:
    decided = [s for s in steps if s.decided_at is not None and s.activated_at is not None]
    hours = [(s.decided_at - s.activated_at).total_seconds() / 3600 for s in decided  # type: ignore[operator]
             ]
    return SlaRow(key, len(steps), len(decided), sum(1 for s in steps if s.timed_out),
                  sum(hours) / len(hours) if hours else None)


def sla_stats(store: Store, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
              type: str | None = None) -> SlaStats:
    """Statistics over the steps activated in ``[since, until)`` (naive UTC)."""
    rows = _steps(store, since, until, type)
    by_type: dict[str, list[ApprovalStepRow]] = defaultdict(list)
    by_approver: dict[str, list[ApprovalStepRow]] = defaultdict(list)
    for t, s in rows:
        by_type[t].append(s)
        by_approver[s.approver].append(s)
    return SlaStats(_row("all", [s for _, s in rows]), [_row(k, v) for k, v in sorted(by_type.items())],
                    [_row(k, v) for k, v in sorted(by_approver.items())])


def timeout_rate_by_day(store: Store, *, start: dt.date, end: dt.date, tz: str,
                        type: str | None = None) -> list[tuple[dt.date, SlaRow]]:
    """One row per local day from ``start`` to ``end`` inclusive, over the steps activated that day."""
    zone = ZoneInfo(tz)

    def utc(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)

    rows = _steps(store, utc(start), utc(end + dt.timedelta(days=1)), type)
    per_day: dict[dt.date, list[ApprovalStepRow]] = defaultdict(list)
    for _t, s in rows:
        assert s.activated_at is not None
        per_day[aware(s.activated_at, tz).date()].append(s)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    return [(d, _row(d.isoformat(), per_day.get(d, []))) for d in days]
