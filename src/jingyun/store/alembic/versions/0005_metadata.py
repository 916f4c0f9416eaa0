"""Metadata in one store: one segment model, tag versions, segment runs, state and
snapshots, experiments and flags, dashboard pins.

Revision ID: 0005
Revises: 0004

``segments`` becomes the one segment model: the API's department-owned rows and
the CLI/console's saved segments (until now ``$JINGYUN_HOME/segments/*.json``)
are the same rows. A department is optional (NULL: a workspace segment), names
are unique (rows of the old API that shared a name are renamed ``<name>-<id>``
first, the oldest keeping its name), and the saved-segment fields join it.

The old files are not read here: each capability imports its own files the
first time it opens the store (``*.imported`` afterwards), so a migration never
depends on the code of the layers above the store.

Downgrade: workspace segments (no department) cannot exist in the 0004 schema
and are deleted; every other table of this revision is dropped with its rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _dedupe_segment_names() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name FROM segments ORDER BY id")).fetchall()
    seen: set[str] = set()
    for seg_id, name in rows:
        if name in seen:
            bind.execute(sa.text("UPDATE segments SET name = :n WHERE id = :i"), {"n": f"{name}-{seg_id}"[:200], "i": seg_id})
        seen.add(name)


def upgrade() -> None:
    _dedupe_segment_names()
    op.add_column("segments", sa.Column("zh", sa.String(length=200), server_default="", nullable=False))
    op.add_column("segments", sa.Column("en", sa.String(length=200), server_default="", nullable=False))
    op.add_column("segments", sa.Column("owner", sa.String(length=100), server_default="", nullable=False))
    op.add_column("segments", sa.Column("automation", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("segments", sa.Column("playbook", sa.String(length=60), nullable=True))
    op.add_column("segments", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.add_column("segments", sa.Column("updated_at", sa.DateTime(), nullable=True))
    # nullable department and a unique name: SQLite cannot ALTER either, so batch copies the table
    # (nothing references segments, so the copy cascades nowhere)
    with op.batch_alter_table("segments") as batch:
        batch.alter_column("department_id", existing_type=sa.Integer(), nullable=True)
        batch.create_unique_constraint("uq_segments_name", ["name"])

    op.create_table(
        "tag_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tag", "version", name="uq_tag_versions_tag_version"),
    )
    op.create_table(
        "segment_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("deadline_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_index("ix_segment_runs_target", "segment_runs", ["target"])
    op.create_index("ix_segment_runs_started_at", "segment_runs", ["started_at"])
    op.create_table(
        "segment_state",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "segment_snapshots",
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("scheme", "label"),
    )
    op.create_table(
        "experiments",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "flags",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "dashboard_pins",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("panel", sa.String(length=60), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("departments", sa.Text(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dashboard_pins_owner", "dashboard_pins", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_pins_owner", table_name="dashboard_pins")
    op.drop_table("dashboard_pins")
    op.drop_table("flags")
    op.drop_table("experiments")
    op.drop_table("segment_snapshots")
    op.drop_table("segment_state")
    op.drop_index("ix_segment_runs_started_at", table_name="segment_runs")
    op.drop_index("ix_segment_runs_target", table_name="segment_runs")
    op.drop_table("segment_runs")
    op.drop_table("tag_versions")
    op.execute("DELETE FROM segments WHERE department_id IS NULL")
    with op.batch_alter_table("segments") as batch:
        batch.drop_constraint("uq_segments_name", type_="unique")
        batch.alter_column("department_id", existing_type=sa.Integer(), nullable=False)
        for col in ("updated_at", "version", "playbook", "automation", "owner", "en", "zh"):
            batch.drop_column(col)
