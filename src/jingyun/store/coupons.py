"""Metadata tables of one capability (coupons); migration 0008_coupons.py builds them.

Coupons: templates with validity, budget and stock; issued codes, one per person. Redemptions are
not stored: they are matched from the warehouse orders' ``coupon_id`` whenever a report runs, so a
late or corrected order changes the report without a sync step.

Money is kept in integer cents (fen): SQLite has no exact decimal type, and the stock/budget guard is
one integer comparison inside the issuing UPDATE.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jingyun.store.models import Base, utcnow


class CouponTemplate(Base):
    """A coupon design: what it grants, when codes are valid, how many and how much may be issued."""

    __tablename__ = "coupon_templates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # threshold | percent | free_shipping
    threshold_cents: Mapped[int] = mapped_column(Integer, default=0)
    amount_off_cents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    percent_bp: Mapped[int | None] = mapped_column(Integer, nullable=True)  # basis points: 1500 = 15 % off
    cap_cents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shipping_cents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    valid_from: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    valid_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    valid_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    budget_cents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stock: Mapped[int | None] = mapped_column(Integer, nullable=True)
    per_user: Mapped[int] = mapped_column(Integer, default=1)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    reserved_cents: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | paused | ended
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CouponCode(Base):
    """One issued code: one person, one template, its own validity window."""

    __tablename__ = "coupon_codes"
    __table_args__ = (UniqueConstraint("template_id", "issue_key", name="uq_coupon_codes_template_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    issue_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime)
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime)
    reserved_cents: Mapped[int] = mapped_column(Integer, default=0)
    issued_by: Mapped[str] = mapped_column(String(100), default="")
