"""A journey's messages in the delivery log (消息记录): the rows whose key starts with ``<journey>:``.

Every message a journey sends carries the action key ``journey:version:step:person:entry``
(:func:`jingyun.automation.actions.action_key`), so a journey's messages are found by that prefix
— matched literally (``_`` in a key is not a LIKE wildcard).
"""

from __future__ import annotations

from sqlalchemy import func, select

from jingyun.automation.journey import KEY
from jingyun.errors import JingyunError
from jingyun.messaging import core
from jingyun.store.db import Store
from jingyun.store.messages import MessageDelivery


def log(store: Store, *, journey: str | None = None, status: str | None = None, channel: str | None = None,
        limit: int = 50, offset: int = 0) -> core.LogPage:
    """The delivery log, newest first, optionally only one journey's messages (same filters as messaging's log)."""
    if not journey:
        return core.log(store, status=status, channel=channel, limit=limit, offset=offset)
    if not KEY.match(journey):
        raise JingyunError("bad_journey", f"journey {journey!r} is not a journey key (lower-case letters, digits, - _)",
                           "journey")
    if status is not None and status not in core.STATUSES:
        raise JingyunError("bad_status", f"status must be one of {', '.join(core.STATUSES)}", "status")
    if channel is not None and channel not in core.CHANNELS:
        raise JingyunError("bad_channel", f"channel must be one of {', '.join(core.CHANNELS)}", "channel")
    if not 1 <= limit <= 500 or offset < 0:
        raise JingyunError("bad_page", "limit is 1-500 and offset 0 or more", "limit")
    q = select(MessageDelivery).where(MessageDelivery.key.startswith(f"{journey}:", autoescape=True))
    if status:
        q = q.where(MessageDelivery.status == status)
    if channel:
        q = q.where(MessageDelivery.channel == channel)
    with store.session() as ses:
        total = ses.scalar(select(func.count()).select_from(q.subquery())) or 0
        items = list(ses.scalars(q.order_by(MessageDelivery.id.desc()).limit(limit).offset(offset)))
        return core.LogPage(items, int(total))


__all__ = ["log"]
