"""Metric values for the cockpit, through :mod:`jingyun.metrics` only.

The dictionary and the KPI targets are parsed once per file version (parsing
the dictionary checks every formula with sqlglot, ~0.2 s) and reused.
A dimension filter (``users.channel = short_video``) is the metric broken down
by that dimension (``compute(by=...)``) with the one value kept, so the filtered
number is exactly the breakdown's number for that value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.metrics.compute import ComputeParams, MetricResult, compute
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.kpi import TargetSet, load_targets, targets_path
from jingyun.metrics.model import Dictionary
from jingyun.warehouse.backends import Backend
from jingyun.web.filters import Filters


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@lru_cache(maxsize=8)
def _dictionary(home: str, stamp: float) -> Dictionary:
    from jingyun.config import load_settings

    return load_dictionary(load_settings(Path(home)))


def dictionary(settings: Settings) -> Dictionary:
    own = settings.home / "metrics"
    stamp = max([_mtime(own), *(_mtime(p) for p in own.glob("*.yaml"))] if own.exists() else [0.0])
    stamp = max(stamp, _mtime(settings.home / "definitions.yaml"))  # a definition override changes every metric
    return _dictionary(str(settings.home), stamp)


@lru_cache(maxsize=8)
def _targets(home: str, path: str, stamp: float, dict_id: int) -> TargetSet:
    from jingyun.config import load_settings

    return load_targets(dictionary(load_settings(Path(home))), Path(path))


def targets(settings: Settings) -> TargetSet:
    path = targets_path(settings)
    return _targets(str(settings.home), str(path), _mtime(path), id(dictionary(settings)))


@dataclass
class Series:
    days: list[dt.date]
    values: list[float | None]
    applicable: bool = True


def series(backend: Backend, d: Dictionary, metric: str, f: Filters, timezone: str, *,
           date_from: dt.date | None = None, grain: str = "day") -> tuple[MetricResult | None, Series]:
    """The metric per day over the range (or from ``date_from``), filtered to the dimension value."""
    lo = date_from or f.date_from
    try:
        res = compute(backend, d, ComputeParams(metric, lo, f.date_to, grain, f.dim if f.value else None, timezone))
    except JingyunError as exc:
        if exc.code == "bad_dimension":
            return None, Series([], [], applicable=False)
        raise
    pts = [p for p in res.points if not f.value or p.by_value == f.value]
    return res, Series([p.bucket for p in pts], [p.value for p in pts])


def total(backend: Backend, d: Dictionary, metric: str, f: Filters, timezone: str, grain: str = "total"
          ) -> float | None:
    """One number for the range, like :func:`jingyun.metrics.compute.value_over`, honouring the filter."""
    res, s = series(backend, d, metric, f, timezone, grain=grain)
    if res is None:
        return None
    if grain == "total":
        return s.values[0] if s.values else None
    values = [v for v in s.values if v is not None]
    return sum(values) / len(values) if values else None
