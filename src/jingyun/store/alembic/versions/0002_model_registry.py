"""The model registry moves into the metadata store.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_registry",
        sa.Column("model_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("data_start", sa.Date(), nullable=True),
        sa.Column("data_end", sa.Date(), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("artifact", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("model_id"),
    )
    op.create_index("ix_model_registry_kind", "model_registry", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_model_registry_kind", table_name="model_registry")
    op.drop_table("model_registry")
