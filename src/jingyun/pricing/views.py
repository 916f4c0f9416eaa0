"""One JSON shape for pricing (CLI --json, API, console): money as exact yuan strings, local times."""

from __future__ import annotations

from typing import Any

from jingyun.localtime import local_iso
from jingyun.pricing.competitors import Move
from jingyun.pricing.engine import PriceChange, Proposal
from jingyun.pricing.rules import Rule


def move_dict(m: Move, tz: str) -> dict[str, Any]:
    return {"competitor": m.competitor, "competitor_item": m.competitor_item, "product_id": m.product_id,
            "before": f"{m.before:.2f}", "after": f"{m.after:.2f}", "change": f"{m.change:.4f}",
            "previous_at": local_iso(m.previous_at, tz), "observed_at": local_iso(m.observed_at, tz)}


def proposal_dict(p: Proposal, tz: str) -> dict[str, Any]:
    return {"id": p.id, "rule": p.rule, "product_id": p.product_id, "competitor": p.competitor,
            "competitor_item": p.competitor_item, "competitor_before": f"{p.competitor_before:.2f}",
            "competitor_after": f"{p.competitor_after:.2f}", "observed_at": local_iso(p.observed_at, tz),
            "current": f"{p.current:.2f}", "proposed": f"{p.proposed:.2f}", "floor": f"{p.floor:.2f}",
            "stock": p.stock, "cover_days": None if p.cover_days is None else round(p.cover_days, 1),
            "reason": p.reason, "status": p.status, "approval_id": p.approval_id,
            "created_at": local_iso(p.created_at, tz)}


def change_dict(c: PriceChange, tz: str) -> dict[str, Any]:
    return {"product_id": c.product_id, "old": f"{c.old:.2f}", "new": f"{c.new:.2f}", "reason": c.reason,
            "source": c.source, "proposal_id": c.proposal_id, "changed_by": c.changed_by,
            "changed_at": local_iso(c.changed_at, tz)}


def rule_dict(r: Rule) -> dict[str, Any]:
    return {"key": r.key, "name": r.name, "category": r.category, "min_move": f"{r.min_move:.4f}",
            "min_cover_days": r.min_cover_days, "max_cut": f"{r.max_cut:.4f}", "margin_floor": f"{r.margin_floor:.4f}",
            "mode": r.mode, "enabled": r.enabled}
