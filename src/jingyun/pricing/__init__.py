"""Competitor prices and dynamic pricing (竞品价格与动态定价): matching, CSV ingestion, moves, rules,
proposals through approvals (type ``pricing``) or applied automatically, and the price change log.
See docs/pricing.md.

For the alert rules: :func:`competitor_moves` (moves above a threshold, default 5 %).
"""

from __future__ import annotations

from jingyun.pricing.competitors import (
    ImportReport,
    Move,
    RowError,
    competitor_moves,
    import_csv,
    matches,
    observations,
    set_match,
)
from jingyun.pricing.engine import (
    PriceChange,
    ProductState,
    Proposal,
    apply,
    changes,
    get,
    history,
    list_proposals,
    product_states,
    propose,
    rules,
    save_rule,
    set_price,
    sync,
)
from jingyun.pricing.rules import Decision, Rule, decide

__all__ = [
    "Decision", "ImportReport", "Move", "PriceChange", "ProductState", "Proposal", "RowError", "Rule", "apply",
    "changes", "competitor_moves", "decide", "get", "history", "import_csv", "list_proposals", "matches",
    "observations", "product_states", "propose", "rules", "save_rule", "set_match", "set_price", "sync",
]
