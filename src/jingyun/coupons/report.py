"""Coupon reports: issued, redeemed, redemption rate, discount cost, incremental GMV against a holdout,
and the 满X减Y threshold analysis.

The holdout is people who were eligible but deliberately not issued the coupon (a journey's control
group, or any list of user ids). Per template, the treated arm is every person issued a code, the
control arm is the holdout less anyone treated; each person's GMV is the ``amount`` of their valid
orders (the workspace's ``valid_orders``, real people) inside the template's window. The lift and its
interval come from :func:`jingyun.experiments.stats.compare` (Welch on per-person GMV, the z-test on
"bought at all"); the incremental GMV is the per-person lift times the treated people, its interval
scaled alike. Payback compares the incremental margin (incremental GMV × the gross margin rate, by
default the workspace's own ``gross_profit / revenue`` over the window) with the discount cost.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from jingyun.coupons.model import CENT
from jingyun.coupons.redemption import REASONS, CouponOrder, fetch_orders, match
from jingyun.coupons.registry import IssuedCoupon, Template, all_codes, get_template, list_templates
from jingyun.errors import JingyunError
from jingyun.experiments.stats import EffectResult, ProportionStatistic, SampleMeanStatistic, compare
from jingyun.localtime import aware
from jingyun.metrics.definitions import Definitions, for_settings
from jingyun.store import Store
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import quote, ts_literal

CHUNK = 2000
NO_HOLDOUT = "no holdout given: incremental GMV needs people eligible but not issued"
NO_CODES = "no codes issued yet"


@dataclass(frozen=True)
class Lift:
    """Treated against holdout on one template."""

    treated: int
    control: int
    gmv: EffectResult  # per-person GMV
    conversion: EffectResult  # bought at all
    incremental_gmv: float
    incremental_gmv_ci: tuple[float, float]


@dataclass(frozen=True)
class TemplateReport:
    template: str
    name: str
    kind: str
    status: str
    window_start: dt.datetime | None  # local, aware
    window_end: dt.datetime | None
    issued: int
    redeemed: int
    redemption_rate: float | None
    discount_cost: Decimal
    redeemed_gmv: Decimal
    rejected: dict[str, int]
    lift: Lift | None
    margin_rate: float | None = None
    incremental_margin: float | None = None
    net: float | None = None  # incremental margin − discount cost
    payback: float | None = None  # incremental margin / discount cost
    message: str | None = None


@dataclass(frozen=True)
class CouponReport:
    timezone: str
    templates: list[TemplateReport]
    orders: list[CouponOrder] = field(default_factory=list)


def _window(t: Template, issued: list[IssuedCoupon]) -> tuple[dt.datetime, dt.datetime] | None:
    if t.valid_from is not None and t.valid_until is not None:
        return t.valid_from, t.valid_until
    if not issued:
        return None
    return min(c.valid_from for c in issued), max(c.valid_until for c in issued)


def _local(t: dt.datetime | None, tz: str) -> dt.datetime | None:
    return aware(t, tz)


def per_person_gmv(backend: Backend, users: list[str], start: dt.datetime, end: dt.datetime,
                   defs: Definitions) -> dict[str, Decimal]:
    """Each listed person's valid-order GMV in ``[start, end)`` (people without orders are absent)."""
    out: dict[str, Decimal] = {}
    for i in range(0, len(users), CHUNK):
        listed = ", ".join(quote(u) for u in users[i:i + CHUNK])
        sql = (f"SELECT o.user_id, sum(o.amount) AS gmv FROM orders o WHERE {defs.order_rows('valid_orders', 'o')} "
               f"AND o.ts >= {ts_literal(start)} AND o.ts < {ts_literal(end)} AND o.user_id IN ({listed}) "
               "GROUP BY o.user_id")
        for r in backend.run(sql).to_pylist():
            out[str(r["user_id"])] = Decimal(r["gmv"] or 0)
    return out


def _arm(users: list[str], gmv: dict[str, Decimal]) -> tuple[SampleMeanStatistic, ProportionStatistic]:
    values = [float(gmv.get(u, 0)) for u in users]
    return (SampleMeanStatistic(len(values), sum(values), sum(v * v for v in values)),
            ProportionStatistic(len(values), float(sum(1 for v in values if v > 0))))


def lift(backend: Backend, treated: list[str], control: list[str], start: dt.datetime, end: dt.datetime,
         defs: Definitions, alpha: float = 0.05) -> Lift:
    gmv = per_person_gmv(backend, treated + control, start, end, defs)
    t_mean, t_prop = _arm(treated, gmv)
    c_mean, c_prop = _arm(control, gmv)
    effect = compare(c_mean, t_mean, variation="issued", alpha=alpha)
    conv = compare(c_prop, t_prop, variation="issued", alpha=alpha)
    n = len(treated)
    return Lift(n, len(control), effect, conv, effect.uplift_abs * n, (effect.ci_abs[0] * n, effect.ci_abs[1] * n))


def margin_rate_of(backend: Backend, start: dt.datetime, end: dt.datetime, tz: str) -> float | None:
    """The workspace's gross margin over the window: the dictionary's gross_profit / revenue."""
    from jingyun.metrics.compute import ComputeParams, compute
    from jingyun.metrics.dictionary import dictionary_for

    d = dictionary_for(backend)
    lo = aware(start, tz).date()
    hi = aware(end - dt.timedelta(microseconds=1), tz).date()
    total = {}
    for metric in ("gross_profit", "revenue"):
        res = compute(backend, d, ComputeParams.create(metric, lo, hi, timezone=tz))
        total[metric] = sum(p.value or 0.0 for p in res.points)
    return total["gross_profit"] / total["revenue"] if total["revenue"] else None


def _payback(rep: TemplateReport, margin: float | None) -> TemplateReport:
    if rep.lift is None or margin is None or math.isnan(rep.lift.incremental_gmv):
        return rep
    inc_margin = rep.lift.incremental_gmv * margin
    cost = float(rep.discount_cost)
    return TemplateReport(**{**rep.__dict__, "margin_rate": margin, "incremental_margin": inc_margin,
                             "net": inc_margin - cost, "payback": inc_margin / cost if cost else None})


def report(store: Store, settings: Any, backend: Backend, *, templates: list[str] | None = None,
           holdout: Iterable[str] | None = None, margin_rate: float | None = None, alpha: float = 0.05,
           with_orders: bool = False) -> CouponReport:
    """Per template: issued, redeemed, rate, cost, rejected uses by reason, and the lift when a holdout is given."""
    if margin_rate is not None and not 0 < margin_rate <= 1:
        raise JingyunError("bad_margin", "margin_rate is a share of revenue between 0 and 1, e.g. 0.35", "margin_rate")
    tz = settings.timezone
    defs = for_settings(settings)
    chosen = [get_template(store, k) for k in templates] if templates else list_templates(store, limit=10_000)[0]
    issued_all = all_codes(store)
    issued = {t.key: issued_all.get(t.key, []) for t in chosen}
    by_key = {t.key: t for t in chosen}
    codes = [c.code for cs in issued.values() for c in cs]
    matched = match(by_key, issued, fetch_orders(backend, codes, defs)) if codes else []
    holdout_set = set(holdout) if holdout is not None else None
    reports = []
    for t in chosen:
        mine = [o for o in matched if o.template == t.key]
        good = [o for o in mine if o.reason is None]
        n = len(issued[t.key])
        win = _window(t, issued[t.key])
        rejected = Counter(o.reason for o in mine if o.reason is not None)
        the_lift, message = None, None
        if holdout_set is None:
            message = NO_HOLDOUT
        elif win is None:
            message = NO_CODES
        else:
            treated = sorted({c.user_id for c in issued[t.key]})
            control = sorted(holdout_set - set(treated))
            the_lift = lift(backend, treated, control, win[0], win[1], defs, alpha)
            message = the_lift.gmv.message
        rep = TemplateReport(
            t.key, t.spec.name, t.spec.kind, t.status, _local(win[0] if win else None, tz),
            _local(win[1] if win else None, tz), n, len(good), len(good) / n if n else None,
            sum((o.discount_cost for o in good), Decimal(0)).quantize(CENT),
            sum((o.amount for o in good), Decimal(0)).quantize(CENT),
            {r: rejected.get(r, 0) for r in REASONS}, the_lift, message=message,
        )
        margin = margin_rate
        if the_lift is not None and margin is None and win is not None:
            margin = margin_rate_of(backend, win[0], win[1], tz)
        reports.append(_payback(rep, margin))
    return CouponReport(tz, reports, matched if with_orders else [])


@dataclass(frozen=True)
class Bin:
    low: Decimal
    high: Decimal
    orders: int  # valid orders whose value before discount falls in [low, high)
    redeemed: int  # of them, redemptions of this template


@dataclass(frozen=True)
class ThresholdRow:
    report: TemplateReport
    threshold: Decimal
    amount_off: Decimal
    mean_redeemed_value: Decimal | None
    just_below: int  # valid orders in [X - w, X)
    just_above: int  # valid orders in [X, X + w)
    distribution: list[Bin]


@dataclass(frozen=True)
class ThresholdAnalysis:
    timezone: str
    rows: list[ThresholdRow]
    best_redemption: str | None  # the template key with the highest redemption rate
    best_payback: str | None  # the template with the highest net (incremental margin − cost), when measured
    pays_back: list[str]  # templates whose net is above 0


def _bins(backend: Backend, threshold: Decimal, width: Decimal, n_bins: int, start: dt.datetime,
          end: dt.datetime, defs: Definitions) -> dict[int, int]:
    lo = threshold - width * (n_bins // 2)
    gross = "(o.amount + coalesce(o.discount, 0))"
    sql = (f"SELECT CAST(floor(({gross} - {lo}) / {width}) AS BIGINT) AS bin, count(*) AS n FROM orders o "
           f"WHERE {defs.order_rows('valid_orders', 'o')} AND o.ts >= {ts_literal(start)} AND o.ts < {ts_literal(end)} "
           f"AND {gross} >= {lo} AND {gross} < {lo + width * n_bins} GROUP BY 1")
    return {int(r["bin"]): int(r["n"]) for r in backend.run(sql).to_pylist()}


def thresholds(store: Store, settings: Any, backend: Backend, *, templates: list[str] | None = None,
               holdout: Iterable[str] | None = None, margin_rate: float | None = None, bins: int = 10,
               alpha: float = 0.05) -> ThresholdAnalysis:
    """Compare the 满X减Y templates: redemption, payback, and the order values around each threshold.

    The distribution spans ``[X/2, 3X/2)`` in ``bins`` equal bins (X is a bin edge), for all valid
    orders in the template's window and for its redemptions; orders bunching just above X against
    just below it show the threshold pulling baskets up.
    """
    if not 2 <= bins <= 100 or bins % 2:
        raise JingyunError("bad_bins", "bins must be an even number between 2 and 100", "bins")
    keys = templates or [t.key for t in list_templates(store, limit=10_000)[0] if t.spec.kind == "threshold"]
    for k in keys:
        if get_template(store, k).spec.kind != "threshold":
            raise JingyunError("bad_template", f"{k!r} is not a 满X减Y (threshold) coupon", "templates")
    rep = report(store, settings, backend, templates=keys, holdout=holdout, margin_rate=margin_rate, alpha=alpha,
                 with_orders=True) if keys else CouponReport(settings.timezone, [])
    defs = for_settings(settings)
    rows = []
    for r in rep.templates:
        spec = get_template(store, r.template).spec
        x, w = spec.threshold, (spec.threshold / bins).quantize(CENT)
        lo = x - w * (bins // 2)
        good = [o for o in rep.orders if o.template == r.template and o.reason is None]
        counts: dict[int, int] = {}
        if r.window_start is not None and r.window_end is not None:
            start = r.window_start.astimezone(dt.UTC).replace(tzinfo=None)
            end = r.window_end.astimezone(dt.UTC).replace(tzinfo=None)
            counts = _bins(backend, x, w, bins, start, end, defs)
        red = Counter(int((o.gross - lo) // w) for o in good if lo <= o.gross < lo + w * bins)
        dist = [Bin(lo + w * i, lo + w * (i + 1), counts.get(i, 0), red.get(i, 0)) for i in range(bins)]
        mean = (sum((o.gross for o in good), Decimal(0)) / len(good)).quantize(CENT) if good else None
        rows.append(ThresholdRow(r, x, spec.amount_off or Decimal(0), mean, dist[bins // 2 - 1].orders,
                                 dist[bins // 2].orders, dist))
    rated = [row for row in rows if row.report.redemption_rate is not None]
    best_r = max(rated, key=lambda row: row.report.redemption_rate or 0.0).report.template if rated else None
    netted = [row for row in rows if row.report.net is not None]
    best_p = max(netted, key=lambda row: row.report.net or 0.0).report.template if netted else None
    return ThresholdAnalysis(settings.timezone, rows, best_r, best_p,
                             [row.report.template for row in netted if (row.report.net or 0.0) > 0])
