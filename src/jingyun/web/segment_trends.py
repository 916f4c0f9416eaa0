"""Saved segments' size over time (人群规模趋势), from what refreshes logged.

``jingyun.segments.saved`` appends every membership change of a refresh to
``segment_changes`` (one ``entry`` or ``exit`` row per person, stamped with the
run's time and id) and has no size history of its own. The size after run *k*
is therefore the running sum of entries minus exits over runs 1..k; a run that
changed nobody logs no rows, so it adds no point (the size did not move).

Read-only, portable SQL (GROUP BY + a window sum) on that table only; the
console never recomputes membership itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jingyun.warehouse import Warehouse


@dataclass(frozen=True)
class TrendPoint:
    at: dt.datetime  # the refresh's time (naive UTC, as logged)
    run_id: str
    entries: int
    exits: int
    size: int  # members after this refresh


@dataclass(frozen=True)
class SegmentTrend:
    segment: str
    points: list[TrendPoint]

    @property
    def sizes(self) -> list[int]:
        return [p.size for p in self.points]


def _has_changes_table(wh: Warehouse) -> bool:
    # The table appears with a segment's first refresh; before that there is no history.
    return bool(wh.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'segment_changes'"))


def segment_trends(wh: Warehouse, names: list[str] | None = None) -> dict[str, SegmentTrend]:
    """Size after each logged refresh, per saved segment (all segments with history, or ``names``)."""
    if not _has_changes_table(wh):
        return {n: SegmentTrend(n, []) for n in names or []}
    where, params = "", []
    if names is not None:
        if not names:
            return {}
        where = f"WHERE segment IN ({', '.join('?' for _ in names)})"
        params = list(names)
    rows = wh.rows(
        "SELECT segment, run_id, run_at, entries, exits, "
        "sum(entries - exits) OVER (PARTITION BY segment ORDER BY run_at, run_id ROWS UNBOUNDED PRECEDING) AS size "
        "FROM (SELECT segment, coalesce(run_id, '') AS run_id, min(changed_at) AS run_at, "
        "sum(CASE WHEN change = 'entry' THEN 1 ELSE 0 END) AS entries, "
        "sum(CASE WHEN change = 'exit' THEN 1 ELSE 0 END) AS exits "
        f"FROM segment_changes {where} GROUP BY segment, coalesce(run_id, '')) r ORDER BY segment, run_at, run_id",
        params)
    out: dict[str, SegmentTrend] = {n: SegmentTrend(n, []) for n in names or []}
    for seg, run_id, at, entries, exits, size in rows:
        out.setdefault(str(seg), SegmentTrend(str(seg), [])).points.append(
            TrendPoint(at, str(run_id), int(entries), int(exits), int(size)))
    return out


def sparkline_points(values: list[int], width: int = 96, height: int = 24, pad: int = 2) -> str:
    """SVG polyline points for a row's sparkline (drawn inline: no chart per table row)."""
    if not values:
        return ""
    if len(values) == 1:
        values = [values[0], values[0]]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1
    step = (width - 2 * pad) / (len(values) - 1)
    return " ".join(f"{pad + i * step:.1f},{height - pad - (v - lo) / span * (height - 2 * pad):.1f}"
                    for i, v in enumerate(values))
