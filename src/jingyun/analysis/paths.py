"""Paths (路径分析): what people do next after an event, or did before it.

Paths live inside sessions: the event's ``session_id`` when it has one,
otherwise a new session starts after ``gap`` minutes (default 30) without an
event. In each session the walk starts at the first occurrence of the anchor
event and follows up to ``depth`` events forward (``next``) or backward
(``previous``). Counts are sessions. The result is Sankey-ready: nodes
``"<step>:<event>"`` and links between consecutive steps; per step, events
beyond the ``top`` most frequent are grouped as ``(other)``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from jingyun.analysis.common import Step, as_step, check_range, check_timezone, parse_date, rows
from jingyun.config import DEFAULT_TIMEZONE
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import real_people
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import ts_literal, utc_start, with_ctes

Direction = Literal["next", "previous"]
OTHER = "(other)"


@dataclass(frozen=True)
class PathsParams:
    from_event: Step
    direction: Direction = "next"
    depth: int = 3
    gap_minutes: int = 30
    top: int = 10
    collapse_repeats: bool = False
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    timezone: str = DEFAULT_TIMEZONE
    include_test: bool = False

    def __post_init__(self) -> None:
        self.from_event.validate("from_event")
        if self.direction not in ("next", "previous"):
            raise JingyunError("bad_direction", "direction must be next or previous", "direction")
        if not isinstance(self.depth, int) or not 1 <= self.depth <= 20:
            raise JingyunError("bad_depth", f"depth must be between 1 and 20, got {self.depth!r}", "depth")
        if not isinstance(self.gap_minutes, int) or self.gap_minutes <= 0:
            raise JingyunError("bad_gap", "gap_minutes must be a positive whole number", "gap_minutes")
        if not isinstance(self.top, int) or self.top < 1:
            raise JingyunError("bad_top", "top must be >= 1", "top")
        check_range(self.date_from, self.date_to)
        check_timezone(self.timezone)

    @classmethod
    def create(cls, from_event: str | Step, direction: str = "next", depth: int = 3, *, gap_minutes: int = 30,
               top: int = 10, collapse_repeats: bool = False, date_from: str | dt.date | None = None,
               date_to: str | dt.date | None = None, timezone: str = DEFAULT_TIMEZONE,
               include_test: bool = False) -> PathsParams:
        return cls(as_step(from_event), direction, depth, gap_minutes, top, collapse_repeats,  # type: ignore[arg-type]
                   parse_date(date_from, "from"), parse_date(date_to, "to"), timezone, include_test)


def build_paths_sql(p: PathsParams) -> str:
    """Sessions per (step, previous event, event) along the walk from the anchor event."""
    where = ["person_id IS NOT NULL"]
    if not p.include_test:
        where.append(real_people())
    if p.date_from:
        where.append(f"ts >= {ts_literal(utc_start(p.date_from, p.timezone))}")
    if p.date_to:
        where.append(f"ts < {ts_literal(utc_start(p.date_to + dt.timedelta(days=1), p.timezone))}")
    order = "PARTITION BY person_id ORDER BY ts, event_id"
    gap = f"INTERVAL '{p.gap_minutes * 60}' SECOND"
    anchor = p.from_event.sql()
    ctes = [
        ("ev", f"SELECT person_id, session_id, ts, event_id, event, CASE WHEN {anchor} THEN 1 ELSE 0 END AS hit "
               f"FROM events WHERE {' AND '.join(where)}"),
        # Events without a session id: a new session after the inactivity gap (per person).
        ("ns", f"SELECT person_id, ts, event_id, event, hit, lag(ts) OVER ({order}) AS pts FROM ev WHERE session_id IS NULL"),
        ("ng", f"SELECT person_id, ts, event_id, event, hit, sum(CASE WHEN pts IS NULL OR pts < ts - {gap} THEN 1 ELSE 0 END) "
               f"OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS sn FROM ns"),
        ("se", "SELECT person_id || '|' || session_id AS sid, ts, event_id, event, hit FROM ev WHERE session_id IS NOT NULL\n"
               "  UNION ALL SELECT person_id || '#' || CAST(sn AS VARCHAR) AS sid, ts, event_id, event, hit FROM ng"),
    ]
    if p.collapse_repeats:  # a run of the same event counts once (page refreshes, repeated views)
        ctes.append(("sl", "SELECT sid, ts, event_id, event, hit, lag(event) OVER (PARTITION BY sid ORDER BY ts, event_id) AS pe FROM se"))
        ctes.append(("sc", "SELECT sid, ts, event_id, event, hit FROM sl WHERE pe IS NULL OR pe <> event"))
        seq_from = "sc"
    else:
        seq_from = "se"
    ctes.append(("sq", f"SELECT sid, event, hit, row_number() OVER (PARTITION BY sid ORDER BY ts, event_id) AS rn FROM {seq_from}"))
    ctes.append(("an", "SELECT sid, min(rn) AS p0 FROM sq WHERE hit = 1 GROUP BY sid"))
    if p.direction == "next":
        walk = f"SELECT s.sid, s.event, s.rn - a.p0 AS step FROM sq s JOIN an a ON a.sid = s.sid WHERE s.rn >= a.p0 AND s.rn <= a.p0 + {p.depth}"
    else:
        walk = f"SELECT s.sid, s.event, a.p0 - s.rn AS step FROM sq s JOIN an a ON a.sid = s.sid WHERE s.rn <= a.p0 AND s.rn >= a.p0 - {p.depth}"
    ctes.append(("wk", walk))
    ctes.append(("lk", "SELECT step, event, lag(event) OVER (PARTITION BY sid ORDER BY step) AS prev_event FROM wk"))
    body = ("SELECT step, prev_event, event, count(*) AS sessions FROM lk GROUP BY step, prev_event, event "
            "ORDER BY step, prev_event, event")
    return with_ctes(ctes, body)


@dataclass
class PathNode:
    id: str  # "<step>:<event>"
    step: int  # 0 is the anchor event; 1.. steps away from it (forward or backward)
    event: str
    sessions: int


@dataclass
class PathLink:
    source: str
    target: str
    sessions: int


@dataclass
class StepShare:
    event: str
    sessions: int
    share: float  # of the sessions that reached the anchor


@dataclass
class PathsResult:
    from_event: str
    direction: str
    depth: int
    sessions: int  # sessions containing the anchor event
    top_steps: list[StepShare]  # the most common events one step away
    nodes: list[PathNode]
    links: list[PathLink]
    sql: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_paths(backend: Backend, p: PathsParams) -> PathsResult:
    sql = build_paths_sql(p)
    raw = rows(backend, sql)
    node_count: dict[tuple[int, str], int] = {}
    for r in raw:
        key = (int(r["step"]), str(r["event"]))
        node_count[key] = node_count.get(key, 0) + int(r["sessions"])
    # Keep the `top` busiest events of each step (ties by name); the rest become (other).
    keep: set[tuple[int, str]] = set()
    for step in {s for s, _ in node_count}:
        ranked = sorted(((c, e) for (s, e), c in node_count.items() if s == step), key=lambda x: (-x[0], x[1]))
        keep |= {(step, e) for _, e in ranked[: p.top]} if step else {(0, e) for _, e in ranked}

    def name(step: int, event: str) -> str:
        return event if (step, event) in keep else OTHER

    nodes: dict[tuple[int, str], int] = {}
    links: dict[tuple[str, str], int] = {}
    for r in raw:
        step, event, n = int(r["step"]), str(r["event"]), int(r["sessions"])
        key = (step, name(step, event))
        nodes[key] = nodes.get(key, 0) + n
        if step and r["prev_event"] is not None:
            src = f"{step - 1}:{name(step - 1, str(r['prev_event']))}"
            link = (src, f"{step}:{key[1]}")
            links[link] = links.get(link, 0) + n
    sessions = sum(c for (s, _), c in nodes.items() if s == 0)
    first = sorted(((c, e) for (s, e), c in nodes.items() if s == 1), key=lambda x: (-x[0], x[1]))
    return PathsResult(
        from_event=p.from_event.event, direction=p.direction, depth=p.depth, sessions=sessions,
        top_steps=[StepShare(e, c, round(c / sessions, 6) if sessions else 0.0) for c, e in first],
        nodes=[PathNode(f"{s}:{e}", s, e, c) for (s, e), c in sorted(nodes.items(), key=lambda x: (x[0][0], -x[1], x[0][1]))],
        links=[PathLink(a, b, c) for (a, b), c in sorted(links.items(), key=lambda x: (x[0][0], -x[1], x[0][1]))],
        sql=[sql],
    )
