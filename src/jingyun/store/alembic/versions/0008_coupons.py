"""Coupons: templates with validity, budget and stock; issued codes, one per person; redemptions.

Revision ID: 0008
Revises: 0007

Redemptions are matched from the warehouse orders' ``coupon_id`` when a report runs, so they have
no table here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coupon_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("threshold_cents", sa.Integer(), nullable=False),
        sa.Column("amount_off_cents", sa.Integer(), nullable=True),
        sa.Column("percent_bp", sa.Integer(), nullable=True),
        sa.Column("cap_cents", sa.Integer(), nullable=True),
        sa.Column("shipping_cents", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.DateTime(), nullable=True),
        sa.Column("valid_until", sa.DateTime(), nullable=True),
        sa.Column("valid_days", sa.Integer(), nullable=True),
        sa.Column("budget_cents", sa.Integer(), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("per_user", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("reserved_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "coupon_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("issue_key", sa.String(length=200), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.Column("valid_until", sa.DateTime(), nullable=False),
        sa.Column("reserved_cents", sa.Integer(), nullable=False),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["template_id"], ["coupon_templates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("template_id", "issue_key", name="uq_coupon_codes_template_key"),
    )
    op.create_index("ix_coupon_codes_template_id", "coupon_codes", ["template_id"])
    op.create_index("ix_coupon_codes_user_id", "coupon_codes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_coupon_codes_user_id", table_name="coupon_codes")
    op.drop_index("ix_coupon_codes_template_id", table_name="coupon_codes")
    op.drop_table("coupon_codes")
    op.drop_table("coupon_templates")
