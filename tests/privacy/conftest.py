"""A small workspace with one person to erase, planted with values that cannot occur by chance."""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jingyun.config import Settings
from jingyun.ingest.pipeline import ingest_file
from jingyun.messaging import consent
from jingyun.store.automation import JourneyEntryRow
from jingyun.store.db import Store, open_store
from jingyun.store.messages import MessageDelivery
from jingyun.store.models import AuditEntry, SegmentSnapshot
from jingyun.warehouse import Warehouse, person_orders

PHONE = "13912345678"
EMAIL = "secret.person@example.cn"
NAME = "王秘密"
TARGET_IDS = ("u_target", "u_target2", "anon_target_dev")
NEEDLES = (*TARGET_IDS, PHONE, EMAIL, NAME)

USERS = f"""user_id,registered_at,name,phone,email,gender,province,city,member_level
u_target,2026-01-05T01:00:00Z,{NAME},{PHONE},{EMAIL},female,浙江,杭州,gold
u_target2,2026-02-01T01:00:00Z,王小秘,,{EMAIL},female,浙江,杭州,regular
u_a,2026-01-06T01:00:00Z,张三,13800000001,a@example.cn,male,广东,广州,regular
u_b,2026-01-07T01:00:00Z,李四,13800000002,b@example.cn,female,北京,北京,silver
u_c,2026-01-08T01:00:00Z,赵五,13800000003,c@example.cn,male,上海,上海,regular
"""
ORDERS = """order_id,user_id,ts,amount,status,channel
o1,u_target,2026-03-01T02:00:00Z,100.00,paid,app
o2,u_target2,2026-03-02T02:00:00Z,50.50,completed,web
o3,u_a,2026-03-03T02:00:00Z,20.00,paid,app
o4,u_b,2026-03-04T02:00:00Z,30.25,paid,app
o5,u_c,2026-03-05T02:00:00Z,7.00,cancelled,app
"""


def _events() -> str:
    rows = [
        {"event_id": "e1", "user_id": "u_target", "anonymous_id": "anon_target_dev", "event": "view_product",
         "ts": "2026-03-01T01:00:00Z", "platform": "app", "properties": {"note": f"call me at {PHONE}"}},
        {"event_id": "e2", "anonymous_id": "anon_target_dev", "event": "app_open", "ts": "2026-03-01T00:30:00Z", "platform": "app"},
        {"event_id": "e3", "user_id": "u_target2", "event": "view_product", "ts": "2026-03-02T01:00:00Z", "platform": "web"},
        {"event_id": "e4", "user_id": "u_a", "event": "view_product", "ts": "2026-03-03T01:00:00Z", "platform": "app"},
        {"event_id": "e5", "user_id": "u_b", "event": "app_open", "ts": "2026-03-04T01:00:00Z", "platform": "app"},
        {"event_id": "e6", "user_id": "u_c", "event": "app_open", "ts": "2026-03-05T01:00:00Z", "platform": "app"},
        {"event_id": "e7", "user_id": "u_target", "event": "view_product", "ts": "not a time", "platform": "app"},
    ]
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"


@dataclass
class Planted:
    settings: Settings
    home: Path
    files: dict[str, Path]


@pytest.fixture
def planted(settings: Settings, home: Path, tmp_path: Path) -> Iterator[Planted]:
    src = tmp_path / "src"
    src.mkdir()
    files = {"users": src / "users.csv", "orders": src / "orders.csv", "events": src / "events.ndjson"}
    files["users"].write_text(USERS, encoding="utf-8")
    files["orders"].write_text(ORDERS, encoding="utf-8")
    files["events"].write_text(_events(), encoding="utf-8")
    with Warehouse.open(settings) as wh:
        for table in ("users", "events", "orders"):
            ingest_file(wh, table, files[table])
        person_orders.rebuild(wh)
        wh.con.execute("INSERT INTO model_scores VALUES ('u_target', 'churn', 'p', 0.9, now()), ('u_a', 'churn', 'p', 0.1, now())")
        wh.con.execute("CREATE TABLE IF NOT EXISTS segment_members (segment VARCHAR NOT NULL, person_id VARCHAR NOT NULL, since TIMESTAMP)")
        wh.con.execute("INSERT INTO segment_members VALUES ('vip', 'u_target', now()), ('vip', 'u_a', now())")
    store = open_store(settings)
    try:
        consent.record(store, "u_target", purpose="marketing", granted=True)
        consent.record(store, "u_a", purpose="marketing", granted=True)
        now = dt.datetime(2026, 3, 6)
        with store.session() as ses:
            ses.add(MessageDelivery(key="journey:j:1:u_target", channel="email", recipient=EMAIL, user_id="u_target",
                                    purpose="marketing", status="sent", created_at=now, updated_at=now))
            ses.add(MessageDelivery(key="journey:j:1:u_a", channel="email", recipient="a@example.cn", user_id="u_a",
                                    purpose="marketing", status="sent", created_at=now, updated_at=now))
            ses.add(JourneyEntryRow(journey_key="j", version=1, user_id="u_target", entered_at=now, updated_at=now))
            ses.add(AuditEntry(ts=now, actor="admin", actor_role="admin", action="read_personal", target="person:u_target"))
            ses.add(AuditEntry(ts=now, actor="admin", actor_role="admin", action="read_personal", target="person:u_a"))
            data = {"groups": {"u_target": "A", "u_a": "B", "u_b": "A"}, "counts": {"A": 2, "B": 1}}
            ses.add(SegmentSnapshot(scheme="rfm", label="2026-03", taken_at=now, persons=3, counts=json.dumps(data["counts"]),
                                    data=zlib.compress(json.dumps(data).encode())))
    finally:
        store.close()
    exports = home / "exports"
    exports.mkdir()
    (exports / "vip.csv").write_text(f"person_id,phone\nu_target,{PHONE}\nu_a,13800000001\n", encoding="utf-8")
    yield Planted(settings, home, files)


def open_planted_store(settings: Settings) -> Store:
    return open_store(settings)
