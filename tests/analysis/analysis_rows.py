"""Known rows straight into the warehouse tables (events, users, orders) for the analysis tests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from jingyun.warehouse import Warehouse

EventRow = tuple[Any, ...]  # (user, event, ts "YYYY-MM-DD HH:MM:SS" UTC[, platform[, props[, is_test[, session]]]])


def _ts(value: str | dt.datetime) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def insert_events(wh: Warehouse, events: Sequence[EventRow]) -> None:
    """Insert events (person_id = user id); ids continue from what is already stored."""
    start = int(wh.rows("SELECT count(*) FROM events")[0][0])
    cols: dict[str, list[Any]] = {k: [] for k in
                                  ("event_id", "user_id", "event", "ts", "platform", "session_id", "properties",
                                   "person_id", "is_test")}
    for i, row in enumerate(events):
        user, event, ts = row[0], row[1], row[2]
        platform = row[3] if len(row) > 3 else "app"
        props = row[4] if len(row) > 4 else None
        cols["event_id"].append(f"e{start + i:07d}")
        cols["user_id"].append(user)
        cols["event"].append(event)
        cols["ts"].append(_ts(ts))
        cols["platform"].append(platform)
        cols["session_id"].append(row[6] if len(row) > 6 else None)
        cols["properties"].append(json.dumps(props) if props is not None else None)
        cols["person_id"].append(user)
        cols["is_test"].append(bool(row[5]) if len(row) > 5 else False)
    table = pa.table({**cols, "ts": pa.array(cols["ts"], pa.timestamp("us"))})
    wh.con.register("_new_events", table)
    names = ", ".join(table.column_names)
    select = ", ".join("CAST(properties AS JSON)" if c == "properties" else c for c in table.column_names)
    wh.con.execute(f"INSERT INTO events ({names}) SELECT {select} FROM _new_events")
    wh.con.unregister("_new_events")


def insert_users(wh: Warehouse, users: Sequence[tuple[str, str | None, str | None]]) -> None:
    """(user_id, registered_at UTC, channel)."""
    table = pa.table({
        "user_id": [u[0] for u in users],
        "registered_at": pa.array([_ts(u[1]) if u[1] else None for u in users], pa.timestamp("us")),
        "channel": [u[2] for u in users],
    })
    wh.con.register("_new_users", table)
    wh.con.execute("INSERT INTO users (user_id, registered_at, channel, person_id, is_test) "
                   "SELECT user_id, registered_at, channel, user_id, FALSE FROM _new_users")
    wh.con.unregister("_new_users")


def insert_orders(wh: Warehouse, orders: Sequence[tuple[str, str, float, str]]) -> None:
    """(user_id, ts UTC, amount, status)."""
    start = int(wh.rows("SELECT count(*) FROM orders")[0][0])
    table = pa.table({
        "order_id": [f"o{start + i:06d}" for i in range(len(orders))],
        "user_id": [o[0] for o in orders],
        "ts": pa.array([_ts(o[1]) for o in orders], pa.timestamp("us")),
        "amount": [str(o[2]) for o in orders],
        "status": [o[3] for o in orders],
    })
    wh.con.register("_new_orders", table)
    wh.con.execute("INSERT INTO orders (order_id, user_id, ts, amount, status, person_id, is_test) "
                   "SELECT order_id, user_id, ts, CAST(amount AS DECIMAL(18,2)), status, user_id, FALSE FROM _new_orders")
    wh.con.unregister("_new_orders")
