"""Scheduled jobs: each job's state and the history of its runs move into the metadata store.

Revision ID: 0004
Revises: 0003

Job *definitions* stay in ``$JINGYUN_HOME/schedule.yaml`` (authored by hand);
what the scheduler writes lives here, so two processes (the service and a
shell) see one truth. ``job_state`` has one row per job: the next fire time
and the running marker (``running_run_id`` + ``running_deadline``), claimed by
a conditional UPDATE so only one process can hold it. ``job_runs`` is the
history; ``(job, scheduled_for)`` is unique, so one fire time is never run
twice even if two schedulers both saw it due (manual runs leave it NULL, and
NULLs are distinct in SQLite and PostgreSQL).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_state",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("spec", sa.String(length=200), nullable=False),
        sa.Column("next_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=True),
        sa.Column("last_started_at", sa.DateTime(), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(), nullable=True),
        sa.Column("running_run_id", sa.Integer(), nullable=True),
        sa.Column("running_owner", sa.String(length=200), nullable=True),
        sa.Column("running_deadline", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("deadline", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "scheduled_for", name="uq_job_runs_job_scheduled_for"),
    )
    op.create_index("ix_job_runs_job_started_at", "job_runs", ["job", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_job_runs_job_started_at", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_table("job_state")
