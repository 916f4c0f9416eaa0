"""The one JSON shape of templates, codes and reports, shared by the CLI's ``--json``, the API and the
console: money as decimal text (exact), times local with their offset, rates as fractions."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from jingyun.coupons.model import show_code
from jingyun.coupons.registry import IssuedCoupon, Template
from jingyun.coupons.report import CouponReport, Lift, TemplateReport, ThresholdAnalysis
from jingyun.experiments.stats import EffectResult
from jingyun.localtime import local_iso


def _m(x: Decimal | None) -> str | None:
    return None if x is None else f"{x:.2f}"


def _f(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def template_dict(t: Template, tz: str) -> dict[str, Any]:
    s = t.spec
    return {
        "key": s.key, "name": s.name, "kind": s.kind, "status": t.status,
        "threshold": _m(s.threshold), "amount_off": _m(s.amount_off),
        "percent_off": None if s.percent_off is None else f"{s.percent_off:.2f}", "cap": _m(s.cap),
        "shipping": _m(s.shipping), "valid_from": local_iso(t.valid_from, tz), "valid_until": local_iso(t.valid_until, tz),
        "valid_days": s.valid_days, "budget": _m(s.budget), "stock": s.stock, "per_user": s.per_user,
        "issued": t.issued, "reserved": _m(t.reserved), "remaining_stock": t.remaining_stock,
        "remaining_budget": _m(t.remaining_budget), "created_by": t.created_by, "created_at": local_iso(t.created_at, tz),
    }


def issued_dict(c: IssuedCoupon, tz: str) -> dict[str, Any]:
    return {
        "code": c.code, "display": show_code(c.code), "template": c.template, "user_id": c.user_id,
        "issued_at": local_iso(c.issued_at, tz), "valid_from": local_iso(c.valid_from, tz),
        "valid_until": local_iso(c.valid_until, tz), "reserved": _m(c.reserved), "key": c.key,
        "issued_by": c.issued_by, "created": c.created,
    }


def _effect(e: EffectResult) -> dict[str, Any]:
    return {"control_mean": _f(e.control_mean), "treatment_mean": _f(e.treatment_mean), "uplift_abs": _f(e.uplift_abs),
            "uplift_rel": _f(e.uplift_rel), "ci_abs": [_f(e.ci_abs[0]), _f(e.ci_abs[1])],
            "ci_rel": [_f(e.ci_rel[0]), _f(e.ci_rel[1])], "p_value": _f(e.p_value), "method": e.method,
            "message": e.message}


def _lift(lift: Lift | None) -> dict[str, Any] | None:
    if lift is None:
        return None
    return {"treated": lift.treated, "control": lift.control, "gmv_per_person": _effect(lift.gmv),
            "conversion": _effect(lift.conversion), "incremental_gmv": _f(lift.incremental_gmv),
            "incremental_gmv_ci": [_f(lift.incremental_gmv_ci[0]), _f(lift.incremental_gmv_ci[1])]}


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def template_report_dict(r: TemplateReport) -> dict[str, Any]:
    return {
        "template": r.template, "name": r.name, "kind": r.kind, "status": r.status,
        "window": {"start": _iso(r.window_start), "end": _iso(r.window_end)},
        "issued": r.issued, "redeemed": r.redeemed, "redemption_rate": _f(r.redemption_rate),
        "discount_cost": _m(r.discount_cost), "redeemed_gmv": _m(r.redeemed_gmv), "rejected": r.rejected,
        "lift": _lift(r.lift), "margin_rate": _f(r.margin_rate), "incremental_margin": _f(r.incremental_margin),
        "net": _f(r.net), "payback": _f(r.payback), "message": r.message,
    }


def report_dict(rep: CouponReport) -> dict[str, Any]:
    return {"timezone": rep.timezone, "templates": [template_report_dict(r) for r in rep.templates]}


def thresholds_dict(res: ThresholdAnalysis) -> dict[str, Any]:
    return {
        "timezone": res.timezone, "best_redemption": res.best_redemption, "best_payback": res.best_payback,
        "pays_back": res.pays_back,
        "thresholds": [{
            **template_report_dict(row.report), "threshold": _m(row.threshold), "amount_off": _m(row.amount_off),
            "mean_redeemed_value": _m(row.mean_redeemed_value), "just_below": row.just_below,
            "just_above": row.just_above,
            "distribution": [{"low": _m(b.low), "high": _m(b.high), "orders": b.orders, "redeemed": b.redeemed}
                             for b in row.distribution],
        } for row in res.rows],
    }
