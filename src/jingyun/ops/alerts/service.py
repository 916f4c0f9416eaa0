"""One evaluation run: read the workspace's rules, judge them for a day, open and route the alerts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from jingyun import localtime
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.metrics.dictionary import dictionary_for
from jingyun.metrics.kpi import TargetSet, load_targets, targets_path
from jingyun.metrics.model import Dictionary
from jingyun.ops.alerts import inbox
from jingyun.ops.alerts.evaluate import Evaluation, SourceReader, Window, evaluate
from jingyun.ops.alerts.rules import RuleSet, load_rules
from jingyun.store.db import Store
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import utc_start


@dataclass
class Run:
    evaluation: Evaluation
    outcomes: list[inbox.Outcome]
    dictionary: Dictionary

    def to_dict(self) -> dict[str, Any]:
        ev = self.evaluation
        return {
            "as_of": ev.as_of.isoformat(),
            "findings": [f.to_dict() for f in ev.findings],
            "alerts": [o.__dict__ for o in self.outcomes],
            "quiet": ev.quiet, "not_due": ev.not_due, "skipped": ev.skipped,
        }


def default_day(settings: Settings, now: dt.datetime | None = None) -> dt.date:
    """Yesterday in the workspace time zone: the last complete day."""
    now = now or dt.datetime.now(dt.UTC)
    local = localtime.aware(now, settings.timezone)
    assert local is not None
    return (local - dt.timedelta(days=1)).date()


def workspace(settings: Settings, backend: Backend) -> tuple[Dictionary, TargetSet | None, RuleSet]:
    d = dictionary_for(backend)
    try:
        targets: TargetSet | None = load_targets(d, targets_path(settings))
    except JingyunError:
        targets = None  # a broken targets file stops target rules only (they are skipped with a note)
    return d, targets, load_rules(settings, d, targets)


def approval_timeouts(store: Store, timezone: str) -> SourceReader:
    """The approvals SLA statistics (``jingyun.approvals``) as a source reader: each window's timeout rate.

    A day window reads :func:`~jingyun.approvals.timeout_rate_by_day` (local days, one query for all of them);
    a week or month window reads :func:`~jingyun.approvals.sla_stats` over its local span. A window without a
    counted step is unknown (None), not 0 %, so a quiet weekend breaks no run and makes none."""
    from jingyun import approvals

    def utc(day: dt.date) -> dt.datetime:
        return utc_start(day, timezone)

    def read(source: str, windows: list[Window]) -> dict[Window, float | None] | None:
        out: dict[Window, float | None] = {}
        days = [w for w in windows if w[0] == w[1]]
        if days:
            by_day = dict(approvals.timeout_rate_by_day(store, start=min(w[0] for w in days),
                                                        end=max(w[1] for w in days), tz=timezone))
            out.update({w: by_day[w[0]].timeout_rate for w in days})
        for w in windows:
            if w[0] != w[1]:
                out[w] = approvals.sla_stats(store, since=utc(w[0]), until=utc(w[1] + dt.timedelta(days=1))
                                             ).overall.timeout_rate
        return out

    return read


def run(settings: Settings, backend: Backend, store: Store, as_of: dt.date, *, now: dt.datetime | None = None,
        send: bool = True, only: set[str] | None = None) -> Run:
    d, targets, rules = workspace(settings, backend)
    if only is not None:
        for rid in only:
            rules.get(rid)
    ev = evaluate(backend, d, rules, as_of, targets=targets, timezone=settings.timezone,
                  sources=approval_timeouts(store, settings.timezone), only=only)
    return Run(ev, inbox.apply(store, settings, d, rules, ev, now=now, send=send), d)
