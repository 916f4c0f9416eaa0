"""Privacy: erased-person tombstones, retention policies and their runs.

The audit log stays append-only with one narrow exception, for PIPL erasure: an UPDATE that
changes nothing but ``target``, to an ``erased:`` token, is allowed (an entry about an erased
person keeps who did what and when, without naming the person). DELETE stays refused.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_SAME = ("id", "ts", "actor", "actor_role", "action", "outcome", "detail", "request_id")


def upgrade() -> None:
    op.create_table(
        "privacy_erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_table(
        "privacy_tombstones",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("erasure_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index(op.f("ix_privacy_tombstones_erasure_id"), "privacy_tombstones", ["erasure_id"], unique=False)
    op.create_table(
        "privacy_retention_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("cutoff", sa.DateTime(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("ran_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_privacy_retention_runs_ran_at"), "privacy_retention_runs", ["ran_at"], unique=False)
    _audit_update_rule(erasure=True)


def downgrade() -> None:
    _audit_update_rule(erasure=False)
    op.drop_index(op.f("ix_privacy_retention_runs_ran_at"), table_name="privacy_retention_runs")
    op.drop_table("privacy_retention_runs")
    op.drop_index(op.f("ix_privacy_tombstones_erasure_id"), table_name="privacy_tombstones")
    op.drop_table("privacy_tombstones")
    op.drop_table("privacy_erasures")


def _audit_update_rule(*, erasure: bool) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        when = ""
        if erasure:
            same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _SAME)
            when = f"WHEN NOT ({same} AND NEW.target LIKE 'erased:%') "
        op.execute(f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log {when}"
                   "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
    elif dialect == "postgresql":
        allow = ""
        if erasure:
            same = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _SAME)
            allow = f"IF TG_OP = 'UPDATE' AND {same} AND NEW.target LIKE 'erased:%' THEN RETURN NEW; END IF; "
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
            f"BEGIN {allow}RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql"
        )
