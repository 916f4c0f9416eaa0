"""One JSON shape for budgets, statuses and proposals (CLI --json, API, console). Money is a string of
yuan to the fen (exact); times carry the workspace offset."""

from __future__ import annotations

import math
from typing import Any

from jingyun.budgets.actuals import Overspend, Status
from jingyun.budgets.optimize import Proposal
from jingyun.budgets.plan import Budget
from jingyun.localtime import local_iso


def _m(v: Any) -> str:
    return f"{v:.2f}"


def _f(v: float) -> float | None:
    return None if not math.isfinite(v) else round(v, 4)


def budget_dict(b: Budget, tz: str) -> dict[str, Any]:
    return {
        "key": b.key, "name": b.name, "from": b.period_start.isoformat(), "to": b.period_end.isoformat(),
        "total": _m(b.total), "reserve_pct": _m(b.reserve_pct), "reserve": _m(b.reserve), "released": _m(b.released),
        "reserve_left": _m(b.reserve_left), "allocatable": _m(b.allocatable), "planned": _m(b.planned),
        "lines": [{"id": ln.id, "department": ln.department, "channel": ln.channel, "campaign": ln.campaign,
                   "planned": _m(ln.planned), "released": _m(ln.released), "available": _m(ln.available)}
                  for ln in b.lines],
        "releases": [{"id": r.id, "line_id": r.line_id, "amount": _m(r.amount), "reason": r.reason,
                      "requested_by": r.requested_by, "status": r.status, "approval_id": r.approval_id,
                      "created_at": local_iso(r.created_at, tz), "decided_at": local_iso(r.decided_at, tz)}
                     for r in b.releases],
        "created_at": local_iso(b.created_at, tz),
    }


def status_dict(st: Status, tz: str) -> dict[str, Any]:
    return {
        "budget": budget_dict(st.budget, tz), "as_of": st.as_of.isoformat(), "actual": _m(st.actual),
        "lines": [{"department": ls.line.department, "channel": ls.line.channel, "campaign": ls.line.campaign,
                   "available": _m(ls.line.available), "planned_to_date": _m(ls.planned_to_date),
                   "actual": _m(ls.actual), "remaining": _m(ls.remaining)} for ls in st.lines],
        "unplanned": {k: _m(v) for k, v in st.unplanned.items()},
        "burn_down": [{"day": d.day.isoformat(), "planned_cumulative": _m(d.planned_cumulative), "actual": _m(d.actual),
                       "actual_cumulative": _m(d.actual_cumulative), "remaining": _m(d.remaining)} for d in st.burn],
    }


def overspend_dict(o: Overspend) -> dict[str, Any]:
    return {"budget": o.budget, "department": o.department, "channel": o.channel, "campaign": o.campaign,
            "kind": o.kind, "available": _m(o.available), "planned_to_date": _m(o.planned_to_date),
            "actual": _m(o.actual), "over_by": _m(o.over_by), "as_of": o.as_of.isoformat()}


def proposal_dict(p: Proposal) -> dict[str, Any]:
    return {
        "total": _m(p.total), "days": p.days, "history": {"from": p.history[0].isoformat(),
                                                          "to": p.history[1].isoformat()},
        "expected_return": round(p.expected_return, 2), "expected_roi": _f(p.roi),
        "return_interval_90": [round(p.return_low, 2), round(p.return_high, 2)],
        "current_split_return": _f(p.current_split_return),
        "channels": [{"channel": c.channel, "proposed": _m(c.proposed), "daily": round(c.daily, 2),
                      "historical_daily": round(c.historical_daily, 2), "expected_return": round(c.expected_return, 2),
                      "roi": _f(c.roi), "roi_interval_90": [_f(c.roi_low), _f(c.roi_high)],
                      "marginal_roi": _f(c.marginal_roi), "fit_r2": c.fit_r2,
                      "curve": {"beta": round(c.curve.beta, 4), "k": round(c.curve.k, 4),
                                "alpha": round(c.curve.alpha, 4), "theta": round(c.curve.theta, 4)}}
                     for c in p.channels],
        "skipped": p.skipped,
    }
