"""Snapshots and dynamic re-segmentation (动态分群): who moved where between two dates.

A snapshot records each person's group under a scheme — ``lifecycle`` (stage),
``rfm`` (RFM group) or any tag name (its value) — labelled by period (monthly by
default: ``2026-10``). The transition matrix between two snapshots counts
persons per (from, to) pair; a person missing from one side is ``(none)``.
Moves are the entry/exit events automation can trigger on.

The size guard checks a scheme: a group under 5% of persons is too fine to act
on, one over 80% too coarse to mean anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from jingyun.errors import JingyunError
from jingyun.security import age_bands
from jingyun.segments.common import now_utc
from jingyun.segments.lifecycle import LifecycleParams, lifecycle_query
from jingyun.segments.rfm import RfmParams, compute_rfm, resolve_as_of
from jingyun.segments.store import SegmentStore
from jingyun.warehouse.backends import Source, engine_of, require
from jingyun.warehouse.sqltext import quote

NONE = "(none)"
Every = Literal["daily", "weekly", "monthly"]
TOO_FINE = 0.05
TOO_COARSE = 0.80


def period_label(day: dt.date, every: Every = "monthly") -> str:
    if every == "daily":
        return day.isoformat()
    if every == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def current_groups(source: Source, scheme: str, as_of: Any = None) -> dict[str, str]:
    engine = engine_of(source)
    at = resolve_as_of(engine, as_of)
    if scheme == "lifecycle":
        rows = engine.rows(f"SELECT person_id, stage FROM ({lifecycle_query(LifecycleParams(), at)}) s")
        return {str(p): str(g) for p, g in rows}
    if scheme == "rfm":
        res = compute_rfm(engine, RfmParams(as_of=at), with_persons=True)
        return {str(p["person_id"]): str(p["group"]) for p in res.persons}
    require(engine, "derived_tables")
    rows = (engine.rows(f"SELECT person_id, value FROM user_tags WHERE tag = {quote(scheme)}")
            if engine.has_table("user_tags") else [])
    if not rows:
        raise JingyunError("unknown_scheme", f"scheme {scheme!r} is not lifecycle, rfm or a computed tag", "scheme")
    return {str(p): str(v) for p, v in rows}


@dataclass(frozen=True)
class Snapshot:
    scheme: str
    label: str
    taken_at: str
    persons: int
    counts: dict[str, int]


def take_snapshot(source: Source, scheme: str, *, label: str | None = None, every: Every = "monthly",
                  as_of: Any = None, overwrite: bool = False) -> Snapshot:
    engine = engine_of(source)
    at = resolve_as_of(engine, as_of)
    label = label or period_label(at.date(), every)
    store = SegmentStore(engine.settings)
    if label in store.snapshot_labels(scheme) and not overwrite:
        data = store.load_snapshot(scheme, label)
        return Snapshot(scheme, label, data["taken_at"], len(data["groups"]), data["counts"])
    groups = current_groups(engine, scheme, at)
    counts: dict[str, int] = {}
    for g in groups.values():
        counts[g] = counts.get(g, 0) + 1
    taken = now_utc().isoformat()
    store.save_snapshot(scheme, label, {"scheme": scheme, "label": label, "taken_at": taken,
                                        "as_of": at.isoformat(), "counts": dict(sorted(counts.items())),
                                        "groups": groups})
    return Snapshot(scheme, label, taken, len(groups), dict(sorted(counts.items())))


@dataclass(frozen=True)
class Move:
    person_id: str
    from_group: str
    to_group: str


@dataclass(frozen=True)
class Transitions:
    scheme: str
    from_label: str
    to_label: str
    groups: list[str]
    matrix: dict[str, dict[str, int]]  # from -> to -> persons
    stayed: int
    moved: int
    entries: dict[str, int]  # group -> persons who entered it
    exits: dict[str, int]
    moves: list[Move] = field(default_factory=list)


def transitions(before: dict[str, str], after: dict[str, str], *, scheme: str = "", from_label: str = "",
                to_label: str = "", with_moves: bool = False) -> Transitions:
    """Transition matrix between two person → group maps."""
    people = sorted(set(before) | set(after))
    groups = sorted({*before.values(), *after.values()})
    if any(p not in before or p not in after for p in people):
        groups.append(NONE)
    matrix = {g: dict.fromkeys(groups, 0) for g in groups}
    entries = dict.fromkeys(groups, 0)
    exits = dict.fromkeys(groups, 0)
    moves: list[Move] = []
    stayed = 0
    for p in people:
        a, b = before.get(p, NONE), after.get(p, NONE)
        matrix[a][b] += 1
        if a == b:
            stayed += 1
            continue
        exits[a] += 1
        entries[b] += 1
        if with_moves:
            moves.append(Move(p, a, b))
    return Transitions(scheme, from_label, to_label, groups, matrix, stayed, len(people) - stayed,
                       entries, exits, moves)


def compare_snapshots(source: Source, scheme: str, from_label: str, to_label: str, *, with_moves: bool = False
                      ) -> Transitions:
    store = SegmentStore(engine_of(source).settings)
    a = store.load_snapshot(scheme, from_label)["groups"]
    b = store.load_snapshot(scheme, to_label)["groups"]
    if scheme == "age_band":  # snapshots taken before the one scheme hold 18_24-style labels
        a, b = ({p: age_bands.normalise(g) for p, g in x.items()} for x in (a, b))
    return transitions(a, b, scheme=scheme, from_label=from_label, to_label=to_label, with_moves=with_moves)


@dataclass(frozen=True)
class GuardResult:
    ok: bool
    total: int
    shares: dict[str, float]
    too_fine: list[str]
    too_coarse: list[str]
    warnings: list[str]


def size_guard(counts: dict[str, int], *, min_share: float = TOO_FINE, max_share: float = TOO_COARSE) -> GuardResult:
    total = sum(counts.values())
    shares = {g: (n / total if total else 0.0) for g, n in counts.items()}
    fine = sorted(g for g, s in shares.items() if s < min_share)
    coarse = sorted(g for g, s in shares.items() if s > max_share)
    warnings = [f"group {g!r} holds {shares[g]:.1%} of users (< {min_share:.0%}): too fine to act on" for g in fine]
    warnings += [f"group {g!r} holds {shares[g]:.1%} of users (> {max_share:.0%}): too coarse" for g in coarse]
    return GuardResult(not warnings, total, {g: round(s, 6) for g, s in sorted(shares.items())}, fine, coarse,
                       warnings)
