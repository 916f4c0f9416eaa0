"""Typed definitions: experiments, variations, feature flags, decisions, targeting.

Parsed once at the boundary (CLI, YAML) into these frozen dataclasses; inside
the package nothing passes loose dicts. Targeting is, for now, a simple filter
on user attributes (the segment engine comes later), written as a mapping::

    {"city": "上海", "member_level": {"in": ["gold", "silver"]}, "age": {"gte": 18}}

Every condition must hold. Operators: eq, ne, in, nin, gt, gte, lt, lte, exists.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jingyun.errors import JingyunError

Status = Literal["draft", "running", "stopped", "concluded"]
DecisionKind = Literal["ship", "rollback", "iterate"]
STATUSES: tuple[str, ...] = ("draft", "running", "stopped", "concluded")
DECISIONS: tuple[str, ...] = ("ship", "rollback", "iterate")
OPERATORS = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_key(key: str, field_name: str = "key") -> str:
    if not _KEY.match(key or ""):
        raise JingyunError(
            "bad_key", f"{key!r} is not a valid key: use letters, digits, '_', '-', '.', e.g. checkout_copy_v2", field_name
        )
    return key


@dataclass(frozen=True)
class Condition:
    attribute: str
    op: str
    value: Any

    def holds(self, attrs: Mapping[str, Any]) -> bool:
        present = self.attribute in attrs and attrs[self.attribute] is not None
        if self.op == "exists":
            return present == bool(self.value)
        if not present:
            return self.op in ("ne", "nin")
        got = attrs[self.attribute]
        try:
            if self.op == "eq":
                return bool(got == self.value)
            if self.op == "ne":
                return bool(got != self.value)
            if self.op == "in":
                return got in self.value
            if self.op == "nin":
                return got not in self.value
            if self.op == "gt":
                return bool(got > self.value)
            if self.op == "gte":
                return bool(got >= self.value)
            if self.op == "lt":
                return bool(got < self.value)
            return bool(got <= self.value)
        except TypeError:  # e.g. comparing a string attribute with a number: not targeted
            return False


@dataclass(frozen=True)
class Targeting:
    """Who may enter: attribute conditions, and/or membership of a saved segment
    (an audience built with the segments capability; members are read from the
    warehouse table ``segment_members``, and passed to :meth:`matches` as the
    attribute ``segments``)."""

    conditions: tuple[Condition, ...] = ()
    segment: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.conditions) or self.segment is not None

    def matches(self, attrs: Mapping[str, Any] | None) -> bool:
        attrs = attrs or {}
        if self.segment is not None and self.segment not in set(attrs.get("segments") or ()):
            return False
        return all(c.holds(attrs) for c in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.conditions:
            out.setdefault(c.attribute, {})[c.op] = c.value
        if self.segment is not None:
            out["segment"] = self.segment
        return out

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> Targeting:
        if not raw:
            return cls()
        if not isinstance(raw, Mapping):
            raise JingyunError("bad_targeting", "targeting must be a mapping of attribute → value or {op: value}", "targeting")
        conds: list[Condition] = []
        segment = raw.get("segment")
        if segment is not None and (not isinstance(segment, str) or not segment):
            raise JingyunError("bad_targeting", "segment must be the name of a saved segment", "targeting.segment")
        for attr, spec in raw.items():
            if attr == "segment":
                continue
            if isinstance(spec, Mapping):
                for op, value in spec.items():
                    if op not in OPERATORS:
                        raise JingyunError(
                            "bad_targeting", f"unknown operator {op!r} for {attr}; use one of {', '.join(OPERATORS)}", "targeting"
                        )
                    if op in ("in", "nin") and not isinstance(value, list | tuple):
                        raise JingyunError("bad_targeting", f"{attr}.{op} needs a list", "targeting")
                    conds.append(Condition(str(attr), op, tuple(value) if isinstance(value, list) else value))
            else:
                conds.append(Condition(str(attr), "eq", spec))
        return cls(tuple(conds), segment)


@dataclass(frozen=True)
class Variation:
    name: str
    weight: float


@dataclass(frozen=True)
class Decision:
    decision: str
    reason: str
    at: dt.datetime
    by: str = ""


@dataclass(frozen=True)
class Experiment:
    """An A/B(/n) test. The first variation is control."""

    key: str
    variations: tuple[Variation, ...] = (Variation("control", 0.5), Variation("treatment", 0.5))
    name: str = ""
    hypothesis: str = ""
    traffic: float = 1.0
    targeting: Targeting = field(default_factory=Targeting)
    primary_metric: str = "conversion"
    secondary_metrics: tuple[str, ...] = ("revenue",)
    guardrail_metrics: tuple[str, ...] = ()
    conversion_event: str = "pay"
    window_days: int = 7
    status: str = "running"
    start: dt.datetime | None = None
    stop: dt.datetime | None = None
    seed: str = ""
    created_at: dt.datetime | None = None
    decisions: tuple[Decision, ...] = ()

    @property
    def control(self) -> str:
        return self.variations[0].name

    @property
    def hash_seed(self) -> str:
        return self.seed or self.key

    @property
    def weights(self) -> tuple[float, ...]:
        total = sum(v.weight for v in self.variations)
        return tuple(v.weight / total for v in self.variations)

    def validate(self) -> Experiment:
        check_key(self.key)
        if len(self.variations) < 2:
            raise JingyunError("bad_variations", "an experiment needs at least two variations (control first)", "variations")
        names = [v.name for v in self.variations]
        if len(set(names)) != len(names):
            raise JingyunError("bad_variations", "variation names must be unique", "variations")
        for v in self.variations:
            check_key(v.name, "variations")
            if v.weight < 0:
                raise JingyunError("bad_weights", f"weight of {v.name} must be >= 0", "weights")
        if sum(v.weight for v in self.variations) <= 0:
            raise JingyunError("bad_weights", "weights must add up to more than 0", "weights")
        k = len(self.variations)
        if any(w > 1 / (k - 1) + 1e-12 for w in self.weights[1:]):
            # each treatment owns a fixed slot of the hash space so that growing it never moves anyone out
            raise JingyunError(
                "bad_weights", f"with {k} variations each non-control weight can be at most 1/{k - 1} of the total", "weights"
            )
        if not 0 < self.traffic <= 1:
            raise JingyunError("bad_traffic", "traffic must be in (0, 1], the share of eligible users included", "traffic")
        if self.status not in STATUSES:
            raise JingyunError("bad_status", f"status must be one of {', '.join(STATUSES)}", "status")
        if not 1 <= self.window_days <= 365:
            raise JingyunError("bad_window", "window_days must be between 1 and 365", "window_days")
        return self


@dataclass(frozen=True)
class Flag:
    """A feature flag with gradual rollout; ``enabled=False`` is the kill switch."""

    key: str
    rollout: float = 0.0
    enabled: bool = True
    targeting: Targeting = field(default_factory=Targeting)
    seed: str = ""

    def validate(self) -> Flag:
        check_key(self.key)
        if not 0 <= self.rollout <= 1:
            raise JingyunError("bad_rollout", "rollout must be between 0 and 1 (e.g. 0.05 for 5%)", "rollout")
        return self
