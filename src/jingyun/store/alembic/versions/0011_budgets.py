"""Budgets with reserve pools, and competitor prices, pricing rules, proposals and the price change log.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("reserve_bp", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "budget_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=128), nullable=False),
        sa.Column("planned_cents", sa.Integer(), nullable=False),
        sa.Column("released_cents", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["budget_id"], ["budgets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("budget_id", "department", "channel", "campaign", name="uq_budget_lines"),
    )
    op.create_index("ix_budget_lines_budget_id", "budget_lines", ["budget_id"])
    op.create_table(
        "budget_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["budget_id"], ["budgets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["line_id"], ["budget_lines.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_budget_releases_budget_id", "budget_releases", ["budget_id"])
    op.create_index("ix_budget_releases_approval_id", "budget_releases", ["approval_id"])
    op.create_table(
        "product_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("competitor", sa.String(length=100), nullable=False),
        sa.Column("competitor_item", sa.String(length=200), nullable=False),
        sa.Column("product_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("competitor", "competitor_item", name="uq_product_matches"),
    )
    op.create_index("ix_product_matches_product_id", "product_matches", ["product_id"])
    op.create_table(
        "competitor_observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("competitor", sa.String(length=100), nullable=False),
        sa.Column("competitor_item", sa.String(length=200), nullable=False),
        sa.Column("product_id", sa.String(length=128), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("competitor", "competitor_item", "observed_at", name="uq_competitor_obs"),
    )
    op.create_index("ix_competitor_observations_product_id", "competitor_observations", ["product_id"])
    op.create_index("ix_competitor_observations_observed_at", "competitor_observations", ["observed_at"])
    op.create_table(
        "pricing_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("min_move_bp", sa.Integer(), nullable=False),
        sa.Column("min_cover_days", sa.Integer(), nullable=False),
        sa.Column("max_cut_bp", sa.Integer(), nullable=False),
        sa.Column("margin_floor_bp", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "price_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger_key", sa.String(length=400), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=128), nullable=False),
        sa.Column("competitor", sa.String(length=100), nullable=False),
        sa.Column("competitor_item", sa.String(length=200), nullable=False),
        sa.Column("competitor_before_cents", sa.Integer(), nullable=False),
        sa.Column("competitor_after_cents", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.Column("current_cents", sa.Integer(), nullable=False),
        sa.Column("proposed_cents", sa.Integer(), nullable=False),
        sa.Column("floor_cents", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("cover_days", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["rule_id"], ["pricing_rules.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trigger_key"),
    )
    op.create_index("ix_price_proposals_rule_id", "price_proposals", ["rule_id"])
    op.create_index("ix_price_proposals_product_id", "price_proposals", ["product_id"])
    op.create_index("ix_price_proposals_approval_id", "price_proposals", ["approval_id"])
    op.create_table(
        "price_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=128), nullable=False),
        sa.Column("old_cents", sa.Integer(), nullable=False),
        sa.Column("new_cents", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["price_proposals.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_price_changes_product_id", "price_changes", ["product_id"])
    op.create_index("ix_price_changes_changed_at", "price_changes", ["changed_at"])


def downgrade() -> None:
    op.drop_index("ix_price_changes_product_id", table_name="price_changes")
    op.drop_index("ix_price_changes_changed_at", table_name="price_changes")
    op.drop_table("price_changes")
    op.drop_index("ix_price_proposals_rule_id", table_name="price_proposals")
    op.drop_index("ix_price_proposals_product_id", table_name="price_proposals")
    op.drop_index("ix_price_proposals_approval_id", table_name="price_proposals")
    op.drop_table("price_proposals")
    op.drop_table("pricing_rules")
    op.drop_index("ix_competitor_observations_product_id", table_name="competitor_observations")
    op.drop_index("ix_competitor_observations_observed_at", table_name="competitor_observations")
    op.drop_table("competitor_observations")
    op.drop_index("ix_product_matches_product_id", table_name="product_matches")
    op.drop_table("product_matches")
    op.drop_index("ix_budget_releases_budget_id", table_name="budget_releases")
    op.drop_index("ix_budget_releases_approval_id", table_name="budget_releases")
    op.drop_table("budget_releases")
    op.drop_index("ix_budget_lines_budget_id", table_name="budget_lines")
    op.drop_table("budget_lines")
    op.drop_table("budgets")
