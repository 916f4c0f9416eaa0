"""Exact counts on files built with known answers; every kind of bad record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from ingest_helpers import event, write_ndjson

from jingyun.ingest import ingest_file
from jingyun.ingest import quarantine as q
from jingyun.warehouse import Warehouse

BAD_EVENTS = [
    # (record, expected reason)
    (event(..., event_id=...), "missing_required:event_id"),
    (event("m2", user_id=None, anonymous_id=None), "missing_identity:user_id"),
    (event("m3", user_id="null"), "placeholder_id:user_id"),
    (event("m4", user_id="undefined"), "placeholder_id:user_id"),
    (event("m5", user_id="guest"), "placeholder_id:user_id"),
    (event("m6", event=""), "missing_required:event"),
    (event("m7", ts="yesterday-ish"), "bad_timestamp:ts"),
    (event("m8", ts="1970-06-01T00:00:00Z"), "timestamp_out_of_range:ts"),
    (event("m9", ts="2099-01-01T00:00:00Z"), "timestamp_out_of_range:ts"),
    (event("m10", platform="tv"), "unknown_enum:platform"),
    (event("m11", properties="not an object"), "wrong_type:properties"),
    (event("m12", properties=[1, 2]), "wrong_type:properties"),
    ('{"event_id": "m13", "user_id": "u1", "event": "x", ', "malformed_json"),
    (b'{"event_id": "m14", "user_id": "u1\xff\xfe", "event": "view_product", "ts": "2026-10-01T10:00:00Z"}', "invalid_utf8"),
    (event("m15", properties={"blob": "x" * (10 << 20)}), "record_too_large"),
    ('[1, 2, 3]', "not_an_object"),
]


def test_every_bad_event_is_quarantined_with_its_reason(wh: Warehouse, files: Path) -> None:
    good = [event(i) for i in range(5)]
    path = write_ndjson(files / "mixed.ndjson", [*good, *(rec for rec, _ in BAD_EVENTS)])
    report = ingest_file(wh, "events", path)
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (21, 5, 0, 16)
    expected: dict[str, int] = {}
    for _, reason in BAD_EVENTS:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(report.reasons) == expected
    total, rows = q.list_rows(wh, table="events", limit=100)
    assert total == 16
    by_line = {r.line: r for r in rows}
    # line numbers point at the physical line of the file (good rows are lines 1-5)
    assert sorted(by_line) == list(range(6, 22))
    assert by_line[18].reason == "malformed_json" and by_line[18].raw.startswith('{"event_id": "m13"')
    assert by_line[19].reason == "invalid_utf8" and "\\xff" in by_line[19].raw
    assert by_line[20].reason == "record_too_large" and len(by_line[20].raw) > 10 << 20
    assert wh.count("events") == 5


def test_old_history_is_valid_and_future_limit_is_configurable(home: Path, files: Path) -> None:
    from jingyun.config import load_settings

    wh = Warehouse.open(load_settings(home, max_future_hours=48))
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=36)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = files / "orders.csv"
    path.write_text(
        "order_id,user_id,ts,amount,status\n"
        "o1,u1,1997-03-02 10:00:00,12.50,completed\n"
        f"o2,u1,{soon},5,paid\n"
        f"o3,u1,{later},5,paid\n"
        "o4,u1,1970-12-31 23:00:00,5,paid\n",
        encoding="utf-8",
    )
    report = ingest_file(wh, "orders", path)
    assert report.stored == 2
    assert dict(report.reasons) == {"timestamp_out_of_range:ts": 2}
    assert wh.rows("SELECT order_id FROM orders ORDER BY order_id") == [("o1",), ("o2",)]
    wh.close()


def test_timestamp_formats(wh: Warehouse, files: Path) -> None:
    # all the same instant: 2026-10-01 02:00:00 UTC = 10:00 in Asia/Shanghai
    stamps = [
        "2026-10-01T10:00:00+08:00", "2026-10-01T02:00:00Z", "2026-10-01T02:00:00.000Z", "2026-10-01 10:00:00",
        "2026-10-01T04:00:00+0200", 1790820000, 1790820000000, "1790820000", "1790820000000", 1790820000.0,
    ]
    path = write_ndjson(files / "ts.ndjson", [event(i, ts=s) for i, s in enumerate(stamps)])
    report = ingest_file(wh, "events", path)
    assert report.stored == len(stamps), report.reasons
    assert wh.rows("SELECT DISTINCT ts FROM events") == [(dt.datetime(2026, 10, 1, 2, 0),)]


def test_duplicate_across_two_files_is_stored_once(wh: Warehouse, files: Path) -> None:
    a = write_ndjson(files / "a.ndjson", [event(1), event(2), event(2)])
    b = write_ndjson(files / "b.ndjson", [event(2), event(3)])
    first = ingest_file(wh, "events", a)
    assert (first.received, first.stored, first.duplicates, first.quarantined) == (3, 2, 1, 0)
    second = ingest_file(wh, "events", b)
    assert (second.received, second.stored, second.duplicates, second.quarantined) == (2, 1, 1, 0)
    assert wh.rows("SELECT event_id, count(*) FROM events GROUP BY 1 ORDER BY 1") == [("e1", 1), ("e2", 1), ("e3", 1)]


def test_synthetic_duplicate_is_never_merged(wh: Warehouse, files: Path) -> None:
    a = write_ndjson(files / "a.ndjson", [event(1, event="view_product"), event(1, event="pay")])
    report = ingest_file(wh, "events", a)
    assert (report.stored, report.duplicates, report.quarantined) == (1, 0, 1)
    assert dict(report.reasons) == {"conflicting_duplicate:event_id": 1}
    b = write_ndjson(files / "b.ndjson", [event(1, ts="2026-10-02T00:00:00Z")])
    report = ingest_file(wh, "events", b)
    assert (report.stored, report.duplicates, report.quarantined) == (0, 0, 1)
    assert wh.rows("SELECT event, ts FROM events") == [("view_product", dt.datetime(2026, 10, 1, 2, 0))]
    _, rows = q.list_rows(wh, reason="conflicting_duplicate")
    assert sorted(r.raw for r in rows)[0].count('"e1"') == 1 and len(rows) == 2


def test_reingesting_stores_nothing_new_and_quarantine_is_not_doubled(wh: Warehouse, files: Path) -> None:
    path = write_ndjson(files / "a.ndjson", [event(1), event(2), event("x", platform="tv")])
    ingest_file(wh, "events", path)
    again = ingest_file(wh, "events", path)
    assert (again.received, again.stored, again.duplicates, again.quarantined) == (3, 0, 2, 1)
    assert wh.count("_quarantine") == 1


def test_replay_after_fixing(wh: Warehouse, files: Path) -> None:
    path = write_ndjson(files / "a.ndjson", [event(1, platform="tv"), event(2, user_id="guest", anonymous_id=None), "{broken"])
    report = ingest_file(wh, "events", path)
    assert report.quarantined == 3
    _, rows = q.list_rows(wh)
    by_reason = {r.reason: r for r in rows}
    # replay without fixing: still quarantined, nothing stored, no copies
    result = q.replay(wh)
    assert (result.selected, result.stored, result.still_quarantined) == (3, 0, 3)
    assert wh.count("_quarantine") == 3
    q.fix(wh, by_reason["unknown_enum"].qid, set_fields={"platform": "web"})
    q.fix(wh, by_reason["placeholder_id"].qid, set_fields={"user_id": "u7"})
    q.fix(wh, by_reason["malformed_json"].qid, raw='{"event_id": "e3", "user_id": "u1", "event": "pay", "ts": "2026-10-01T10:00:00Z"}')
    result = q.replay(wh)
    assert (result.selected, result.stored, result.still_quarantined) == (3, 3, 0)
    assert wh.rows("SELECT event_id, user_id, platform FROM events ORDER BY 1") == [
        ("e1", "u1", "web"), ("e2", "u7", "app"), ("e3", "u1", None)
    ]
    total, _ = q.list_rows(wh, status="open")
    assert total == 0
    total, _ = q.list_rows(wh, status="replayed")
    assert total == 3
    # a second replay finds nothing open
    assert q.replay(wh).selected == 0


def test_orders_rules_and_extras(wh: Warehouse, files: Path) -> None:
    path = files / "orders.csv"
    path.write_text(
        "order_id,user_id,ts,amount,discount,status,payment_method,warehouse_note\n"
        "o1,u1,2026-10-01 10:00:00,100.50,5,paid,微信,fragile\n"
        "o2,u1,2026-10-01 10:00:00,-3,0,paid,alipay,\n"
        "o3,u1,2026-10-01 10:00:00,abc,0,paid,alipay,\n"
        "o4,u1,2026-10-01 10:00:00,10,0,teleported,alipay,\n"
        "o5,,2026-10-01 10:00:00,10,0,paid,alipay,\n"
        "o6,u2,2026-10-01 10:00:00,\"1,299.00\",0,Completed,wechatpay,x\n"
        "o7,u2,2026-10-01,10,0,paid\n",
        encoding="utf-8",
    )
    report = ingest_file(wh, "orders", path)
    assert dict(report.reasons) == {
        "negative_amount:amount": 1, "wrong_type:amount": 1, "unknown_enum:status": 1,
        "missing_required:user_id": 1, "malformed_csv_row": 1,
    }
    assert report.stored == 2
    rows = wh.rows("SELECT order_id, CAST(amount AS VARCHAR), status, payment_method, attributes FROM orders ORDER BY 1")
    assert rows == [
        ("o1", "100.50", "paid", "wechat", '{"warehouse_note":"fragile"}'),
        ("o6", "1299.00", "completed", "wechat", '{"warehouse_note":"x"}'),
    ]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "ndjson"])
def test_same_records_same_result_in_every_format(wh: Warehouse, files: Path, fmt: str) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(
        """CREATE TABLE src AS SELECT * FROM (VALUES
           ('e1', 'u1', 'view_product', '2026-10-01T10:00:00+08:00', 'app'),
           ('e2', 'u2', 'pay', '2026-10-01T11:00:00+08:00', 'web'),
           ('e2', 'u2', 'pay', '2026-10-01T11:00:00+08:00', 'web'),
           ('e3', 'null', 'pay', '2026-10-01T11:00:00+08:00', 'web'),
           ('e4', 'u3', 'pay', '2026-10-01T11:00:00+08:00', 'tv')) t(event_id, user_id, event, ts, platform)"""
    )
    path = files / f"events.{fmt}"
    con.execute(f"COPY src TO '{path}' (FORMAT {'json' if fmt == 'ndjson' else fmt})")
    report = ingest_file(wh, "events", path)
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (5, 2, 1, 2)
    assert dict(report.reasons) == {"placeholder_id:user_id": 1, "unknown_enum:platform": 1}


def test_json_lines_for_orders_with_currency(wh: Warehouse) -> None:
    from jingyun.ingest import ingest_json_lines

    lines = [
        (1, '{"order_id": "o1", "user_id": "u1", "ts": "2026-10-01T10:00:00Z", "amount": 10, "currency": "USD"}'),
        (2, '{"order_id": "o2", "user_id": "u1", "ts": "2026-10-01T10:00:00Z", "amount": "12.5"}'),
        (3, '{"order_id": "o3", "user_id": "u1", "ts": "2026-10-01T10:00:00Z", "amount": 1, "currency": "XYZ"}'),
    ]
    report = ingest_json_lines(wh, "orders", lines, source="api")
    assert (report.stored, report.quarantined) == (2, 1)
    assert dict(report.reasons) == {"unknown_currency:currency": 1}
    rows = wh.rows("SELECT order_id, CAST(amount AS VARCHAR), attributes FROM orders ORDER BY 1")
    assert rows == [("o1", "71.00", '{"currency":"USD"}'), ("o2", "12.50", "{}")]


def test_progress_bar_reports_records_and_closes(wh: Warehouse, files: Path) -> None:
    from jingyun.ingest.progress import file_progress

    path = write_ndjson(files / "p.ndjson", [event(i) for i in range(7)])
    seen: list[int] = []
    bar = file_progress(path)

    def update(rows: int, nbytes: int) -> None:
        seen.append(rows)
        bar(rows, nbytes)

    report = ingest_file(wh, "events", path, progress=update)
    assert report.stored == 7 and seen == [7, -1]  # one chunk, then the close signal
