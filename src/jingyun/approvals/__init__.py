"""Approvals (审批): workflows per request type with exact amount tiers, sequential stages and parallel
co-signatures, delegation, comments and attachments, escalation to the approver's superior, SLA statistics;
and the organisation they route through (:mod:`jingyun.approvals.org`). See docs/approvals.md.

Other capabilities submit requests and react to decisions::

    from jingyun import approvals
    approvals.on_decision("budget", release_reserve)      # release_reserve(store, request)
    req = approvals.submit(store, settings, type="budget", amount=Decimal("120000"), title="...",
                           payload={"budget_id": 7}, requester="alice")
"""

from __future__ import annotations

from jingyun.approvals.engine import (
    ApprovalRequest,
    Attachment,
    Delegation,
    Entry,
    Escalation,
    Step,
    attach,
    comment,
    decide,
    delegate,
    escalate_due,
    get,
    list_requests,
    on_decision,
    read_attachment,
    revoke_delegation,
    route,
    submit,
    visible_to,
    withdraw,
)
from jingyun.approvals.sla import SlaRow, SlaStats, sla_stats, timeout_rate_by_day

__all__ = [
    "ApprovalRequest", "Attachment", "Delegation", "Entry", "Escalation", "SlaRow", "SlaStats", "Step", "attach",
    "comment", "decide", "delegate", "escalate_due", "get", "list_requests", "on_decision", "read_attachment",
    "revoke_delegation", "route", "sla_stats", "submit", "timeout_rate_by_day", "visible_to",
    "withdraw",
]
