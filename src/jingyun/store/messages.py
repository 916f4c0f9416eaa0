"""Metadata tables of one capability (messages); migration 0007_messages.py builds them.

Messages and channels: the delivery log, send idempotency keys, webhook dead letters, consent and unsubscribes per channel and purpose.

* ``message_deliveries`` is the delivery log and the idempotency ledger at once: one row per
  send key (unique), written *before* anything is sent (the decision), then moved through
  ``queued → sending → sent | failed (retry at next_attempt_at) | dead | unknown``, or written
  ``suppressed`` with a reason. Dead letters are the rows in ``dead``.
* ``message_endpoints`` are webhook endpoints and provider adapters (SMS, push, WeChat): a URL,
  a signing secret (encrypted at rest), a payload shape, and whether the receiver deduplicates.
* ``message_consents`` holds consent per subject (a user id, or ``addr:<address>`` for an
  address without a user), purpose and channel (``*`` = every channel).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jingyun.store.models import Base, utcnow


class MessageDelivery(Base):
    __tablename__ = "message_deliveries"
    __table_args__ = (
        Index("ix_message_deliveries_due", "status", "next_attempt_at"),
        Index("ix_message_deliveries_user", "user_id"),
        Index("ix_message_deliveries_created", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    user_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    purpose: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    subject: Mapped[str] = mapped_column(String(500), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta_json: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    first_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    clicked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MessageEndpoint(Base):
    __tablename__ = "message_endpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # webhook / sms / push / wechat
    url: Mapped[str] = mapped_column(String(1000))
    secret_enc: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text, default="")  # JSON shape with {{ placeholders }}; empty = the standard body
    idempotent: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MessageTemplate(Base):
    """A workspace template (one row per name and locale); shipped templates are in jingyun.messaging.templates."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("name", "locale", name="uq_message_templates_name_locale"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(500), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MessageConsent(Base):
    __tablename__ = "message_consents"
    __table_args__ = (UniqueConstraint("subject", "purpose", "channel", name="uq_message_consents_scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(330))
    purpose: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
