"""Customer rows and their activity summary (用户资料读取): the data access behind profiles and exports.

Raw data, as every library function returns it: personal columns come back decrypted
(:func:`jingyun.warehouse.personal.reveal`), and the edges (API, console) mask them by role through
``security.masking``. Callers never write SQL against ``users`` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jingyun.localtime import LocalTime
from jingyun.metrics.definitions import real_people
from jingyun.schema.tables import USERS
from jingyun.warehouse import personal
from jingyun.warehouse.connection import Warehouse
from jingyun.warehouse.sqltext import ident

USER_COLUMNS = [c.name for c in USERS.columns if not c.name.startswith("_")]


def fetch_users(wh: Warehouse, where: str, params: list[Any], limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """(rows matching ``where``, one page of them ordered by ``user_id``), personal columns revealed."""
    cols = ", ".join(ident(c) for c in USER_COLUMNS)
    total = int(wh.scalar(f"SELECT count(*) FROM users WHERE {where}", params))
    rows = wh.rows(f"SELECT {cols} FROM users WHERE {where} ORDER BY user_id LIMIT {int(limit)} OFFSET {int(offset)}",
                   params)
    return total, personal.reveal(wh, [dict(zip(USER_COLUMNS, r, strict=True)) for r in rows])


def page_users(wh: Warehouse, *, limit: int, offset: int, members: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Every users row, or those whose person is in the SQL ``members`` (a query of ``person_id``)."""
    where = f"person_id IN (SELECT person_id FROM ({members}) m)" if members else "TRUE"
    return fetch_users(wh, where, [], limit, offset)


def get_user(wh: Warehouse, user_id: str) -> dict[str, Any] | None:
    """One users row by ``user_id``, or None."""
    _, rows = fetch_users(wh, "user_id = ?", [user_id], 1, 0)
    return rows[0] if rows else None


@dataclass(frozen=True)
class OrdersSummary:
    count: int
    amount: float
    last_ts: LocalTime | None  # stored naive UTC; edges show it local (jingyun.localtime)


@dataclass(frozen=True)
class EventsSummary:
    count: int
    last_ts: LocalTime | None


@dataclass(frozen=True)
class Activity:
    """A person's orders (test orders left out) and events, as the profile header shows them."""

    orders: OrdersSummary
    events: EventsSummary


def activity(wh: Warehouse, person_id: str) -> Activity:
    o = wh.rows(f"SELECT count(*), coalesce(sum(amount), 0), max(ts) FROM orders WHERE person_id = ? "
                f"AND {real_people()}", [person_id])[0]
    e = wh.rows("SELECT count(*), max(ts) FROM events WHERE person_id = ?", [person_id])[0]
    return Activity(OrdersSummary(int(o[0]), float(o[1]), o[2]), EventsSummary(int(e[0]), e[1]))
