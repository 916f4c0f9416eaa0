"""Property tests: for any mix of valid, duplicate and invalid rows the counts reconcile."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jingyun.config import load_settings
from jingyun.ingest import ingest_file
from jingyun.warehouse import Warehouse

ids = st.sampled_from([f"e{i}" for i in range(12)])
good = st.fixed_dictionaries({
    "event_id": ids,
    "user_id": st.sampled_from(["u1", "u2", "u3"]),
    "event": st.sampled_from(["view_product", "pay"]),
    "ts": st.sampled_from(["2026-10-01T10:00:00+08:00", "2026-10-01T11:00:00+08:00"]),
    "platform": st.sampled_from(["app", "web", None]),
})
bad = st.one_of(
    good.map(lambda r: {**r, "ts": "not a time"}),
    good.map(lambda r: {**r, "platform": "tv"}),
    good.map(lambda r: {k: v for k, v in r.items() if k != "event_id"}),
    good.map(lambda r: {**r, "user_id": "undefined"}),
    st.just("{oops"),
    st.just("[]"),
)
rows = st.lists(st.one_of(good, good, bad), min_size=0, max_size=40)


def _write(path: Path, records: list[object]) -> None:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=rows, second=rows)
def test_counts_reconcile_and_reingest_stores_nothing(first: list[object], second: list[object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        wh = Warehouse.open(load_settings(home), memory=True)
        a, b = home / "a.ndjson", home / "b.ndjson"
        _write(a, first)
        _write(b, second)
        for path, records in ((a, first), (b, second)):
            report = ingest_file(wh, "events", path)
            assert report.received == len(records)
            assert report.stored + report.duplicates + report.quarantined == report.received
        stored = wh.count("events")
        assert stored == wh.scalar("SELECT count(DISTINCT event_id) FROM events")  # exactly once per id
        for path in (a, b):
            again = ingest_file(wh, "events", path)
            assert again.stored == 0
            assert again.stored + again.duplicates + again.quarantined == again.received
        assert wh.count("events") == stored
        wh.close()
