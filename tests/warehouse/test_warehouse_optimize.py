"""``jingyun optimize``: fact tables rewritten in their sort order (events by event, time
and id; orders by time and id) with the same rows, columns and types; the per-person
order summary rebuilt; read-only warehouses and unknown tables refused."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from jingyun.cli.main import main
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse, person_orders
from jingyun.warehouse.optimize import optimize

T0 = dt.datetime(2026, 5, 1)
EVENTS = ("view_product", "add_to_cart", "pay", "search")


def _insert(wh: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    wh.con.register("_rows", pa.Table.from_pylist(rows))
    try:
        wh.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
    finally:
        wh.con.unregister("_rows")


def _fill(wh: Warehouse, seed: int = 3) -> None:
    rng = random.Random(seed)
    events = [{
        "event_id": f"e{i:04d}", "user_id": f"u{rng.randint(0, 30)}", "event": rng.choice(EVENTS),
        # few distinct times: many (event, ts) ties, ordered by event_id
        "ts": T0 + dt.timedelta(hours=rng.randint(0, 40)), "platform": rng.choice(["app", "web", None]),
        "properties": json.dumps({"category": rng.choice(["服饰", "食品"]), "price": rng.randint(1, 9)},
                                 ensure_ascii=False),
        "is_test": rng.random() < 0.05, "_source": "s", "_ingested_at": T0,
    } for i in range(600)]
    for e in events:
        e["person_id"] = e["user_id"]
    orders = [{
        "order_id": f"o{i:04d}", "user_id": f"u{rng.randint(0, 30)}",
        "ts": T0 + dt.timedelta(hours=rng.randint(0, 40)), "amount": rng.choice([10, 25.5, 99.99]),
        "coupon_id": rng.choice([None, "c1"]), "status": rng.choice(["paid", "completed", "refunded", None]),
        "is_test": rng.random() < 0.05, "_source": "s", "_ingested_at": T0,
    } for i in range(300)]
    for o in orders:
        o["person_id"] = o["user_id"]
    rng.shuffle(events)
    rng.shuffle(orders)
    # several inserts: several appends, in no particular order
    for part in range(3):
        _insert(wh, "events", events[part::3])
        _insert(wh, "orders", orders[part::3])


def _all_rows(wh: Warehouse, table: str, key: str) -> list[tuple[Any, ...]]:
    return wh.rows(f"SELECT * FROM {table} ORDER BY {key}")


def _stored_order(wh: Warehouse, table: str, cols: str) -> list[tuple[Any, ...]]:
    return wh.rows(f"SELECT {cols} FROM {table} ORDER BY rowid")


def test_optimize_sorts_and_keeps_every_row(wh: Warehouse, settings: Settings) -> None:
    _fill(wh)
    before = {t: _all_rows(wh, t, k) for t, k in (("events", "event_id"), ("orders", "order_id"))}
    described = {t: wh.rows(f"DESCRIBE {t}") for t in ("events", "orders")}
    ev_sorted = sorted(_stored_order(wh, "events", "event, ts, event_id"))
    or_sorted = sorted(_stored_order(wh, "orders", "ts, order_id"))
    assert _stored_order(wh, "events", "event, ts, event_id") != ev_sorted  # not sorted yet
    assert _stored_order(wh, "orders", "ts, order_id") != or_sorted
    assert not person_orders.state(wh).exists

    reports = optimize(wh)

    assert [(r.table, r.rows, r.sorted_by) for r in reports] == [
        ("events", 600, "event, ts"), ("orders", 300, "ts"),
        ("person_orders", wh.scalar("SELECT count(DISTINCT person_id) FROM orders WHERE "
                                    f"{person_orders.VALID_ORDER}"), "(rebuilt)"),
    ]
    assert 0 < reports[2].rows <= 31
    for t, k in (("events", "event_id"), ("orders", "order_id")):
        assert _all_rows(wh, t, k) == before[t]  # every row, every column, unchanged
        assert wh.rows(f"DESCRIBE {t}") == described[t]
    assert _stored_order(wh, "events", "event, ts, event_id") == ev_sorted
    assert _stored_order(wh, "orders", "ts, order_id") == or_sorted
    # a plain scan (insertion order kept) reads them in that order too
    wh.con.execute("SET preserve_insertion_order = true")
    assert wh.rows("SELECT event, ts, event_id FROM events") == ev_sorted
    assert wh.rows("SELECT ts, order_id FROM orders") == or_sorted
    state = person_orders.state(wh)
    assert state.exists and state.current and state.rows == reports[2].rows
    assert person_orders.usable(wh, T0 + dt.timedelta(days=10))
    summary = wh.rows(f"SELECT person_id, orders, amount FROM {person_orders.TABLE} ORDER BY person_id")
    assert summary == wh.rows(f"SELECT person_id, count(*), sum(amount) FROM orders WHERE {person_orders.VALID_ORDER} "
                              "GROUP BY person_id ORDER BY person_id")
    # the order is on disk: a new connection sees the same
    wh.close()
    with Warehouse.open(settings) as again:
        assert _stored_order(again, "events", "event, ts, event_id") == ev_sorted
        assert _all_rows(again, "orders", "order_id") == before["orders"]
        assert person_orders.usable(again, T0 + dt.timedelta(days=10))


def test_optimize_one_table_leaves_the_other(wh: Warehouse) -> None:
    _fill(wh, seed=4)
    orders_stored = _stored_order(wh, "orders", "order_id")
    reports = optimize(wh, ("events",))
    assert [(r.table, r.rows) for r in reports][:1] == [("events", 600)]
    assert [r.table for r in reports] == ["events", "person_orders"]
    assert _stored_order(wh, "orders", "order_id") == orders_stored
    assert optimize(wh, ("orders",), summary=False)[0].rows == 300
    assert [r.table for r in optimize(wh, ("orders",), summary=False)] == ["orders"]


def test_optimize_refuses_read_only_and_unknown_tables(settings: Settings) -> None:
    with Warehouse.open(settings) as wh:
        _fill(wh)
        stored = _stored_order(wh, "events", "event_id")
        with pytest.raises(JingyunError) as err:
            optimize(wh, ("events", "nosuch"))
        assert err.value.code == "unknown_table" and "nosuch" in err.value.message
        with pytest.raises(JingyunError) as err:
            optimize(wh, ("order_items",))  # no time column to sort by
        assert err.value.code == "bad_table" and "order_items" in err.value.message
        assert _stored_order(wh, "events", "event_id") == stored  # nothing was rewritten
        assert not person_orders.state(wh).exists
    with Warehouse.open(settings, read_only=True) as ro:
        with pytest.raises(JingyunError) as err:
            optimize(ro)
        assert err.value.code == "read_only"
        assert _stored_order(ro, "events", "event_id") == stored


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_optimize(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ev = tmp_path / "e.ndjson"
    ev.write_text("".join(json.dumps({"event_id": f"e{i}", "user_id": f"u{i % 3}", "event": "pay",
                                      "ts": f"2026-05-{10 - i % 5:02d}T10:00:00Z"}) + "\n" for i in range(8)),
                  encoding="utf-8")
    orders = tmp_path / "o.ndjson"
    orders.write_text("".join(json.dumps({"order_id": f"o{i}", "user_id": f"u{i % 3}", "amount": 10 + i,
                                          "ts": f"2026-05-{20 - i:02d}T10:00:00Z", "status": "paid"}) + "\n"
                              for i in range(5)), encoding="utf-8")
    assert _run(["ingest", "events", str(ev)], capsys)[0] == 0
    assert _run(["ingest", "orders", str(orders)], capsys)[0] == 0

    code, out, err = _run(["optimize", "--json"], capsys)
    assert code == 0, err
    got = json.loads(out)
    assert [(r["table"], r["rows"], r["sorted_by"]) for r in got] == [
        ("events", 8, "event, ts"), ("orders", 5, "ts"), ("person_orders", 3, "(rebuilt)"),
    ]
    code, out, err = _run(["optimize", "--table", "orders", "--json"], capsys)
    assert code == 0, err
    assert [r["table"] for r in json.loads(out)] == ["orders", "person_orders"]

    code, out, err = _run(["optimize", "--table", "nosuch"], capsys)
    assert code == 2 and out == ""
    assert "unknown table 'nosuch'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err

    code, _, err = _run(["optimize", "--table", "order_items"], capsys)
    assert code == 2 and "no time column" in err and len(err.strip().splitlines()) == 1


def test_compact_vacuums_although_the_service_turned_vacuuming_off(tmp_path: Path) -> None:
    """The service's checkpoints do not vacuum (they would block commits for seconds); ``compact`` does,
    once, and leaves the connection's setting as it found it."""
    from jingyun.warehouse.optimize import compact

    wh = Warehouse.open(Settings(home=tmp_path))
    try:
        con = wh.con
        con.execute("SET max_vacuum_tasks = 0")
        con.execute("CREATE TABLE scratch (a BIGINT, b VARCHAR)")

        def row_groups() -> int:
            return int(con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('scratch')").fetchall()[0][0])

        def churn(k: int) -> None:  # four loads of a row group and a bit, then a third of the rows deleted
            for i in range(4):
                con.execute(f"INSERT INTO scratch SELECT i, 'x' || i FROM range({k + i * 130_000}, {k + (i + 1) * 130_000}) r(i)")
            con.execute(f"DELETE FROM scratch WHERE a >= {k} AND a % 3 = 0")

        churn(0)
        con.execute("CHECKPOINT")  # what the service does: no vacuum, the partly filled row groups stay
        kept = row_groups()
        churn(10_000_000)
        assert compact(wh) is True
        assert row_groups() < kept * 2  # the second load's groups merged (without vacuum: exactly twice)
        assert con.execute("SELECT count(*) FROM scratch").fetchall()[0][0] == sum(
            1 for k in (0, 10_000_000) for a in range(k, k + 520_000) if a % 3)
        assert con.execute("SELECT current_setting('max_vacuum_tasks')").fetchall()[0][0] == 0
    finally:
        wh.close()
    assert compact(Warehouse.open(Settings(home=tmp_path / "mem"), memory=True)) is False
