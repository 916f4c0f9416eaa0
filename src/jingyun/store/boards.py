"""Metadata tables of one capability (dashboards); migration 0013_boards.py builds them.

Named boards (看板): several per person, each optionally shared read-only with one department, with a
board-level date filter; and the items on a board (a pinned panel with its parameters, or a text card)
in a grid (position, width, height). Migration 0013 moved the pins of ``dashboard_pins`` here: every
person's pins onto a default board, pins they had shared onto a board shared with that department.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jingyun.store.models import Base, utcnow


class Board(Base):
    """A named board of one owner; ``department_id`` set: readable by that department (editable by the owner
    and admins only). ``date_range`` is the board's date filter as a query string (``range=last_month``, or
    ``from=…&to=…``); empty: each panel keeps its own range."""

    __tablename__ = "boards"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(100))
    department_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    date_range: Mapped[str] = mapped_column(String(300), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class BoardItem(Base):
    """One cell of a board's grid: a panel (``panel`` + ``query``, a relative range kept by name) or a text card
    (``body``, markdown-lite, escaped when shown). ``position`` orders the grid; ``width`` 1–4 columns,
    ``height`` 1–3 rows."""

    __tablename__ = "board_items"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    board_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="panel")  # panel | text
    panel: Mapped[str] = mapped_column(String(60), default="")
    query: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer, default=2)
    height: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
