"""Automation: journeys (versioned definitions), each user's position in a journey, pending waits and timers, entry history.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "journey_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("journey_id", sa.Integer(), sa.ForeignKey("journeys.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("journey_id", "version", name="uq_journey_versions"),
    )
    op.create_table(
        "journey_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("entered_at", sa.DateTime(), nullable=False),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("step", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_journey_entries_user", "journey_entries", ["journey_key", "user_id", "entered_at"])
    op.create_index("ix_journey_entries_state", "journey_entries", ["state", "next_at"])
    op.create_table(
        "automation_timers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("late_event_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("fired_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("key", name="uq_automation_timers_key"),
    )
    op.create_index("ix_automation_timers_due", "automation_timers", ["state", "due_at"])
    op.create_index("ix_automation_timers_user", "automation_timers", ["user_id", "state"])
    op.create_table(
        "automation_actions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("key", name="uq_automation_actions_key"),
    )
    op.create_index("ix_automation_actions_state", "automation_actions", ["state", "decided_at"])
    op.create_index("ix_automation_actions_user", "automation_actions", ["user_id", "decided_at"])
    op.create_table(
        "automation_tasks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("assignee", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("key", name="uq_automation_tasks_key"),
    )
    op.create_index("ix_automation_tasks_assignee", "automation_tasks", ["assignee", "status"])
    op.create_table(
        "automation_memberships",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("key", name="uq_automation_memberships_key"),
    )
    op.create_index("ix_automation_memberships_name", "automation_memberships", ["kind", "name"])


def downgrade() -> None:
    op.drop_index("ix_automation_memberships_name", table_name="automation_memberships")
    op.drop_table("automation_memberships")
    op.drop_index("ix_automation_tasks_assignee", table_name="automation_tasks")
    op.drop_table("automation_tasks")
    op.drop_index("ix_automation_actions_user", table_name="automation_actions")
    op.drop_index("ix_automation_actions_state", table_name="automation_actions")
    op.drop_table("automation_actions")
    op.drop_index("ix_automation_timers_user", table_name="automation_timers")
    op.drop_index("ix_automation_timers_due", table_name="automation_timers")
    op.drop_table("automation_timers")
    op.drop_index("ix_journey_entries_state", table_name="journey_entries")
    op.drop_index("ix_journey_entries_user", table_name="journey_entries")
    op.drop_table("journey_entries")
    op.drop_table("journey_versions")
    op.drop_table("journeys")
