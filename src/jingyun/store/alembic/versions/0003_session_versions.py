"""Sessions that can end: a per-person token version, refresh tokens bound to sessions.

Revision ID: 0003
Revises: 0002

Additive only: existing people and sessions get version 0, which is what the
tokens already issued are checked against, so an upgrade signs nobody out.
Plain ALTER TABLE both ways, no batch copy: copying ``people`` on SQLite would
drop the old table, and its ON DELETE CASCADE would empty ``sessions`` and
``person_departments`` (the downgrade needs SQLite 3.35+ for DROP COLUMN).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("people", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    op.add_column("sessions", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    op.add_column("sessions", sa.Column("refresh_hash", sa.String(length=64), nullable=True))
    op.add_column("sessions", sa.Column("refresh_prev_hash", sa.String(length=64), nullable=True))
    op.create_index("ix_sessions_refresh_hash", "sessions", ["refresh_hash"], unique=True)
    op.create_index("ix_sessions_refresh_prev_hash", "sessions", ["refresh_prev_hash"])


def downgrade() -> None:
    op.drop_index("ix_sessions_refresh_prev_hash", table_name="sessions")
    op.drop_index("ix_sessions_refresh_hash", table_name="sessions")
    op.drop_column("sessions", "refresh_prev_hash")
    op.drop_column("sessions", "refresh_hash")
    op.drop_column("sessions", "token_version")
    op.drop_column("people", "token_version")
