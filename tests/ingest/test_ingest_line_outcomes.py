"""Per-line outcomes of ingest_json_lines (what the API answers by index) agree with the report and the tables."""

from __future__ import annotations

import json

from jingyun.ingest import ingest_json_lines
from jingyun.ingest.pipeline import LineOutcomes


def _ev(eid: str, **kw: object) -> str:
    base = {"event_id": eid, "user_id": "u1", "event": "view_product", "ts": "2024-05-01T08:00:00Z", "platform": "app"}
    return json.dumps({**base, **kw})


def test_line_outcomes_match_report_and_quarantine(wh):
    first = LineOutcomes()
    ingest_json_lines(wh, "events", [(1, _ev("a")), (2, _ev("b"))], source="t1", outcomes=first)
    assert first.stored == {1, 2} and first.rejected == {}
    seen = LineOutcomes()
    lines = [
        (1, _ev("a")),                      # exact duplicate of a stored event
        (2, _ev("b", platform="web")),      # same key, different payload: conflict
        (3, _ev("c")), (4, _ev("c")),       # in-batch duplicate: only line 3 stored
        (5, _ev("d", ts="not a time")),     # invalid
        (6, "{not json"),
    ]
    report = ingest_json_lines(wh, "events", lines, source="t2", outcomes=seen)
    assert seen.stored == {3}
    assert set(seen.rejected) == {2, 5, 6}
    assert seen.rejected[2] == ("conflicting_duplicate", "event_id")
    assert (report.stored, report.duplicates, report.quarantined) == (1, 2, 3)
    quarantined = {int(line): (r, f) for line, r, f in wh.rows("SELECT line, reason, field FROM _quarantine WHERE source = 't2'")}
    assert quarantined == seen.rejected
    # a clean batch inserts no quarantine rows and leaves no temp tables behind
    ingest_json_lines(wh, "events", [(1, _ev("e"))], source="t3")
    assert wh.scalar("SELECT count(*) FROM _quarantine WHERE source = 't3'") == 0
    assert wh.scalar("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name IN ('_staged', '_outcome')") == 0
