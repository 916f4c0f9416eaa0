"""Known rows straight into the warehouse tables for the attribution/channel/diagnosis tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa

from jingyun.warehouse import Warehouse

_TYPES: dict[str, pa.DataType] = {
    "ts": pa.timestamp("us"), "registered_at": pa.timestamp("us"), "date": pa.date32(),
    "amount": pa.decimal128(18, 2), "spend": pa.decimal128(18, 2), "price": pa.decimal128(18, 2),
    "cost": pa.decimal128(18, 2), "unit_price": pa.decimal128(18, 2), "quantity": pa.int64(), "line_no": pa.int64(),
    "is_test": pa.bool_(),
}


def _value(col: str, v: Any) -> Any:
    if v is None:
        return None
    if col in ("ts", "registered_at") and isinstance(v, str):
        return dt.datetime.fromisoformat(v)
    if col == "date" and isinstance(v, str):
        return dt.date.fromisoformat(v)
    if _TYPES.get(col) == pa.decimal128(18, 2):
        return Decimal(str(v))
    return v


def insert(wh: Warehouse, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]],
           defaults: dict[str, Any] | None = None) -> None:
    """Insert rows given as tuples in ``columns`` order; ``defaults`` fill extra columns."""
    cols: dict[str, list[Any]] = {c: [_value(c, r[i]) for r in data] for i, c in enumerate(columns)}
    for k, v in (defaults or {}).items():
        cols.setdefault(k, [v] * len(data))
    arrays = {k: pa.array(v, _TYPES.get(k)) if k in _TYPES else pa.array(v, pa.string()) for k, v in cols.items()}
    tbl = pa.table(arrays)
    wh.con.register("_rows", tbl)
    wh.con.execute(f"INSERT INTO {table} ({', '.join(tbl.column_names)}) SELECT * FROM _rows")
    wh.con.unregister("_rows")


def touches(wh: Warehouse, data: Sequence[tuple[str, str, str]]) -> None:
    """(person, ts UTC, channel) — campaign = channel."""
    insert(wh, "touches", ("user_id", "ts", "channel"), data, None)
    wh.con.execute("UPDATE touches SET person_id = user_id, campaign_id = channel, is_test = FALSE "
                   "WHERE person_id IS NULL")


def orders(wh: Warehouse, data: Sequence[tuple[Any, ...]]) -> None:
    """(order_id, person, ts UTC, amount[, status[, channel]])."""
    full = [(*r, *(None,) * (6 - len(r))) for r in data]
    full = [(o, u, t, a, s or "completed", c or "app") for o, u, t, a, s, c in full]
    insert(wh, "orders", ("order_id", "user_id", "ts", "amount", "status", "channel"), full)
    wh.con.execute("UPDATE orders SET person_id = user_id, is_test = FALSE WHERE person_id IS NULL")


def users(wh: Warehouse, data: Sequence[tuple[Any, ...]]) -> None:
    """(user_id, registered_at UTC, channel[, province])."""
    full = [(*r, *(None,) * (4 - len(r))) for r in data]
    insert(wh, "users", ("user_id", "registered_at", "channel", "province"), full)
    wh.con.execute("UPDATE users SET person_id = user_id, is_test = FALSE WHERE person_id IS NULL")
