"""The absence rule's event-time semantics, pinned on a hand-built warehouse.

A view at t with no order in (t, t+30 min] fires at t+30 min: an order at 29:59 or exactly 30:00
cancels, one at 30:01 does not, one at the view's own instant does not.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import automation_rows as rows
import pytest

from jingyun.automation.journey import parse_journey
from jingyun.automation.simulate import simulate
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend

TZ = "Asia/Shanghai"
DAY = dt.date(2026, 3, 2)
T0 = dt.datetime(2026, 3, 2, 2, 0)  # 10:00 in Shanghai: outside quiet hours


def browse(**extra: object) -> dict[str, object]:
    return {"key": "browse", "holdout": 0, "trigger": {"type": "event", "event": "view_product", "absent": {
        "any_of": [{"event": "order"}, {"event": "pay"}], "within": "30m"}},
        "steps": [{"id": "push", "type": "action", "channel": "push", "template": "t"}], **extra}


def run(backend: DuckDBBackend, journey: dict[str, object], **kw: object) -> dict[str, Any]:
    [result] = simulate(backend, [parse_journey(journey)], DAY, DAY, timezone=TZ, with_users=True, **kw)  # type: ignore[arg-type]
    return result.to_dict(with_users=True)


@pytest.mark.parametrize(("offset", "fires"), [
    (dt.timedelta(minutes=29, seconds=59), False),
    (dt.timedelta(minutes=30), False),
    (dt.timedelta(minutes=30, seconds=1), True),
    (dt.timedelta(0), True),  # an order at the view's own instant is not in (t, t+30 min]
])
@pytest.mark.parametrize("cancel", ["order", "pay"])
def test_thirty_minute_rule(wh: Warehouse, backend: DuckDBBackend, offset: dt.timedelta, fires: bool,
                            cancel: str) -> None:
    rows.users(wh, [{"user_id": "u1"}])
    rows.events(wh, [("u1", "view_product", T0)])
    if cancel == "order":
        rows.orders(wh, [("u1", T0 + offset)])
    else:
        rows.events(wh, [("u1", "pay", T0 + offset)])
    out = run(backend, browse())
    assert out["entered"] == (1 if fires else 0)
    if fires:
        assert out["users"] == [{"user_id": "u1", "entered_at": "2026-03-02T10:30:00+08:00", "path": ["push"]}]
        assert out["actions"] == {"push": 1}


def test_cancelled_order_does_not_cancel(wh: Warehouse, backend: DuckDBBackend) -> None:
    """"Placed an order" is the placed_orders definition: a cancelled order is no order."""
    rows.users(wh, [{"user_id": "u1"}])
    rows.events(wh, [("u1", "view_product", T0)])
    rows.orders(wh, [("u1", T0 + dt.timedelta(minutes=5), "cancelled")])
    assert run(backend, browse())["entered"] == 1


def test_test_accounts_and_strangers_never_enter(wh: Warehouse, backend: DuckDBBackend) -> None:
    rows.users(wh, [{"user_id": "u1"}, {"user_id": "qa1", "is_test": True}])
    rows.events(wh, [("u1", "view_product", T0), ("qa1", "view_product", T0, None, True),
                     ("anon9", "view_product", T0)])  # anon9 has no users row and no order: not a person
    out = run(backend, browse())
    assert [u["user_id"] for u in out["users"]] == ["u1"]


def test_fire_time_decides_the_day(wh: Warehouse, backend: DuckDBBackend) -> None:
    """A view at 23:45 local on the day before fires at 00:15 local on the day: it belongs to the day."""
    rows.users(wh, [{"user_id": "u1"}, {"user_id": "u2"}])
    rows.events(wh, [("u1", "view_product", "2026-03-01 15:45:00"),   # 23:45 local, 1 March
                     ("u2", "view_product", "2026-03-02 15:45:00")])  # 23:45 local, 2 March → fires 3 March
    out = run(backend, browse(on_quiet_hours="drop"))
    assert [(u["user_id"], u["entered_at"]) for u in out["users"]] == [("u1", "2026-03-02T00:15:00+08:00")]
    assert out["suppressed"]["quiet_hours"] == 1 and out["actions"] == {"push": 0}


def test_property_filters(wh: Warehouse, backend: DuckDBBackend) -> None:
    rows.users(wh, [{"user_id": "u1"}, {"user_id": "u2"}])
    rows.events(wh, [("u1", "view_product", T0, {"category": "母婴", "price": 300}),
                     ("u2", "view_product", T0, {"category": "数码", "price": 300})])
    j = browse()
    j["trigger"]["where"] = [{"key": "category", "op": "eq", "value": "母婴"},  # type: ignore[index]
                             {"key": "price", "op": "gte", "value": 200}]
    assert [u["user_id"] for u in run(backend, j)["users"]] == ["u1"]


def test_every_view_is_a_candidate_and_the_entry_limit_keeps_one_a_day(wh: Warehouse, backend: DuckDBBackend) -> None:
    rows.users(wh, [{"user_id": "u1"}])
    rows.events(wh, [("u1", "view_product", T0 + dt.timedelta(hours=h)) for h in (0, 1, 2)])
    out = run(backend, browse())
    assert out["entered"] == 1 and out["suppressed"]["entry_limit"] == 2
    out = run(backend, browse(entry_limit="1h"))
    assert out["entered"] == 3 and out["suppressed"]["entry_limit"] == 0
