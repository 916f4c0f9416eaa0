"""Tracking-plan compliance per source: the data-standards report (埋点质量报告)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jingyun.warehouse.connection import Warehouse


@dataclass
class SourceCompliance:
    source: str
    events: int = 0
    violations: int = 0
    unknown_events: int = 0
    quarantined: int = 0
    issues: dict[str, int] = field(default_factory=dict)

    @property
    def compliance(self) -> float:
        total = self.events + self.quarantined
        return 1.0 if total == 0 else (self.events - self.violations) / total

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "events": self.events, "violations": self.violations,
                "unknown_events": self.unknown_events, "quarantined": self.quarantined,
                "compliance": round(self.compliance, 4), "issues": self.issues}


def tracking_report(wh: Warehouse) -> list[SourceCompliance]:
    by_source: dict[str, SourceCompliance] = {}
    for source, total, bad, unknown in wh.rows(
        """SELECT _source, count(*), count(tracking_issue), count(*) FILTER (WHERE tracking_issue = 'unknown_event')
           FROM events GROUP BY 1 ORDER BY 1"""
    ):
        by_source[source] = SourceCompliance(str(source), int(total), int(bad), int(unknown))
    for source, event, issue, n in wh.rows(
        """SELECT _source, event, tracking_issue, count(*) FROM events WHERE tracking_issue IS NOT NULL
           GROUP BY ALL ORDER BY 4 DESC"""
    ):
        by_source[source].issues[f"{event}: {issue}"] = int(n)
    for source, reason, n in wh.rows(
        """SELECT source, reason || coalesce(':' || field, ''), count(*) FROM _quarantine
           WHERE tbl = 'events' AND reason LIKE 'tracking_%' AND status = 'open' GROUP BY ALL"""
    ):
        entry = by_source.setdefault(str(source), SourceCompliance(str(source)))
        entry.quarantined += int(n)
        entry.issues[str(reason)] = entry.issues.get(str(reason), 0) + int(n)
    return list(by_source.values())
