"""A small hand-built warehouse whose every metric value is worked out by hand.

Workspace time zone Asia/Shanghai (UTC+8); timestamps below are naive UTC, with
the local time in the comment. The range under test is local 2026-10-01..03
(Thursday to Saturday, one ISO week starting Monday 2026-09-28).

People: p1..p5 and the test account t1 (excluded everywhere).
users  p1 reg Oct1 10:00 (金卡会员, ads) · p2 reg Oct1 00:30 (UTC Sep 30!, 普通会员, organic)
       p3 reg Oct1 23:59 (no level, ads) · p4 reg Oct2 00:01 (UTC Oct 1!, 银卡会员, organic)
       p5 reg Sep1 (普通会员, ads) · t1 test reg Oct1
events Oct1: p1 app, p2 web (00:40 local = Sep 30 UTC), p3 app (23:59:30) · t1
       Oct2: p1 app, p3 app (00:00:30 local = Oct 1 UTC), p4 miniprogram
       Oct3: p2 web (00:10 local = Oct 2 UTC), p5 app
       later: p3 Oct8, p1 Oct31, p5 Nov5 (returns for D7/D30); p5 Sep15 (history)
orders o1 p1 Oct1 100 completed app  · o2 p1 Oct2 23:30 50 paid app · o3 p2 Oct1 00:50 80 refunded web
       o4 p3 Oct3 200 cancelled · o5 p5 Sep10 60 completed · o6 p5 Oct3 40 returned
       o7 p4 Oct2 120 shipped store · o8 t1 Oct1 999 completed (test) · o9 p4 Oct3 30 created
       o10 p2 Oct2 30 completed web · o11 p1 Nov10 50 completed app
items  o1: P1×2, P2×1 · o2: P2×3 · o3: P1×1 · o7: P1×1, P3×1 (no cost)   (P1 cost 20, P2 cost 10)
spend  Sep30 ads 999 · Oct1 ads 100, search 50 · Oct2 ads 150
feedback survey: p1 10 (Oct1), p2 9 (Oct2), p3 5 (Oct2), p4 7 (Oct3), t1 0 (test)
         cs: p1 5 (Oct1), p2 2 (Oct2), p3 4 (Oct3) · review p5 1 (Oct3) · app-store p4 4 (Oct3)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from jingyun.config import Settings, load_settings
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.model import Dictionary
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend


def T(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def insert(wh: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows through Arrow (never executemany); missing columns stay NULL."""
    cols = list(rows[0])
    arrow = pa.Table.from_pylist(rows)
    wh.con.register("_rows", arrow)
    try:
        names = ", ".join(f'"{c}"' for c in cols)
        wh.con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _rows")
    finally:
        wh.con.unregister("_rows")


def _user(pid: str, reg: str, level: str | None, channel: str, test: bool = False) -> dict[str, Any]:
    return {"user_id": pid, "person_id": pid, "registered_at": T(reg), "member_level": level,
            "channel": channel, "is_test": test}


def _event(i: int, pid: str, ts: str, platform: str, event: str = "view_home", test: bool = False) -> dict[str, Any]:
    return {"event_id": f"e{i}", "user_id": pid, "person_id": pid, "event": event, "ts": T(ts),
            "platform": platform, "is_test": test, "properties": '{"src": "' + platform + '"}'}


def _order(oid: str, pid: str, ts: str, amount: str, status: str, channel: str, test: bool = False) -> dict[str, Any]:
    return {"order_id": oid, "user_id": pid, "person_id": pid, "ts": T(ts), "amount": Decimal(amount),
            "status": status, "channel": channel, "is_test": test}


def _fb(fid: str, pid: str, ts: str, source: str, score: float, test: bool = False) -> dict[str, Any]:
    return {"feedback_id": fid, "user_id": pid, "person_id": pid, "ts": T(ts), "source": source,
            "score": score, "is_test": test}


def fill(wh: Warehouse) -> None:
    insert(wh, "users", [
        _user("p1", "2026-10-01 02:00:00", "金卡会员", "ads"),
        _user("p2", "2026-09-30 16:30:00", "普通会员", "organic"),
        _user("p3", "2026-10-01 15:59:00", None, "ads"),
        _user("p4", "2026-10-01 16:01:00", "银卡会员", "organic"),
        _user("p5", "2026-08-31 20:00:00", "普通会员", "ads"),
        _user("t1", "2026-10-01 03:00:00", "钻石会员", "ads", test=True),
    ])
    insert(wh, "events", [
        _event(1, "p1", "2026-10-01 02:05:00", "app"),
        _event(2, "p2", "2026-09-30 16:40:00", "web", "app_start"),
        _event(3, "p3", "2026-10-01 15:59:30", "app"),
        _event(4, "t1", "2026-10-01 04:00:00", "app", test=True),
        _event(5, "p1", "2026-10-02 01:00:00", "app"),
        _event(6, "p3", "2026-10-01 16:00:30", "app"),
        _event(7, "p4", "2026-10-02 00:00:00", "miniprogram"),
        _event(8, "p2", "2026-10-02 16:10:00", "web"),
        _event(9, "p5", "2026-10-03 02:00:00", "app"),
        _event(10, "p3", "2026-10-08 04:00:00", "app"),
        _event(11, "p1", "2026-10-31 12:00:00", "app"),
        _event(12, "p5", "2026-11-05 02:00:00", "app"),
        _event(13, "p5", "2026-09-15 02:00:00", "app"),
    ])
    insert(wh, "orders", [
        _order("o1", "p1", "2026-10-01 02:10:00", "100.00", "completed", "app"),
        _order("o2", "p1", "2026-10-02 15:30:00", "50.00", "paid", "app"),
        _order("o3", "p2", "2026-09-30 16:50:00", "80.00", "refunded", "web"),
        _order("o4", "p3", "2026-10-02 16:20:00", "200.00", "cancelled", "web"),
        _order("o5", "p5", "2026-09-10 04:00:00", "60.00", "completed", "app"),
        _order("o6", "p5", "2026-10-03 02:00:00", "40.00", "returned", "app"),
        _order("o7", "p4", "2026-10-02 04:00:00", "120.00", "shipped", "store"),
        _order("o8", "t1", "2026-10-01 04:00:00", "999.00", "completed", "app", test=True),
        _order("o9", "p4", "2026-10-03 07:00:00", "30.00", "created", "app"),
        _order("o10", "p2", "2026-10-02 02:00:00", "30.00", "completed", "web"),
        _order("o11", "p1", "2026-11-10 04:00:00", "50.00", "completed", "app"),
    ])
    insert(wh, "products", [
        {"product_id": "P1", "category": "c", "price": Decimal("40.00"), "cost": Decimal("20.00")},
        {"product_id": "P2", "category": "c", "price": Decimal("20.00"), "cost": Decimal("10.00")},
        {"product_id": "P3", "category": "c", "price": Decimal("99.00"), "cost": None},
    ])
    insert(wh, "order_items", [
        {"order_id": "o1", "line_no": 1, "product_id": "P1", "quantity": 2, "amount": Decimal("80.00")},
        {"order_id": "o1", "line_no": 2, "product_id": "P2", "quantity": 1, "amount": Decimal("20.00")},
        {"order_id": "o2", "line_no": 1, "product_id": "P2", "quantity": 3, "amount": Decimal("50.00")},
        {"order_id": "o3", "line_no": 1, "product_id": "P1", "quantity": 1, "amount": Decimal("80.00")},
        {"order_id": "o7", "line_no": 1, "product_id": "P1", "quantity": 1, "amount": Decimal("40.00")},
        {"order_id": "o7", "line_no": 2, "product_id": "P3", "quantity": 1, "amount": Decimal("80.00")},
    ])
    insert(wh, "marketing_spend", [
        {"date": dt.date(2026, 9, 30), "channel": "ads", "campaign_id": "c0", "spend": Decimal("999.00")},
        {"date": dt.date(2026, 10, 1), "channel": "ads", "campaign_id": "c1", "spend": Decimal("100.00")},
        {"date": dt.date(2026, 10, 1), "channel": "search", "campaign_id": "c2", "spend": Decimal("50.00")},
        {"date": dt.date(2026, 10, 2), "channel": "ads", "campaign_id": "c1", "spend": Decimal("150.00")},
    ])
    insert(wh, "feedback", [
        _fb("f1", "p1", "2026-10-01 03:00:00", "survey", 10),
        _fb("f2", "p2", "2026-10-02 03:00:00", "survey", 9),
        _fb("f3", "p3", "2026-10-02 03:00:00", "survey", 5),
        _fb("f4", "p4", "2026-10-03 03:00:00", "survey", 7),
        _fb("f5", "t1", "2026-10-01 03:00:00", "survey", 0, test=True),
        _fb("f6", "p1", "2026-10-01 05:00:00", "cs", 5),
        _fb("f7", "p2", "2026-10-02 05:00:00", "cs", 2),
        _fb("f8", "p5", "2026-10-03 05:00:00", "review", 1),
        _fb("f9", "p4", "2026-10-03 05:00:00", "app-store", 4),
        _fb("f10", "p3", "2026-10-03 05:00:00", "cs", 4),
    ])


@pytest.fixture
def hand(wh: Warehouse) -> Iterator[DuckDBBackend]:
    fill(wh)
    yield DuckDBBackend(wh)


@pytest.fixture(scope="module")
def hand_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBBackend]:
    """The same data in one in-memory warehouse per module (read-only tests share it)."""
    warehouse = Warehouse.open(load_settings(tmp_path_factory.mktemp("hand")), memory=True)
    fill(warehouse)
    yield DuckDBBackend(warehouse)
    warehouse.close()


@pytest.fixture
def dictionary(settings: Settings) -> Dictionary:
    return load_dictionary(settings)
