"""Delivery-log rows as every edge shows them: local times with offsets, recipients masked by role."""

from __future__ import annotations

from typing import Any

from jingyun.localtime import aware
from jingyun.security.masking import mask_text, pseudonym
from jingyun.store.messages import MessageDelivery


def delivery_dict(row: MessageDelivery, timezone: str, mask_salt: bytes | None) -> dict[str, Any]:
    """One row; ``mask_salt`` given (a masked role) → recipient pseudonymised, subject's personal text masked."""
    def t(value: Any) -> Any:
        return aware(value, timezone) if value is not None else None

    recipient, subject = row.recipient, row.subject
    if mask_salt is not None:
        recipient = pseudonym(row.recipient, mask_salt) or ""
        subject = mask_text(row.subject, mask_salt)
    return {"id": row.id, "key": row.key, "channel": row.channel, "recipient": recipient, "user_id": row.user_id,
            "purpose": row.purpose, "locale": row.locale, "subject": subject, "status": row.status,
            "reason": row.reason, "attempts": row.attempts, "next_attempt_at": t(row.next_attempt_at),
            "created_at": t(row.created_at), "sent_at": t(row.sent_at), "opened_at": t(row.opened_at),
            "clicked_at": t(row.clicked_at)}
