"""Named dashboards (boards) with a grid of items; the pins of ``dashboard_pins`` move onto them.

Every person's pins land on a default board 我的看板 in the order they were pinned; a pin they had
shared lands on a board 部门共享 shared with each department it was shared with (read-only there, as
the shared pin was). Downgrading puts the panels back as pins (shared where their board was).

Revision ID: 0013
Revises: 0012
"""

import hashlib
import json
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_PINS = sa.table("dashboard_pins", sa.column("id", sa.String), sa.column("owner", sa.String),
                 sa.column("panel", sa.String), sa.column("query", sa.Text), sa.column("title", sa.String),
                 sa.column("departments", sa.Text), sa.column("shared", sa.Boolean),
                 sa.column("created_at", sa.DateTime))


def upgrade() -> None:
    boards = op.create_table(
        "boards",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("date_range", sa.String(length=300), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_boards_owner"), "boards", ["owner"], unique=False)
    op.create_index(op.f("ix_boards_department_id"), "boards", ["department_id"], unique=False)
    items = op.create_table(
        "board_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("board_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("panel", sa.String(length=60), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_board_items_board_id"), "board_items", ["board_id"], unique=False)
    _move_pins(boards, items)
    op.drop_index("ix_dashboard_pins_owner", table_name="dashboard_pins")
    op.drop_table("dashboard_pins")


def _move_pins(boards: sa.Table, items: sa.Table) -> None:
    con = op.get_bind()
    pins = con.execute(sa.select(_PINS).order_by(_PINS.c.owner, _PINS.c.created_at, _PINS.c.id)).mappings().all()
    made: dict[tuple[str, int | None], str] = {}
    count: dict[str, int] = {}
    for p in pins:
        depts = sorted(json.loads(p["departments"] or "[]")) if p["shared"] else []
        for dept in depts or [None]:
            key = (p["owner"], dept)
            if key not in made:
                # the default board's id is derived from its owner (web.dashboards.default_board_id), so two
                # first pins at once cannot make two default boards
                made[key] = ("d" + hashlib.sha256(p["owner"].encode()).hexdigest()[:23] if dept is None
                             else uuid.uuid4().hex[:12])
                con.execute(boards.insert().values(
                    id=made[key], owner=p["owner"], name="我的看板" if dept is None else "部门共享",
                    department_id=dept, date_range="", is_default=dept is None, created_at=p["created_at"],
                    updated_at=p["created_at"]))
            board = made[key]
            count[board] = count.get(board, 0) + 1
            # a pin shared with several departments is on each department's board; the first keeps its id
            item_id = p["id"] if dept == (depts or [None])[0] else uuid.uuid4().hex[:12]
            con.execute(items.insert().values(
                id=item_id, board_id=board, kind="panel", panel=p["panel"], query=p["query"], title=p["title"],
                body="", position=count[board] - 1, width=2, height=1, created_at=p["created_at"]))


def downgrade() -> None:
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
    con = op.get_bind()
    b = sa.table("boards", sa.column("id", sa.String), sa.column("owner", sa.String),
                 sa.column("department_id", sa.Integer))
    i = sa.table("board_items", sa.column("id", sa.String), sa.column("board_id", sa.String),
                 sa.column("kind", sa.String), sa.column("panel", sa.String), sa.column("query", sa.Text),
                 sa.column("title", sa.String), sa.column("created_at", sa.DateTime))
    rows = con.execute(sa.select(i.c.id, b.c.owner, i.c.panel, i.c.query, i.c.title, b.c.department_id, i.c.created_at)
                       .join_from(i, b, b.c.id == i.c.board_id).where(i.c.kind == "panel")
                       .order_by(i.c.created_at, i.c.id)).all()
    for r in rows:
        con.execute(_PINS.insert().values(
            id=r[0], owner=r[1], panel=r[2], query=r[3], title=r[4],
            departments=json.dumps([] if r[5] is None else [r[5]]), shared=r[5] is not None, created_at=r[6]))
    op.drop_index(op.f("ix_board_items_board_id"), table_name="board_items")
    op.drop_table("board_items")
    op.drop_index(op.f("ix_boards_department_id"), table_name="boards")
    op.drop_index(op.f("ix_boards_owner"), table_name="boards")
    op.drop_table("boards")
