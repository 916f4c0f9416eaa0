"""CSV records keep their real line numbers: values holding newlines, blank lines,
rows with the wrong number of fields and stray quotes, in one block or across many.
Python's csv module is the independent reference for where each record starts.
Every rejected row gets its own line, so none is lost to the quarantine's
"already quarantined at this line" check on a re-run or in a later chunk."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jingyun.ingest import ingest_file, readers
from jingyun.ingest import quarantine as q
from jingyun.ingest.csv_records import complete, field_counts, scan
from jingyun.warehouse import Warehouse

HEADER = "event_id,user_id,event,ts"
TS = "2026-10-01T10:00:00Z"


def reference(text: str) -> tuple[dict[str, int], dict[int, str]]:
    """Python's csv: the line each good record starts on (by event_id), and the bad rows by line."""
    header = text.split("\n", 1)[0].split(",")
    good: dict[str, int] = {}
    bad: dict[int, str] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    seen = 0
    for record in reader:
        start, seen = seen + 1, reader.line_num
        if start == 1 or not record:
            continue
        if len(record) == len(header):
            good[record[0]] = start
        else:
            bad[start] = ",".join(record)
    return good, bad


def ingest_text(wh: Warehouse, path: Path, text: str) -> tuple[dict[str, int], dict[int, str]]:
    path.write_text(text, encoding="utf-8", newline="")
    report = ingest_file(wh, "events", path)
    assert report.reconciles
    _, rows = q.list_rows(wh, limit=10_000)
    malformed = {int(r.line or 0): str(r.raw) for r in rows if r.reason == "malformed_csv_row"}
    # a stored record's line is not kept in the table: a bad timestamp on purpose quarantines
    # each good record, so its line shows (or an earlier check does: a record whose event_id is
    # empty is quarantined as missing_required, on its own line all the same)
    good = {str(json.loads(str(r.raw))["event_id"]): int(r.line or 0) for r in rows if r.reason != "malformed_csv_row"}
    return good, malformed


def test_scan_finds_records_lines_and_fields() -> None:
    block = b'e1,u1,pay,"a\nb"\n\ne2,u1\r\n\r\ne3,"x""y",z'
    recs = scan(block, 2)
    assert recs.lines.tolist() == [2, 4, 5, 6, 7]
    assert field_counts(block, recs).tolist() == [4, 1, 2, 1, 3]
    assert recs.blank.tolist() == [False, True, False, True, False]
    assert recs.inner_newlines.tolist() == [1, 0, 0, 0, 0]
    assert complete(recs, len(block)) == 4  # the last record has no newline after it: it may be cut short
    assert complete(scan(b'a,"b\nc', 2), 5) == 0  # the newline sits inside quotes


def test_lines_across_blocks_and_malformed_rows_each_kept(wh: Warehouse, files: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "BLOCK_BYTES", 200)  # many blocks: two malformed rows in different ones
    rows = [HEADER]
    for i in range(1, 80):
        if i in (7, 71):
            rows.append(f"e{i},u1,pay")  # a field missing
        elif i % 10 == 3:
            rows.append(f'e{i},u1,"pay\nand more",bad-ts')  # a value over two lines
        else:
            rows.append(f"e{i},u1,pay,bad-ts")
    text = "\n".join(rows) + "\n"
    got, malformed = ingest_text(wh, files / "a.csv", text)
    want_good, want_bad = reference(text)
    assert got == want_good
    assert malformed == want_bad and len(malformed) == 2  # both rejected rows, each on its own line


def test_a_stray_quote_falls_back_to_exact_reading(wh: Warehouse, files: Path) -> None:
    text = (f'{HEADER}\ne1,u1,5" screen,bad-ts\ne2,u1,"two\nlines",bad-ts\ne3,u1\n'
            f'e4,u1,pay,bad-ts\ne5,u1,pay,{TS}\n')
    got, malformed = ingest_text(wh, files / "a.csv", text)
    want_good, want_bad = reference(text)
    assert want_good.pop("e5") == 7  # stored: its timestamp is good
    assert got == want_good == {"e1": 2, "e2": 3, "e4": 6}
    assert malformed == want_bad == {5: "e3,u1"}
    assert wh.rows("SELECT event_id, event FROM events") == [("e5", "pay")]


def test_an_unclosed_quote_at_the_end_is_quarantined_not_dropped(wh: Warehouse, files: Path) -> None:
    text = f'{HEADER}\ne1,u1,pay,{TS}\ne2,u1,"never closed,{TS}\nmore\n'
    path = files / "a.csv"
    path.write_text(text, encoding="utf-8")
    report = ingest_file(wh, "events", path)
    assert report.reconciles and report.stored == 1 and report.quarantined == 1
    _, rows = q.list_rows(wh)
    assert [(r.line, r.reason) for r in rows] == [(3, "malformed_csv_row")]


values = st.one_of(
    st.sampled_from(["pay", "", "a b", "x,y", 'say "hi"', "two\nlines", "three\r\nlines\n", '5" screen', '"']),
    st.text(alphabet='ab,"\n ', max_size=6),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from([2, 4, 5, 5, 5, 6]), values, st.booleans()), min_size=1, max_size=25),
       st.sampled_from([64, 4096]))
def test_lines_match_pythons_csv_for_any_file(wh: Warehouse, files: Path, rows: list[tuple[int, str, bool]],
                                              block: int) -> None:
    """Rows written by Python's csv writer (quoting what needs it) or raw (stray quotes,
    broken rows and all): the lines of the reader's records and of its rejected rows
    equal Python's csv reading of the same text. The free value sits in session_id,
    which accepts any text; the timestamp is bad on purpose, so each record's line shows."""
    saved_block = readers.BLOCK_BYTES
    readers.BLOCK_BYTES = block
    try:
        wh.con.execute("DELETE FROM events")
        wh.con.execute("DELETE FROM _quarantine")
        out = io.StringIO(newline="")
        out.write(HEADER + ",session_id\n")
        writer = csv.writer(out, lineterminator="\n")
        for i, (n_fields, value, raw) in enumerate(rows):
            fields = ([f"e{i}", "u1", "pay", "bad-ts", value, "extra"])[:n_fields]
            if raw:
                out.write(",".join(fields) + "\n")
            else:
                writer.writerow(fields)
        text = out.getvalue()
        got, malformed = ingest_text(wh, files / "p.csv", text)
        want_good, want_bad = reference(text)
        assert got == want_good
        assert set(malformed) == set(want_bad)
    finally:
        readers.BLOCK_BYTES = saved_block


def test_a_record_with_an_empty_event_id_keeps_its_line(wh: Warehouse, files: Path) -> None:
    """Found by the property above: a raw line break in an unquoted field, then a quote that opens a field
    running over the next lines. Python's csv reads a record with an empty event_id on line 3."""
    text = f'{HEADER},session_id\ne0,u1,pay,bad-ts,\n,"\ne1,u1,pay,bad-ts,",,"\ne2,u1,pay,bad-ts,"x,y"\n'
    got, malformed = ingest_text(wh, files / "e.csv", text)
    assert (got, malformed) == reference(text) == ({"e0": 2, "": 3}, {})
    _, rows = q.list_rows(wh)
    assert sorted((r.line, r.reason) for r in rows) == [(2, "bad_timestamp"), (3, "missing_required")]
