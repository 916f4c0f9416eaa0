"""Access and copy (PIPL Art. 44–45, 查阅复制权): everything held about one person, as JSON.

Warehouse rows from every table that names the person (users revealed from their sealed columns:
the caller is an admin), the order lines and payments of their orders, and from the metadata store
their consent records, deliveries, coupon codes, journey state and the audit entries about them.
Times carry the workspace offset; money is exact text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

from sqlalchemy import String, inspect, or_, select

from jingyun.localtime import local_iso
from jingyun.privacy.erase import STORE_SUBJECT_COLUMNS, _match, _warehouse_tables
from jingyun.privacy.subject import find
from jingyun.store.db import Store
from jingyun.store.models import AuditEntry, Base
from jingyun.warehouse import personal
from jingyun.warehouse.connection import Warehouse

SEALED_INTERNAL = tuple(personal.SEALED_COLUMNS)


def _value(v: Any, tz: str) -> Any:
    if isinstance(v, dt.datetime):
        return local_iso(v, tz)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, bytes):
        return None
    return v


def _rows(wh: Warehouse, sql: str, params: Any, tz: str) -> list[dict[str, Any]]:
    cur = wh.con.execute(sql, params)
    names = [d[0] for d in cur.description or []]
    return [{n: _value(v, tz) for n, v in zip(names, r, strict=True)} for r in cur.fetchall()]


def export_person(wh: Warehouse, store: Store, user_id: str) -> dict[str, Any]:
    tz = wh.settings.timezone
    subject = find(wh, user_id)
    ids = list(subject.ids)
    warehouse: dict[str, list[dict[str, Any]]] = {}
    for table, columns in _warehouse_tables(wh).items():
        rows = _rows(wh, f'SELECT * FROM "{table}" WHERE {_match(columns)}', {"ids": ids}, tz)
        if table == "users":
            rows = [{k: v for k, v in r.items() if k not in SEALED_INTERNAL} | {"birth_date": r.get("birth_date")}
                    for r in personal.reveal(wh, rows)]
            rows = [{k: _value(v, tz) for k, v in r.items()} for r in rows]
        if rows:
            warehouse[table] = rows
    orders = [str(o["order_id"]) for o in warehouse.get("orders", [])]
    for table in ("order_items", "payments"):
        rows = _rows(wh, f"SELECT * FROM {table} WHERE order_id IN (SELECT unnest($o))", {"o": orders}, tz)
        if rows:
            warehouse[table] = rows
    metadata: dict[str, list[dict[str, Any]]] = {}
    subjects = [*ids, *("addr:" + e.lower() for e in subject.emails)]
    present = set(inspect(store.engine).get_table_names())
    with store.session() as ses:
        for meta in Base.metadata.sorted_tables:
            if meta.name.startswith("privacy_") or meta.name == "audit_log" or meta.name not in present:
                continue
            conds = [meta.c[c].in_(subjects) for c in STORE_SUBJECT_COLUMNS
                     if c in meta.c and isinstance(meta.c[c].type, String)]
            if not conds:
                continue
            found = [{k: _value(v, tz) for k, v in r._mapping.items()} for r in ses.execute(select(meta).where(or_(*conds)))]
            if found:
                metadata[meta.name] = found
        about = or_(*[AuditEntry.target == i for i in ids], *[AuditEntry.target.like(f"%:{i}") for i in ids])
        audit = [{"id": a.id, "ts": local_iso(a.ts, tz), "actor": a.actor, "action": a.action, "target": a.target,
                  "outcome": a.outcome, "detail": json.loads(a.detail or "{}")}
                 for a in ses.scalars(select(AuditEntry).where(about).order_by(AuditEntry.id))]
    return {
        "user_id": user_id,
        "person_ids": list(subject.person_ids),
        "user_ids": list(subject.user_ids),
        "anonymous_ids": list(subject.anonymous_ids),
        "exported_at": local_iso(dt.datetime.now(dt.UTC).replace(tzinfo=None), tz),
        "warehouse": warehouse,
        "metadata": metadata,
        "audit": audit,
    }
