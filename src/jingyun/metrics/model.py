"""Typed model of the metric dictionary (指标字典): sources, filters, formulas, metrics.

YAML is parsed once, at the boundary (:mod:`jingyun.metrics.dictionary`), into
these frozen dataclasses; everything inside works on them, never on loose dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from jingyun.metrics.definitions import SHIPPED, Definitions, OrderSet
from jingyun.warehouse.filters import Filter  # field: a source column, users.<col> or properties.<key>

Grain = Literal["day", "week", "month", "total"]
PerPeriod = Literal["day", "week", "month"]
Direction = Literal["higher", "lower"]
Perspective = Literal["financial", "customer", "process", "learning"]

GRAINS: tuple[str, ...] = ("day", "week", "month", "total")
PER_PERIODS: tuple[str, ...] = ("day", "week", "month")
DIRECTIONS: tuple[str, ...] = ("higher", "lower")
PERSPECTIVES: tuple[str, ...] = ("financial", "customer", "process", "learning")
LEAF_KINDS: tuple[str, ...] = (
    "count", "count_distinct", "sum", "avg", "sql", "interval", "retention", "cohort_revenue",
)
DERIVED_KINDS: tuple[str, ...] = ("ratio", "formula")
UNITS: tuple[str, ...] = ("users", "orders", "count", "ratio", "CNY", "days", "score", "times")


@dataclass(frozen=True)
class Source:
    """Where a metric's rows come from: a canonical table or a dataset over one.

    ``sql`` is the FROM item (a table name or a parenthesised portable query);
    ``time`` is the column that places a row on the calendar (a naive-UTC
    TIMESTAMP converted to the workspace's local day, or a DATE used as is).
    """

    name: str
    sql: str
    time: str
    time_type: Literal["ts", "date"]
    columns: tuple[str, ...]
    person: str | None = "person_id"
    test: str | None = "is_test"
    extras: str | None = None  # JSON column that ``properties.<key>`` reads
    filters: tuple[Filter, ...] = ()
    zh: str = ""
    en: str = ""
    # Named business definitions the rows must satisfy (``definition: paid_orders`` in YAML),
    # resolved against the workspace's definitions when the dictionary is loaded.
    rules: tuple[OrderSet, ...] = ()


@dataclass(frozen=True)
class Leaf:
    """An aggregate over one source. Which fields matter depends on ``kind``:

    - ``count``: rows; ``count_distinct``: distinct ``column`` (``per`` period
      averaged over the bucket; ``min_rows`` per entity; ``first`` keeps only
      each person's first-ever row); ``sum``/``avg``: of ``column``;
    - ``sql``: an aggregate ``expression`` over the source's columns;
    - ``interval``: mean calendar days between consecutive rows of a person;
    - ``retention``: share of the cohort (first row per person in ``source``)
      with a row in ``returns`` exactly ``day`` local days later;
    - ``cohort_revenue``: ``column`` of ``returns`` summed over each cohort
      member's first ``horizon_days`` days, per member.
    """

    kind: str
    source: str
    column: str | None = None
    filters: tuple[Filter, ...] = ()
    per: PerPeriod | None = None
    min_rows: int = 1
    first: bool = False
    expression: str | None = None
    returns: str | None = None
    returns_filters: tuple[Filter, ...] = ()
    day: int = 0
    horizon_days: int = 365


@dataclass(frozen=True)
class Derived:
    """``ratio``: numerator / denominator × scale; ``formula``: arithmetic over metric names."""

    kind: str
    expression: str
    references: tuple[str, ...]
    scale: float = 1.0


@dataclass(frozen=True)
class Metric:
    name: str
    zh: str
    en: str
    unit: str
    direction: Direction
    grain: Grain
    owner: str
    description_zh: str
    description_en: str
    formula: Leaf | Derived
    perspective: Perspective = "financial"
    origin: str = "catalog"  # the file it was defined in

    @property
    def derived(self) -> bool:
        return isinstance(self.formula, Derived)


@dataclass(frozen=True)
class Dictionary:
    metrics: dict[str, Metric]
    sources: dict[str, Source]
    files: tuple[str, ...] = field(default_factory=tuple)
    definitions: Definitions = SHIPPED

    def metric(self, name: str) -> Metric:
        from jingyun.errors import JingyunError

        if name not in self.metrics:
            close = [m for m in self.metrics if name.lower() in m.lower()][:5]
            hint = f"; did you mean {', '.join(close)}?" if close else "; run `jingyun metrics list`"
            raise JingyunError("unknown_metric", f"no metric named {name!r}{hint}", "metric")
        return self.metrics[name]
