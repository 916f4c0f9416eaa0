"""The rejected rows' payload is cut in the staging statement and dedup runs on one
aggregate: the quarantine must still hold each source row exactly as it was read
(Parquet/CSV values as one JSON object, NDJSON lines as written), conflicting
duplicates (within the file and against stored rows, also on a composite key)
still carry their payload, and the first line of a repeated key still wins."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from ingest_helpers import event, write_ndjson

from jingyun.ingest import ingest_file
from jingyun.ingest import quarantine as q
from jingyun.warehouse import Warehouse


def _events_parquet(path: Path, rows: list[dict[str, str | None]]) -> Path:
    names = ["event_id", "user_id", "event", "ts", "platform", "note"]
    pq.write_table(pa.table({n: pa.array([r.get(n) for r in rows], pa.string()) for n in names}), path)
    return path


def test_parquet_payloads_of_invalid_rows_and_conflicts(wh: Warehouse, files: Path) -> None:
    base = {"user_id": "u1", "event": "pay", "ts": "2026-10-01 10:00:00", "platform": "web", "note": " kept "}
    first = [{"event_id": "s1", **base}, {"event_id": "s2", **base}]
    ingest_file(wh, "events", _events_parquet(files / "a.parquet", first))
    rows = [
        {"event_id": "s1", **base},  # stored, same payload: duplicate
        {"event_id": "s2", **base, "event": "view"},  # stored, other payload: conflict
        {"event_id": "n1", **base},
        {"event_id": "n1", **base},  # repeated in the file, same: duplicate
        {"event_id": "n1", **base, "platform": "app"},  # repeated, other payload: conflict
        {"event_id": "n2", **base, "platform": "tv"},  # unknown enum
        {"event_id": "undefined", **base},  # placeholder id
        {"event_id": "n3", **base, "user_id": None, "note": None},  # no identity
    ]
    report = ingest_file(wh, "events", _events_parquet(files / "b.parquet", rows))
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (8, 1, 2, 5)
    assert dict(report.reasons) == {
        "conflicting_duplicate:event_id": 2, "unknown_enum:platform": 1, "placeholder_id:event_id": 1,
        "missing_identity:user_id": 1,
    }
    _, quarantined = q.list_rows(wh, limit=100)
    by_line = {r.line: (r.reason, r.field, json.loads(r.raw)) for r in quarantined}
    assert set(by_line) == {2, 5, 6, 7, 8}
    for line, (_reason, _field, raw) in by_line.items():
        assert raw == rows[line - 1], line  # every source value as read, untrimmed, nulls kept
        assert list(raw) == ["event_id", "user_id", "event", "ts", "platform", "note"]
    assert by_line[2][:2] == ("conflicting_duplicate", "event_id") and by_line[5][:2] == ("conflicting_duplicate", "event_id")
    assert by_line[8][:2] == ("missing_identity", "user_id")
    assert wh.rows("SELECT event_id, platform FROM events ORDER BY 1") == [("n1", "web"), ("s1", "web"), ("s2", "web")]


def test_csv_payload_and_composite_key_conflicts(wh: Warehouse, files: Path) -> None:
    (files / "a.csv").write_text("order_id,line_no,product_id,quantity\no1,1,p1,2\no1,2,p2,1\n", encoding="utf-8")
    ingest_file(wh, "order_items", files / "a.csv")
    (files / "b.csv").write_text(
        "order_id,line_no,product_id,quantity\n"
        "o1,1,p1,2\n"  # stored: duplicate
        "o1,2,p9,1\n"  # stored key, other payload: conflict
        "o2,1,p1,1\n"
        "o2,1,p1,3\n"  # same composite key in the file: conflict
        "o2,2,p1,-1\n",  # negative quantity
        encoding="utf-8",
    )
    report = ingest_file(wh, "order_items", files / "b.csv")
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (5, 1, 1, 3)
    assert dict(report.reasons) == {"conflicting_duplicate:order_id+line_no": 2, "negative_value:quantity": 1}
    _, quarantined = q.list_rows(wh, limit=100)
    got = {r.line: (r.reason, r.field, json.loads(r.raw)) for r in quarantined}
    assert got == {
        3: ("conflicting_duplicate", "order_id+line_no", {"order_id": "o1", "line_no": "2", "product_id": "p9", "quantity": "1"}),
        5: ("conflicting_duplicate", "order_id+line_no", {"order_id": "o2", "line_no": "1", "product_id": "p1", "quantity": "3"}),
        6: ("negative_value", "quantity", {"order_id": "o2", "line_no": "2", "product_id": "p1", "quantity": "-1"}),
    }


def test_ndjson_first_line_wins_and_lines_are_kept(wh: Warehouse, files: Path) -> None:
    lines: list[object] = [
        event(1, platform="web"),
        event(1, platform="app"),  # conflict with line 1: line 1 is stored
        event(1, platform="web"),  # duplicate of line 1
        '{"event_id": "e2",   "user_id": "u1", "event": "pay", "ts": "never"}',  # spacing kept in the payload
        event(3, platform="tv"),
    ]
    report = ingest_file(wh, "events", write_ndjson(files / "a.ndjson", lines))
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (5, 1, 1, 3)
    assert wh.rows("SELECT event_id, platform FROM events") == [("e1", "web")]
    _, quarantined = q.list_rows(wh, limit=100)
    raws = {r.line: r.raw for r in quarantined}
    assert raws == {2: json.dumps(lines[1]), 4: lines[3], 5: json.dumps(lines[4])}
    # a re-run quarantines nothing twice and stores nothing new
    again = ingest_file(wh, "events", files / "a.ndjson")
    assert (again.stored, again.duplicates, again.quarantined) == (0, 2, 3)
    assert wh.scalar("SELECT count(*) FROM _quarantine") == 3


def test_offset_timestamps_to_utc(wh: Warehouse, files: Path) -> None:
    """Offsets are applied by arithmetic on the instant: the same UTC values as a
    time-zone conversion, worked out here by hand."""
    cases = {
        "2026-10-01T10:00:00+08:00": "2026-10-01 02:00:00",
        "2026-10-01 10:00:00.123456-05:30": "2026-10-01 15:30:00.123456",
        "2026-10-01T10:00Z": "2026-10-01 10:00:00",
        "2026-10-01T10:00:00+0800": "2026-10-01 02:00:00",
        "2026-10-01T23:59:59.5+14": "2026-10-01 09:59:59.500000",
        "2026-10-01 10:00:00": "2026-10-01 02:00:00",  # naive: the workspace zone, Asia/Shanghai
        "1999-12-31T23:00:00-01:00": "2000-01-01 00:00:00",
    }
    lines = [event(i, ts=ts) for i, ts in enumerate(cases)]
    report = ingest_file(wh, "events", write_ndjson(files / "ts.ndjson", lines))
    assert report.stored == len(cases) and report.quarantined == 0
    got = dict(wh.rows("SELECT event_id, strftime(ts, '%Y-%m-%d %H:%M:%S.%f') FROM events"))
    for i, want in enumerate(cases.values()):
        assert got[f"e{i}"].removesuffix(".000000") == want, (i, got[f"e{i}"])


def test_blank_lines_are_the_lines_trimming_empties() -> None:
    """The reader finds blank lines with utf8_is_space; the reference is trimming
    Unicode whitespace and checking for an empty rest, over every BMP code point."""
    import pyarrow.compute as pc

    from jingyun.ingest.readers import _ndjson_table

    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF and c != 0x0A]
    lines = pa.array(["", *chars, *(c + " " + c for c in chars), *("x" + c for c in chars)], pa.large_string())
    want = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(lines)), 0)
    table, n = _ndjson_table(lines, 1)
    assert n == len(lines)
    assert table["_line"].to_pylist() == [i + 1 for i, keep in enumerate(want.to_pylist()) if keep]
