"""The fast paths keep the meaning: one JSON parse decides validity and object-ness
exactly as json_valid/json_type did, raw lines still reach the quarantine, and
dedup against stored rows (key match, then hash of the matched rows) still
tells duplicates from conflicts in a larger stored table."""

from __future__ import annotations

import json
from pathlib import Path

from ingest_helpers import event, write_ndjson

from jingyun.ingest import ingest_file
from jingyun.ingest import quarantine as q
from jingyun.warehouse import Warehouse


def test_json_edge_lines_get_the_same_reasons(wh: Warehouse, files: Path) -> None:
    good = json.dumps(event(1))
    lines = [
        "  \t" + good,  # an object after blanks is an object
        good.replace('"e1"', '"e2"') + "  ",
        '"just a string"',
        "42",
        "null",
        '{"event_id": "e3"}{"event_id": "e4"}',  # two objects on one line
        '{"event_id": "e5", "user_id": "u1",}',  # trailing comma: DuckDB's reader accepts it
        "{'event_id': 'e6'}",
        '{"event_id": "e7", "user_id": "\\ud800"}',  # lone surrogate escape
    ]
    report = ingest_file(wh, "events", write_ndjson(files / "a.ndjson", lines))
    assert report.received == 9 and report.reconciles
    _, rows = q.list_rows(wh)
    by_line = {r.line: r.reason for r in rows}
    assert by_line == {
        3: "not_an_object", 4: "not_an_object", 5: "not_an_object", 6: "malformed_json",
        7: "missing_required", 8: "malformed_json", 9: "malformed_json",
    }
    raws = {r.line: r.raw for r in rows}
    assert raws[8] == "{'event_id': 'e6'}" and raws[3] == '"just a string"'
    assert sorted(r[0] for r in wh.rows("SELECT event_id FROM events")) == ["e1", "e2"]


def test_dedup_against_a_larger_stored_table(wh: Warehouse, files: Path) -> None:
    first = [event(i, user_id=f"u{i % 7}") for i in range(300)]
    ingest_file(wh, "events", write_ndjson(files / "a.ndjson", first))
    again = [event(i, user_id=f"u{i % 7}") for i in (5, 150, 299)]  # exact duplicates
    changed = [event(i, user_id=f"u{i % 7}", event="pay") for i in (7, 200)]  # same key, other payload
    fresh = [event(i) for i in range(300, 310)]
    report = ingest_file(wh, "events", write_ndjson(files / "b.ndjson", again + changed + fresh))
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (15, 10, 3, 2)
    assert dict(report.reasons) == {"conflicting_duplicate:event_id": 2}
    assert wh.rows("SELECT count(*), count(DISTINCT event_id) FROM events") == [(310, 310)]
    assert wh.rows("SELECT event FROM events WHERE event_id IN ('e7', 'e200')") == [("view_product",), ("view_product",)]
    _, rows = q.list_rows(wh, reason="conflicting_duplicate")
    assert sorted(json.loads(r.raw)["event_id"] for r in rows) == ["e200", "e7"]


def test_extra_keys_found_beside_nulls_and_repeated_keys(wh: Warehouse, files: Path) -> None:
    lines = [
        json.dumps(event(1, anonymous_id=None, session_id=None, coupon="c9")),  # nulls beside an extra key
        json.dumps(event(2, properties=None, coupon="c8")),  # JSON-null properties beside an extra key
        '{"event_id": "e3", "event_id": "e3", "user_id": "u1", "event": "pay", "ts": "2026-10-01T10:00:00Z"}',
        json.dumps(event(4)),  # no extra key
    ]
    report = ingest_file(wh, "events", write_ndjson(files / "a.ndjson", lines))
    assert report.stored == 4, report.reasons
    props = dict(wh.rows("SELECT event_id, properties FROM events"))
    assert json.loads(props["e1"]) == {"product_id": "p1", "coupon": "c9"}
    assert json.loads(props["e2"]) == {"coupon": "c8"}
    assert json.loads(props["e3"]) == {} and json.loads(props["e4"]) == {"product_id": "p1"}


def test_ndjson_blocks_keep_line_numbers_and_bad_bytes(wh: Warehouse, files: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from jingyun.ingest import readers

    monkeypatch.setattr(readers, "BLOCK_BYTES", 300)  # many blocks, lines cut across them
    lines: list[object] = [json.dumps(event(i)) for i in range(1, 30)]
    lines[9] = b'{"event_id": "e10", "user_id": "\xff\xfe"}'  # invalid UTF-8 on line 10
    lines[19] = "   "  # a blank line is not a record
    report = ingest_file(wh, "events", write_ndjson(files / "a.ndjson", lines))  # type: ignore[arg-type]
    assert (report.received, report.stored, report.quarantined) == (28, 27, 1)
    _, rows = q.list_rows(wh)
    assert [(r.line, r.reason) for r in rows] == [(10, "invalid_utf8")]
    got = sorted(int(r[0][1:]) for r in wh.rows("SELECT event_id FROM events"))
    assert got == [i for i in range(1, 30) if i not in (10, 20)]


def test_ndjson_reused_read_buffer_keeps_every_value(wh: Warehouse, files: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The reader refills one buffer: every stored value must still be the line's own,
    across chunks (chunk_rows small), a line longer than the buffer, and no final newline."""
    from jingyun.ingest import readers

    monkeypatch.setattr(readers, "BLOCK_BYTES", 256)
    monkeypatch.setattr(wh, "settings", wh.settings.model_copy(update={"chunk_rows": 7}))
    records = [event(i, user_id=f"u{i}", session_id=f"s{i}") for i in range(1, 41)]
    records[12]["properties"] = {"note": "x" * 1000}  # one line four times the buffer
    path = files / "a.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")  # no newline at the end
    report = ingest_file(wh, "events", path)
    assert (report.received, report.stored, report.quarantined) == (40, 40, 0)
    got = {eid: (uid, sid, json.loads(props)) for eid, uid, sid, props in
           wh.rows("SELECT event_id, user_id, session_id, properties FROM events")}
    assert got == {r["event_id"]: (r["user_id"], r["session_id"], r["properties"]) for r in records}
