"""Deterministic assignment, feature flags and gradual rollout.

The bucket of a user is ``first 8 bytes of sha256(utf8(f"{seed}/{salt}/{user_id}"))``
read big-endian, divided by 2⁶⁴ — a number in [0, 1) that any SDK in any
language can reproduce. SHA-256 is in every standard library and fast in C
(the bench compares it with a bare ``hashlib.sha256`` loop).

Stability, why the layout is as it is:

* Traffic (the share of eligible users in the experiment) uses its own salt,
  so raising it 10% → 20% only adds users and never changes anyone's arm.
* Each non-control variation *i* (1-based among treatments) owns a fixed slot
  of the variation hash starting at ``(i-1)/(k-1)``; its range is
  ``[start, start + weight)``; control gets the rest. Raising a treatment's
  weight (10% → 20%) therefore keeps every user already in it; only control
  gives users up. The price: no treatment may exceed ``1/(k-1)`` of traffic.
* Flags use the same bucket with salt ``rollout``: on iff ``bucket < rollout``,
  so 5% → 10% → 50% → 100% only ever turns users on. ``enabled=False`` (kill
  switch) turns everyone off at once without losing the rollout setting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jingyun.experiments.definition import Experiment, Flag, Variation

EXPOSURE_EVENT = "exp_exposure"
_SCALE = float(2**64)
_sha256 = hashlib.sha256
_from_bytes = int.from_bytes


def bucket(seed: str, salt: str, user_id: str) -> float:
    """The user's position in [0, 1) for this seed and salt."""
    return _from_bytes(_sha256(f"{seed}/{salt}/{user_id}".encode()).digest()[:8], "big") / _SCALE


@dataclass(frozen=True)
class Assignment:
    experiment: str
    user_id: str
    variation: str
    in_experiment: bool
    reason: str  # assigned | not_running | not_targeted | not_in_traffic
    bucket: float | None = None


@dataclass(frozen=True)
class _Layout:
    control: str
    traffic: float
    ranges: tuple[tuple[float, float, str], ...]


@lru_cache(maxsize=1024)
def _layout(variations: tuple[Variation, ...], traffic: float) -> _Layout:
    total = sum(v.weight for v in variations)
    k = len(variations)
    ranges = []
    for i, v in enumerate(variations[1:]):
        start = i / (k - 1)
        ranges.append((start, start + v.weight / total, v.name))
    return _Layout(variations[0].name, traffic, tuple(ranges))


def assign(
    user_id: str,
    experiment: Experiment,
    attributes: Mapping[str, Any] | None = None,
    *,
    log: Callable[[dict[str, Any]], None] | None = None,
) -> Assignment:
    """Which variation ``user_id`` sees; logs an exposure through ``log`` when assigned.

    Users outside the experiment (not running, not targeted, outside the traffic
    share) see control and are not logged, so they never enter the analysis.
    """
    exp = experiment
    layout = _layout(exp.variations, exp.traffic)
    if exp.status != "running":
        return Assignment(exp.key, user_id, layout.control, False, "not_running")
    if exp.targeting.active and not exp.targeting.matches(attributes):
        return Assignment(exp.key, user_id, layout.control, False, "not_targeted")
    seed = exp.seed or exp.key
    if layout.traffic < 1.0 and bucket(seed, "traffic", user_id) >= layout.traffic:
        return Assignment(exp.key, user_id, layout.control, False, "not_in_traffic")
    b = _from_bytes(_sha256(f"{seed}/variation/{user_id}".encode()).digest()[:8], "big") / _SCALE
    name = layout.control
    for lo, hi, vname in layout.ranges:
        if lo <= b < hi:
            name = vname
            break
    result = Assignment(exp.key, user_id, name, True, "assigned", b)
    if log is not None:
        log(exposure_event(result))
    return result


def exposure_event(a: Assignment, ts: dt.datetime | None = None) -> dict[str, Any]:
    """An ``exp_exposure`` event row for the events table (ts naive UTC)."""
    when = ts or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return {
        "event_id": uuid.uuid4().hex,
        "user_id": a.user_id,
        "event": EXPOSURE_EVENT,
        "ts": when,
        "properties": {"experiment": a.experiment, "variation": a.variation},
    }


@dataclass(frozen=True)
class FlagResult:
    flag: str
    user_id: str
    on: bool
    reason: str  # killed | not_targeted | rollout | off_rollout


def evaluate_flag(user_id: str, flag: Flag, attributes: Mapping[str, Any] | None = None) -> FlagResult:
    if not flag.enabled:
        return FlagResult(flag.key, user_id, False, "killed")
    if flag.targeting.active and not flag.targeting.matches(attributes):
        return FlagResult(flag.key, user_id, False, "not_targeted")
    on = flag.rollout >= 1.0 or bucket(flag.seed or flag.key, "rollout", user_id) < flag.rollout
    return FlagResult(flag.key, user_id, on, "rollout" if on else "off_rollout")
