"""Channel ROI and the value-cost matrix (渠道ROI与价值-成本矩阵).

Per marketing channel over the local days [from, to]:

* ``spend`` 花费 — ``marketing_spend.spend`` on those days.
* ``new_customers`` 新客数 — persons whose first revenue order ever falls in the range.
  A customer belongs to the channel they were acquired through: ``users.channel``
  (``acquisition="users"``, the default) or, with ``acquisition="attribution"``, the
  credit of an attribution model on their first order (fractional customers).
* ``cac`` 获客成本 = spend / new customers (null when no new customers).
* ``revenue`` 收入 — amount of the revenue orders in range of the channel's customers
  (attribution: the model's revenue credit); ``gross_profit`` 毛利 = revenue − cost of
  goods (Σ order_items.quantity × products.cost).
* ``roi`` = gross profit / spend (the ratio operations teams use, not (profit − spend) / spend);
  ``roas`` = revenue / spend; both null without spend.
* ``ltv`` 客户终身价值 — revenue per new customer within ``ltv_days`` of their first order
  (observed so far: customers acquired near the end of the data have had less time);
  ``ltv_cac`` = LTV / CAC.

Revenue orders are the ``revenue_orders`` definition (paid and kept: not refunded or returned;
an unpaid ``created`` order or one without a status is no revenue), test accounts excluded, as the
metric dictionary's ``revenue`` counts them: the channels' revenue summed over channels is that metric.
Channels with spend are placed in the value-cost matrix: value = LTV, cost = CAC,
split at the medians over those channels (or given thresholds). High value and low
cost (value ≥ threshold, cost ≤ threshold) is ``star`` 明星渠道 (scale up); high value,
high cost ``potential`` 潜力渠道 (bring the cost down); low value, low cost ``watch``
观察渠道 (improve conversion or keep small); low value, high cost ``problem`` 问题渠道
(cut). A channel with spend and no new customers has infinite CAC: ``problem``.
Rows are ranked by LTV/CAC (then ROI), best first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any, Literal

from jingyun.analysis.attribution import MODELS, AttributionParams, run_models, time_range
from jingyun.analysis.common import check_range, check_timezone, parse_date, rows
from jingyun.config import DEFAULT_TIMEZONE
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED, Definitions
from jingyun.metrics.dictionary import dictionary_for
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import date_literal, quote, with_ctes

Acquisition = Literal["users", "attribution"]
UNKNOWN = "(unknown)"
QUADRANTS: dict[str, tuple[str, str]] = {
    "star": ("明星渠道", "high value, low cost: scale up 加大投放"),
    "potential": ("潜力渠道", "high value, high cost: bring the cost down 优化成本"),
    "watch": ("观察渠道", "low value, low cost: improve conversion 提升转化"),
    "problem": ("问题渠道", "low value, high cost: cut 削减预算"),
}


@dataclass(frozen=True)
class ChannelParams:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    acquisition: Acquisition = "users"
    model: str = "last_touch"
    lookback_s: int = 30 * 86400
    ltv_days: int = 180
    value_threshold: float | None = None  # LTV; default the median over channels with spend
    cost_threshold: float | None = None  # CAC; default the median
    timezone: str = DEFAULT_TIMEZONE
    include_test: bool = False

    def __post_init__(self) -> None:
        if self.acquisition not in ("users", "attribution"):
            raise JingyunError("bad_acquisition", "acquisition must be users or attribution", "acquisition")
        if self.model not in MODELS:
            raise JingyunError("bad_model", f"unknown model {self.model!r}; use one of {', '.join(MODELS)}", "model")
        if not isinstance(self.ltv_days, int) or not 1 <= self.ltv_days <= 3660:
            raise JingyunError("bad_ltv_days", "ltv-days must be between 1 and 3660", "ltv_days")
        check_range(self.date_from, self.date_to)
        check_timezone(self.timezone)

    @classmethod
    def create(cls, date_from: str | dt.date | None = None, date_to: str | dt.date | None = None, *,
               acquisition: str = "users", model: str = "last_touch", lookback: str | int = "30d",
               ltv_days: int = 180, value_threshold: float | None = None, cost_threshold: float | None = None,
               timezone: str = DEFAULT_TIMEZONE, include_test: bool = False) -> ChannelParams:
        return cls(
            parse_date(date_from, "from"), parse_date(date_to, "to"), acquisition,  # type: ignore[arg-type]
            model.replace("-", "_"), AttributionParams.create(lookback=lookback).lookback_s, ltv_days,
            value_threshold, cost_threshold, timezone, include_test,
        )

    def attribution(self) -> AttributionParams:
        return AttributionParams(model=self.model, lookback_s=self.lookback_s,  # type: ignore[arg-type]
                                 date_from=self.date_from, date_to=self.date_to, timezone=self.timezone,
                                 include_test=self.include_test)


def _ctes(p: ChannelParams, defs: Definitions = SHIPPED) -> list[tuple[str, str]]:
    return [
        ("ro", f"SELECT order_id, person_id, ts, CAST(amount AS DOUBLE) AS amount FROM orders "
               f"WHERE person_id IS NOT NULL AND {defs.order_rows('revenue_orders', include_test=p.include_test)}"),
        # A person merged from several users rows takes the smallest channel, deterministically.
        ("pc", "SELECT person_id, min(channel) AS channel FROM users WHERE channel IS NOT NULL GROUP BY person_id"),
        ("cg", "SELECT oi.order_id, sum(CAST(oi.quantity AS DOUBLE) * CAST(coalesce(pr.cost, 0) AS DOUBLE)) AS cogs "
               "FROM order_items oi JOIN products pr ON pr.product_id = oi.product_id GROUP BY oi.order_id"),
        ("fo", "SELECT person_id, min(ts) AS first_ts FROM ro GROUP BY person_id"),
        ("nc", f"SELECT person_id, first_ts FROM fo WHERE {time_range('first_ts', p.date_from, p.date_to, p.timezone)}"),
        # Revenue of each new customer within the LTV horizon of their first order.
        ("lt", "SELECT nc.person_id, nc.first_ts, sum(ro.amount) AS ltv FROM nc JOIN ro ON ro.person_id = nc.person_id "
               f"WHERE date_diff('second', nc.first_ts, ro.ts) < {p.ltv_days * 86400} GROUP BY nc.person_id, nc.first_ts"),
    ]


def _spend_where(p: ChannelParams) -> str:
    parts = ["channel IS NOT NULL"]
    if p.date_from:
        parts.append(f"date >= {date_literal(p.date_from)}")
    if p.date_to:
        parts.append(f"date <= {date_literal(p.date_to)}")
    return " AND ".join(parts)


def build_channels_sql(p: ChannelParams, defs: Definitions = SHIPPED) -> str:
    """Per channel: spend, new customers, revenue, cost of goods and LTV revenue (acquisition by users.channel)."""
    ch = f"coalesce(pc.channel, {quote(UNKNOWN)})"
    z = "CAST(0 AS DOUBLE)"
    in_range = time_range("ro.ts", p.date_from, p.date_to, p.timezone)
    parts = [
        f"SELECT channel, CAST(sum(spend) AS DOUBLE) AS spend, {z} AS new_customers, {z} AS revenue, {z} AS cogs, "
        f"{z} AS ltv_revenue FROM marketing_spend WHERE {_spend_where(p)} GROUP BY channel",
        f"SELECT {ch} AS channel, {z}, {z}, sum(ro.amount), sum(coalesce(cg.cogs, 0)), {z} FROM ro "
        f"LEFT JOIN pc ON pc.person_id = ro.person_id LEFT JOIN cg ON cg.order_id = ro.order_id WHERE {in_range} "
        f"GROUP BY {ch}",
        f"SELECT {ch} AS channel, {z}, CAST(count(*) AS DOUBLE), {z}, {z}, sum(lt.ltv) FROM lt "
        f"LEFT JOIN pc ON pc.person_id = lt.person_id GROUP BY {ch}",
    ]
    body = ("SELECT channel, sum(spend) AS spend, sum(new_customers) AS new_customers, sum(revenue) AS revenue, "
            "sum(cogs) AS cogs, sum(ltv_revenue) AS ltv_revenue FROM (\n"
            + "\nUNION ALL ".join(parts) + "\n) x GROUP BY channel ORDER BY channel")
    return with_ctes(_ctes(p, defs), body)


def build_spend_sql(p: ChannelParams) -> str:
    return (f"SELECT channel, CAST(sum(spend) AS DOUBLE) AS spend FROM marketing_spend WHERE {_spend_where(p)} "
            "GROUP BY channel ORDER BY channel")


def attribution_conversions(p: ChannelParams, kind: Literal["first", "revenue", "profit"],
                            defs: Definitions = SHIPPED) -> str:
    """Conversions for the attribution mode: first orders valued at their LTV revenue, or the revenue
    orders in range valued at their amount or gross profit."""
    prefix = with_ctes(_ctes(p, defs), "")
    if kind == "first":
        return f"{prefix}SELECT person_id AS conv_id, person_id, first_ts AS cts, ltv AS value FROM lt"
    value = "ro.amount" if kind == "revenue" else "ro.amount - coalesce(cg.cogs, 0)"
    return (f"{prefix}SELECT ro.order_id AS conv_id, ro.person_id, ro.ts AS cts, {value} AS value FROM ro "
            f"LEFT JOIN cg ON cg.order_id = ro.order_id WHERE {time_range('ro.ts', p.date_from, p.date_to, p.timezone)}")


@dataclass
class ChannelRow:
    channel: str
    spend: float
    new_customers: float
    cac: float | None
    revenue: float
    gross_profit: float
    roi: float | None
    roas: float | None
    ltv: float | None
    ltv_cac: float | None
    quadrant: str | None = None  # star | potential | watch | problem; None without spend
    quadrant_zh: str | None = None
    rank: int | None = None


@dataclass
class ChannelReport:
    date_from: str | None
    date_to: str | None
    acquisition: str
    model: str | None
    ltv_days: int
    value_threshold: float | None
    cost_threshold: float | None
    channels: list[ChannelRow]
    totals: dict[str, float | None]
    quadrants: dict[str, list[str]]
    sql: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


def quadrant(value: float, cost: float | None, value_threshold: float, cost_threshold: float) -> str:
    high_value = value >= value_threshold
    low_cost = cost is not None and cost <= cost_threshold
    return {(True, True): "star", (True, False): "potential", (False, True): "watch", (False, False): "problem"}[
        (high_value, low_cost)]


def _row(channel: str, spend: float, new: float, revenue: float, cogs: float, ltv_rev: float) -> ChannelRow:
    cac = _div(spend, new)
    ltv = _div(ltv_rev, new)
    profit = revenue - cogs
    return ChannelRow(
        channel, round(spend, 2), round(new, 6), _round(cac, 4), round(revenue, 2), round(profit, 2),
        _round(_div(profit, spend)), _round(_div(revenue, spend)), _round(ltv, 4),
        _round(ltv / cac if ltv is not None and cac else None),
    )


def run_channels(backend: Backend, p: ChannelParams) -> ChannelReport:
    """The channel report, placed in the value-cost matrix and ranked (orders as the workspace defines them)."""
    defs = dictionary_for(backend).definitions
    raw: dict[str, list[float]] = {}
    ran: list[str] = []
    if p.acquisition == "users":
        sql = build_channels_sql(p, defs)
        ran.append(sql)
        for rec in rows(backend, sql):
            raw[str(rec["channel"])] = [float(rec[k] or 0) for k in ("spend", "new_customers", "revenue", "cogs",
                                                                     "ltv_revenue")]
    else:
        ap = p.attribution()
        sql = build_spend_sql(p)
        ran.append(sql)
        for rec in rows(backend, sql):
            raw[str(rec["channel"])] = [float(rec["spend"] or 0), 0.0, 0.0, 0.0, 0.0]
        first = run_models(backend, ap, (p.model,), attribution_conversions(p, "first", defs))[p.model]
        revenue = run_models(backend, ap, (p.model,), attribution_conversions(p, "revenue", defs))[p.model]
        profit = run_models(backend, ap, (p.model,), attribution_conversions(p, "profit", defs))[p.model]
        for res, slots in ((first, ((1, "conversions"), (4, "revenue"))), (revenue, ((2, "revenue"),)),
                           (profit, ((3, "revenue"),))):
            ran.extend(res.sql)
            for c in res.channels:
                cell = raw.setdefault(c.channel, [0.0] * 5)
                for i, attr in slots:
                    cell[i] += getattr(c, attr)
        for cell in raw.values():  # the profit credit went into the cogs slot: turn it into cogs
            cell[3] = cell[2] - cell[3]
    out = [_row(ch, *vals) for ch, vals in sorted(raw.items())]
    paid = [r for r in out if r.spend > 0]
    ranked_values = [r.ltv or 0.0 for r in paid if r.new_customers > 0]
    ranked_costs = [r.cac for r in paid if r.cac is not None]
    vt = p.value_threshold if p.value_threshold is not None else (statistics.median(ranked_values) if ranked_values else None)
    ct = p.cost_threshold if p.cost_threshold is not None else (statistics.median(ranked_costs) if ranked_costs else None)
    quads: dict[str, list[str]] = {q: [] for q in QUADRANTS}
    for r in paid:
        if vt is not None and ct is not None:
            r.quadrant = quadrant(r.ltv or 0.0, r.cac, vt, ct)
        else:  # spend but no customer anywhere: nothing to compare with
            r.quadrant = "problem"
        r.quadrant_zh = QUADRANTS[r.quadrant][0]
    out.sort(key=lambda r: (r.spend <= 0, r.ltv_cac is None, -(r.ltv_cac or 0.0), -(r.roi or 0.0), r.channel))
    for i, r in enumerate(out, 1):
        r.rank = i
        if r.quadrant:
            quads[r.quadrant].append(r.channel)
    spend = sum(r.spend for r in out)
    new = sum(r.new_customers for r in out)
    rev = sum(r.revenue for r in out)
    gp = sum(r.gross_profit for r in out)
    totals = {"spend": round(spend, 2), "new_customers": round(new, 6), "revenue": round(rev, 2),
              "gross_profit": round(gp, 2), "cac": _round(_div(spend, new), 4), "roi": _round(_div(gp, spend)),
              "roas": _round(_div(rev, spend))}
    return ChannelReport(
        p.date_from.isoformat() if p.date_from else None, p.date_to.isoformat() if p.date_to else None,
        p.acquisition, p.model if p.acquisition == "attribution" else None, p.ltv_days,
        _round(vt, 4), _round(ct, 4), out, totals, quads, ran,
    )
