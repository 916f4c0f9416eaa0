"""Messaging: channels (email, signed webhooks, SMS/push/WeChat adapters, inbox), templates,
the delivery log, idempotent sends, consent and one-click unsubscribe.

Every sender calls :func:`deliver` (which itself refuses marketing without consent) and may ask
:func:`consent.allowed` first. See docs/messaging.md.
"""

from __future__ import annotations

from . import consent
from .core import Delivery, Message, deliver, log, purge, replay, retry_due

__all__ = ["Delivery", "Message", "consent", "deliver", "log", "purge", "replay", "retry_due"]
