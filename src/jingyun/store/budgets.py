"""Metadata tables of one capability (budgets); migration 0011_budgets.py builds them.

Budgets with reserve pools, and competitor prices, pricing rules, proposals and the price change log.

Money is integer fen (SQLite has no exact decimal); shares are basis points (1500 = 15 %). Spend actuals
are not stored: they are read from the warehouse ``marketing_spend`` whenever a status runs.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jingyun.store.models import Base, utcnow


class BudgetRow(Base):
    """A budget for a period: the total, and the share of it held back as the reserve pool."""

    __tablename__ = "budgets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)  # inclusive, local days
    total_cents: Mapped[int] = mapped_column(Integer)
    reserve_bp: Mapped[int] = mapped_column(Integer, default=1500)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class BudgetLineRow(Base):
    """Planned money for one department, channel and (optionally) campaign; ``released_cents`` came
    from the reserve through an approved release."""

    __tablename__ = "budget_lines"
    __table_args__ = (UniqueConstraint("budget_id", "department", "channel", "campaign", name="uq_budget_lines"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    budget_id: Mapped[int] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"), index=True)
    department: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    campaign: Mapped[str] = mapped_column(String(128), default="")  # "" = the whole channel
    planned_cents: Mapped[int] = mapped_column(Integer)
    released_cents: Mapped[int] = mapped_column(Integer, default=0)


class BudgetReleaseRow(Base):
    """A request to move money from the reserve pool to a line; only an approval (type budget) applies it."""

    __tablename__ = "budget_releases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    budget_id: Mapped[int] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("budget_lines.id", ondelete="CASCADE"))
    amount_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(100))
    approval_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | approved | rejected
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class ProductMatchRow(Base):
    """Which of our products a competitor's item is compared with (商品匹配)."""

    __tablename__ = "product_matches"
    __table_args__ = (UniqueConstraint("competitor", "competitor_item", name="uq_product_matches"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    competitor: Mapped[str] = mapped_column(String(100))
    competitor_item: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CompetitorObservationRow(Base):
    """One competitor price seen at one instant; a re-imported observation is a duplicate, not a row."""

    __tablename__ = "competitor_observations"
    __table_args__ = (UniqueConstraint("competitor", "competitor_item", "observed_at", name="uq_competitor_obs"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    competitor: Mapped[str] = mapped_column(String(100))
    competitor_item: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str] = mapped_column(String(128), index=True)
    price_cents: Mapped[int] = mapped_column(Integer)
    observed_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    source: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PricingRuleRow(Base):
    """"Competitor cut > move and our stock covers ≥ N days → lower ours by at most max_cut, never below
    cost × (1 + margin floor)"; dry_run rules propose through approvals, auto rules apply."""

    __tablename__ = "pricing_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    min_move_bp: Mapped[int] = mapped_column(Integer, default=500)
    min_cover_days: Mapped[int] = mapped_column(Integer, default=14)
    max_cut_bp: Mapped[int] = mapped_column(Integer, default=300)
    margin_floor_bp: Mapped[int] = mapped_column(Integer, default=1000)
    mode: Mapped[str] = mapped_column(String(20), default="dry_run")  # dry_run | auto
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PriceProposalRow(Base):
    """A price change a rule proposed for one product after one competitor move, with its reason."""

    __tablename__ = "price_proposals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger_key: Mapped[str] = mapped_column(String(400), unique=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("pricing_rules.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[str] = mapped_column(String(128), index=True)
    competitor: Mapped[str] = mapped_column(String(100))
    competitor_item: Mapped[str] = mapped_column(String(200))
    competitor_before_cents: Mapped[int] = mapped_column(Integer)
    competitor_after_cents: Mapped[int] = mapped_column(Integer)
    observed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    current_cents: Mapped[int] = mapped_column(Integer)
    proposed_cents: Mapped[int] = mapped_column(Integer)
    floor_cents: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)
    cover_days: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # pending | approved | rejected | applied
    approval_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class PriceChangeRow(Base):
    """Every change of our price, with its reason (the price history beside the competitors')."""

    __tablename__ = "price_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(String(128), index=True)
    old_cents: Mapped[int] = mapped_column(Integer)
    new_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))  # approval | auto | manual
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("price_proposals.id", ondelete="SET NULL"),
                                                    nullable=True)
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
