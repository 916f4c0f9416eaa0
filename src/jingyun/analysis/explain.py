"""Diagnosis (归因诊断): what moved a metric between two periods.

The metric is computed per segment of a breakdown (one dimension, or several
crossed: ``channel,user_type``) for the previous period 0 and the current period 1.

Additive metrics (``gmv`` 成交额, ``orders`` 订单数): segment i contributes
ΔV_i = V1_i − V0_i, and Σ ΔV_i = ΔV exactly.

Ratio metrics R = N / D (``aov`` 客单价 = GMV / orders, ``conversion_rate`` 转化率 =
orders / visitors) are written R = Σ w_i r_i with weights w_i = D_i / D and segment
rates r_i = N_i / D_i. Segment i contributes, with bars for the two-period means
(w̄_i = (w0_i + w1_i) / 2, r̄_i = (r0_i + r1_i) / 2, R̄ = (R0 + R1) / 2)::

    mix_i  = (w1_i − w0_i) · (r̄_i − R̄)      # 结构效应: weight moved toward/away from a better-than-average segment
    rate_i = (r1_i − r0_i) · w̄_i            # 转化/效率效应: the segment's own rate moved
    contribution_i = mix_i + rate_i

Since Σ_i (w1_i − w0_i) = 0, subtracting R̄ changes no sum, and
w1 r1 − w0 r0 = (w1 − w0) r̄ + (r1 − r0) w̄ holds term by term, so
Σ_i contribution_i = R1 − R0 exactly (the symmetric, Shapley two-factor split).
In general contribution_i = N1_i/D1 − N0_i/D0 − (w1_i − w0_i)·R̄, which equals the
above when both rates exist and also covers a segment absent from one period (or
with a numerator but no denominator): it has no rate effect, all of it is mix. Arithmetic is done in
exact rationals, and the sum is asserted before floats are returned.

Drivers (主要驱动因素) are the segments that pushed the metric the way it moved,
largest first; ``drags`` pushed the other way.

GMV, orders and visitors are the metric dictionary's ``gmv``, ``orders`` and
``visitors``: their rows come from its SQL generator (paid orders by the
workspace's definition, test accounts excluded, local calendar days), so the
totals always equal the metric. Dimensions:
``channel`` (the buyer's acquisition channel, ``users.channel`` 获客渠道),
``platform`` (``orders.channel`` for orders, ``events.platform`` for visitors),
``sales_channel`` (``orders.channel`` 下单渠道), ``province`` 省份, ``member_level`` 会员等级,
``user_type`` (``new`` when the person registered inside the period, else ``existing``;
新老客) and ``category`` 品类 (an order split over its lines' categories in proportion
to the line amounts; order metrics only).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from jingyun.analysis.common import check_timezone, rows
from jingyun.config import DEFAULT_TIMEZONE
from jingyun.errors import JingyunError
from jingyun.metrics.dictionary import dictionary_for, load_dictionary
from jingyun.metrics.model import Dictionary, Leaf
from jingyun.metrics.sqlgen import Frame, base_rows
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import date_literal, quote, ts_literal, utc_start, with_ctes

Metric = Literal["gmv", "orders", "aov", "conversion_rate"]
METRICS: dict[str, tuple[str, str]] = {
    "gmv": ("成交额", "additive"),
    "orders": ("订单数", "additive"),
    "aov": ("客单价", "ratio"),
    "conversion_rate": ("转化率", "ratio"),
}
UNKNOWN = "(unknown)"
_USER_DIMS = {"channel": "pu.channel", "users.channel": "pu.channel", "province": "pu.province",
              "users.province": "pu.province", "member_level": "pu.member_level",
              "users.member_level": "pu.member_level"}
DIMENSIONS = ("channel", "platform", "sales_channel", "province", "member_level", "user_type", "category")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Period:
    """Local calendar days [start, end]."""

    start: dt.date
    end: dt.date

    @classmethod
    def parse(cls, text: str | Period, field: str) -> Period:
        """``2026-10`` (a month), ``2026-10-01`` (a day) or ``2026-10-01..2026-10-15``."""
        if isinstance(text, Period):
            return text
        value = str(text).strip()
        try:
            if ".." in value:
                a, b = value.split("..", 1)
                period = cls(dt.date.fromisoformat(a.strip()), dt.date.fromisoformat(b.strip()))
            elif m := _MONTH.match(value):
                first = dt.date(int(m.group(1)), int(m.group(2)), 1)
                nxt = (first + dt.timedelta(days=32)).replace(day=1)
                period = cls(first, nxt - dt.timedelta(days=1))
            else:
                day = dt.date.fromisoformat(value)
                period = cls(day, day)
        except ValueError:
            raise JingyunError("bad_period", f"cannot read period {value!r}; write 2026-10, 2026-10-01 or "
                               "2026-10-01..2026-10-15", field) from None
        if period.start > period.end:
            raise JingyunError("bad_period", f"period {value!r} ends before it starts", field)
        return period

    def label(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


@dataclass(frozen=True)
class ExplainParams:
    metric: Metric
    current: Period
    previous: Period
    by: tuple[str, ...] = ("channel",)
    top: int = 3
    timezone: str = DEFAULT_TIMEZONE
    include_test: bool = False

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise JingyunError("bad_metric", f"unknown metric {self.metric!r}; use one of {', '.join(METRICS)}",
                               "metric")
        if not self.by:
            raise JingyunError("bad_dimension", "name at least one dimension to break down by", "by")
        for d in self.by:
            if d not in DIMENSIONS and d not in _USER_DIMS:
                raise JingyunError("bad_dimension", f"cannot break down by {d!r}; use {', '.join(DIMENSIONS)}", "by")
        if len(set(self.by)) != len(self.by):
            raise JingyunError("bad_dimension", "a dimension is named twice", "by")
        if self.metric == "conversion_rate" and ({"category", "sales_channel"} & set(self.by)):
            raise JingyunError("bad_dimension", "visitors have no category or sales channel; break conversion "
                               "down by channel, platform, province, member_level or user_type", "by")
        a, b = sorted((self.previous, self.current), key=lambda p: p.start)
        if b.start <= a.end:
            raise JingyunError("bad_period", "the current and previous periods overlap", "previous")
        if not 1 <= self.top <= 100:
            raise JingyunError("bad_top", "top must be between 1 and 100", "top")
        check_timezone(self.timezone)

    @classmethod
    def create(cls, metric: str, current: str | Period, previous: str | Period | None = None, *,
               by: str | tuple[str, ...] = "channel", top: int = 3, timezone: str = DEFAULT_TIMEZONE,
               include_test: bool = False) -> ExplainParams:
        cur = Period.parse(current, "current")
        if previous is None:  # the same number of days just before
            days = (cur.end - cur.start).days + 1
            prev = Period(cur.start - dt.timedelta(days=days), cur.start - dt.timedelta(days=1))
            if _MONTH.match(str(current)):  # a month compares with the previous calendar month
                prev = Period.parse((cur.start - dt.timedelta(days=1)).strftime("%Y-%m"), "previous")
        else:
            prev = Period.parse(previous, "previous")
        dims = tuple(d.strip() for d in by.split(",") if d.strip()) if isinstance(by, str) else tuple(by)
        return cls(metric.lower(), cur, prev, dims, top, timezone, include_test)  # type: ignore[arg-type]


def _bounds(p: ExplainParams, period: Period) -> tuple[str, str]:
    return (ts_literal(utc_start(period.start, p.timezone)),
            ts_literal(utc_start(period.end + dt.timedelta(days=1), p.timezone)))


def _dim_sql(p: ExplainParams, dim: str, side: Literal["order", "visit"]) -> str:
    if dim in _USER_DIMS:
        expr = _USER_DIMS[dim]
    elif dim == "platform":
        expr = "o.channel" if side == "order" else "o.platform"
    elif dim == "sales_channel":
        expr = "o.channel"
    elif dim == "category":
        expr = "o.category"
    else:  # user_type: registered inside the period the row belongs to
        start = {"current": _bounds(p, p.current)[0], "previous": _bounds(p, p.previous)[0]}
        return (f"CASE WHEN pu.registered_at >= CASE WHEN o.period = 'current' THEN {start['current']} "
                f"ELSE {start['previous']} END THEN 'new' ELSE 'existing' END")
    return f"coalesce(CAST({expr} AS VARCHAR), {quote(UNKNOWN)})"


def _leaf(d: Dictionary, metric: str) -> Leaf:
    formula = d.metric(metric).formula
    assert isinstance(formula, Leaf), f"{metric} is a leaf metric in catalog.yaml"
    return formula


def _frame(p: ExplainParams) -> Frame:
    spans = tuple(sorted(((p.previous.start, p.previous.end), (p.current.start, p.current.end))))
    return Frame(spans[0][0], spans[1][1], "total", None, p.timezone, p.include_test, spans)


def _rows(d: Dictionary, p: ExplainParams, leaf: Leaf) -> str:
    """The leaf's rows in either period, as the metric dictionary reads them (``_b``: the period's first day)."""
    return base_rows(d.sources[leaf.source], leaf.filters, _frame(p), ranged=True)


def _period_of(p: ExplainParams) -> str:
    return f"CASE WHEN r._b = {date_literal(p.current.start)} THEN 'current' ELSE 'previous' END"


def build_explain_sql(p: ExplainParams, d: Dictionary | None = None) -> str:
    """Rows (period, d0[, d1 ...], num, den) for both periods (``d``: the workspace's dictionary)."""
    d = d or load_dictionary()
    keys = [f"{_dim_sql(p, d, 'order')} AS d{i}" for i, d in enumerate(p.by)]
    gk = ", ".join(f"d{i}" for i in range(len(p.by)))
    pu = ("SELECT person_id, min(channel) AS channel, min(province) AS province, min(member_level) AS member_level, "
          "min(registered_at) AS registered_at FROM users GROUP BY person_id")
    # The rows of the dictionary's own metrics (gmv, orders, visitors): the metric's source, its
    # definition (paid_orders), test accounts and period bounds come from the SQL generator, so the
    # totals here equal `jingyun metrics show` for the same periods by construction.
    amount = _leaf(d, "gmv")
    orders = (f"SELECT order_id, person_id, channel, CAST({amount.column} AS DOUBLE) AS amount, "
              f"{_period_of(p)} AS period FROM ({_rows(d, p, amount)}) r")
    ctes = [("pu", pu), ("ord", orders)]
    if "category" in p.by:
        # Each order is split over its lines' categories by line amount; orders without lines stay whole.
        ctes.append(("li", "SELECT oi.order_id, pr.category, "
                           "CAST(coalesce(oi.amount, oi.quantity * oi.unit_price, 0) AS DOUBLE) AS la "
                           "FROM order_items oi LEFT JOIN products pr ON pr.product_id = oi.product_id"))
        ctes.append(("lt", "SELECT order_id, sum(la) AS total, count(*) AS lines FROM li GROUP BY order_id"))
        ctes.append(("o", "SELECT ord.order_id, ord.person_id, ord.channel, ord.period, li.category, "
                          "CASE WHEN lt.total > 0 THEN li.la / lt.total "
                          "WHEN li.order_id IS NOT NULL THEN 1.0 / lt.lines ELSE 1.0 END AS share, ord.amount "
                          "FROM ord LEFT JOIN li ON li.order_id = ord.order_id "
                          "LEFT JOIN lt ON lt.order_id = ord.order_id"))
    else:
        ctes.append(("o", "SELECT order_id, person_id, channel, period, amount, 1.0 AS share FROM ord"))
    if p.metric in ("gmv", "aov"):
        num, den = "sum(o.amount * o.share)", ("sum(o.share)" if p.metric == "aov" else "CAST(NULL AS DOUBLE)")
    else:
        num, den = "sum(o.share)", "CAST(NULL AS DOUBLE)"
    parts = [f"SELECT o.period, {', '.join(keys)}, {num} AS num, {den} AS den FROM o "
             f"LEFT JOIN pu ON pu.person_id = o.person_id GROUP BY o.period, {gk}"]
    if p.metric == "conversion_rate":
        visitors = _leaf(d, "visitors")
        ctes.append(("vis", f"SELECT DISTINCT {visitors.column} AS person_id, platform, {_period_of(p)} AS period "
                            f"FROM ({_rows(d, p, visitors)}) r WHERE {visitors.column} IS NOT NULL"))
        # A visitor seen on two platforms counts once per platform segment, once overall when not split by it.
        vis_src = "vis" if "platform" in p.by else "(SELECT DISTINCT person_id, CAST(NULL AS VARCHAR) AS platform, period FROM vis)"
        vkeys = [f"{_dim_sql(p, d, 'visit')} AS d{i}" for i, d in enumerate(p.by)]
        parts = [f"SELECT o.period, {', '.join(keys)}, {num} AS num, CAST(0 AS DOUBLE) AS den FROM o "
                 f"LEFT JOIN pu ON pu.person_id = o.person_id GROUP BY o.period, {gk}",
                 f"SELECT o.period, {', '.join(vkeys)}, CAST(0 AS DOUBLE) AS num, CAST(count(*) AS DOUBLE) AS den "
                 f"FROM {vis_src} o LEFT JOIN pu ON pu.person_id = o.person_id GROUP BY o.period, {gk}"]
        body = (f"SELECT period, {gk}, sum(num) AS num, sum(den) AS den FROM (\n" + "\nUNION ALL ".join(parts)
                + f"\n) x GROUP BY period, {gk} ORDER BY period, {gk}")
    else:
        body = parts[0] + f" ORDER BY o.period, {gk}"
    return with_ctes(ctes, body)


@dataclass
class Segment:
    segment: str  # values of the dimensions joined by " / "
    values: dict[str, str]  # dimension → value
    previous: float | None  # the metric in the segment (additive: its amount; ratio: its rate)
    current: float | None
    contribution: float
    share_of_change: float | None
    previous_weight: float | None = None  # ratio metrics: D_i / D
    current_weight: float | None = None
    mix_effect: float | None = None
    rate_effect: float | None = None


@dataclass
class Explanation:
    metric: str
    metric_zh: str
    kind: str  # additive | ratio
    by: list[str]
    current_period: str
    previous_period: str
    current: float | None
    previous: float | None
    change: float
    change_pct: float | None
    segments: list[Segment]
    drivers: list[Segment]
    drags: list[Segment]
    formula: str
    sql: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FORMULA_ADDITIVE = "contribution_i = V1_i - V0_i; sum_i contribution_i = V1 - V0"
FORMULA_RATIO = ("R = sum_i w_i r_i, w_i = D_i/D, r_i = N_i/D_i; mix_i = (w1_i - w0_i)(rbar_i - Rbar), "
                 "rate_i = (r1_i - r0_i) wbar_i; contribution_i = mix_i + rate_i; sum_i contribution_i = R1 - R0")


def _frac(x: Any) -> Fraction:
    return Fraction(str(x)) if x is not None else Fraction(0)


def decompose_additive(values: dict[tuple[str, ...], tuple[Fraction, Fraction]]) -> dict[tuple[str, ...], Fraction]:
    """segment → V1 − V0 (values are (V0, V1))."""
    out = {k: v1 - v0 for k, (v0, v1) in values.items()}
    assert sum(out.values(), Fraction(0)) == sum(v1 for _, v1 in values.values()) - sum(v0 for v0, _ in values.values())
    return out


@dataclass(frozen=True)
class RatioTerms:
    w0: Fraction
    w1: Fraction
    r0: Fraction | None
    r1: Fraction | None
    mix: Fraction
    rate: Fraction


def decompose_ratio(cells: dict[tuple[str, ...], tuple[Fraction, Fraction, Fraction, Fraction]]) -> tuple[
        Fraction, Fraction, dict[tuple[str, ...], RatioTerms]]:
    """cells: segment → (N0, D0, N1, D1). Returns (R0, R1, terms); Σ(mix + rate) = R1 − R0 exactly."""
    n0 = sum((c[0] for c in cells.values()), Fraction(0))
    d0 = sum((c[1] for c in cells.values()), Fraction(0))
    n1 = sum((c[2] for c in cells.values()), Fraction(0))
    d1 = sum((c[3] for c in cells.values()), Fraction(0))
    if d0 == 0 or d1 == 0:
        raise JingyunError("empty_period", "the metric's denominator is zero in one period (no orders or no "
                           "visitors); pick periods with data", "previous" if d0 == 0 else "current")
    big_r0, big_r1 = n0 / d0, n1 / d1
    rbar_all = (big_r0 + big_r1) / 2
    out: dict[tuple[str, ...], RatioTerms] = {}
    for k, (a0, b0, a1, b1) in cells.items():
        w0, w1 = b0 / d0, b1 / d1
        r0 = a0 / b0 if b0 else None
        r1 = a1 / b1 if b1 else None
        # N1_i/D1 − N0_i/D0 sums to R1 − R0; the weight shift times R̄ sums to 0, so this always adds up,
        # even for a segment with a numerator but no denominator (orders of persons without events).
        total = a1 / d1 - a0 / d0 - (w1 - w0) * rbar_all
        # A segment missing from a period has no rate there: all of its contribution is mix.
        rate = (r1 - r0) * (w0 + w1) / 2 if r0 is not None and r1 is not None else Fraction(0)
        out[k] = RatioTerms(w0, w1, r0, r1, total - rate, rate)
    assert sum((t.mix + t.rate for t in out.values()), Fraction(0)) == big_r1 - big_r0
    return big_r0, big_r1, out


def _f(x: Fraction | None) -> float | None:
    return None if x is None else float(x)


def run_explain(backend: Backend, p: ExplainParams, d: Dictionary | None = None) -> Explanation:
    """Decompose the metric's change between the two periods over the breakdown and name the drivers.

    ``d`` is the workspace's metric dictionary (its definitions decide which orders count);
    by default the one of the backend's workspace.
    """
    sql = build_explain_sql(p, d or dictionary_for(backend))
    cells: dict[tuple[str, ...], list[Fraction]] = {}
    for r in rows(backend, sql):
        key = tuple(str(r[f"d{i}"]) for i in range(len(p.by)))
        cell = cells.setdefault(key, [Fraction(0)] * 4)
        j = 0 if r["period"] == "previous" else 2
        cell[j] += _frac(r["num"])
        cell[j + 1] += _frac(r["den"])
    zh, kind = METRICS[p.metric]
    segments: list[Segment] = []
    if kind == "additive":
        contrib = decompose_additive({k: (c[0], c[2]) for k, c in cells.items()})
        v0 = sum((c[0] for c in cells.values()), Fraction(0))
        v1 = sum((c[2] for c in cells.values()), Fraction(0))
        change = v1 - v0
        for k, c in cells.items():
            segments.append(Segment(" / ".join(k), dict(zip(p.by, k, strict=True)), float(c[0]), float(c[2]),
                                    float(contrib[k]), float(contrib[k] / change) if change else None))
        current, previous = v1, v0
    else:
        if not cells:
            raise JingyunError("empty_period", "no data in either period", "current")
        r0, r1, terms = decompose_ratio({k: (c[0], c[1], c[2], c[3]) for k, c in cells.items()})
        change = r1 - r0
        for k, t in terms.items():
            c_i = t.mix + t.rate
            segments.append(Segment(" / ".join(k), dict(zip(p.by, k, strict=True)), _f(t.r0), _f(t.r1), float(c_i),
                                    float(c_i / change) if change else None, float(t.w0), float(t.w1),
                                    float(t.mix), float(t.rate)))
        current, previous = r1, r0
    segments.sort(key=lambda s: (-abs(s.contribution), s.segment))
    sign = 1 if change >= 0 else -1
    drivers = [s for s in segments if s.contribution * sign > 0][: p.top]
    drags = [s for s in segments if s.contribution * sign < 0][: p.top]
    if change == 0:
        drivers = [s for s in segments if s.contribution][: p.top]
        drags = []
    return Explanation(
        p.metric, zh, kind, list(p.by), p.current.label(), p.previous.label(), _f(current), _f(previous),
        float(change), float(change / previous) if previous else None, segments, drivers, drags,
        FORMULA_ADDITIVE if kind == "additive" else FORMULA_RATIO, [sql],
    )
