"""Saved segments: nothing half-saved, refresh (full and incremental) with entry/exit events, export."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from openpyxl import load_workbook
from segments_support import AS_OF, days_ago, put

from jingyun.errors import JingyunError
from jingyun.security.config import load_service_settings
from jingyun.security.masking import Masker, pseudonym
from jingyun.segments import saved
from jingyun.segments.common import ensure_segment_tables
from jingyun.segments.snapshots import size_guard, transitions
from jingyun.segments.store import RunRecord, SavedSegment, SegmentStore
from jingyun.warehouse import Warehouse

T0 = dt.datetime(2026, 5, 1)


@pytest.fixture
def data(hwh: Warehouse) -> Warehouse:
    ensure_segment_tables(hwh)
    put(hwh, "users", [
        {"user_id": "a", "name": "张三", "phone": "+8613800000001", "email": "a@x.cn", "province": "浙江省",
         "address": "浙江省杭州市西湖路1号", "birth_date": dt.date(1990, 6, 15), "registered_at": days_ago(100)},
        {"user_id": "b", "name": "李四", "phone": "+8613800000002", "province": "江苏省", "registered_at": days_ago(100)},
        {"user_id": "c", "province": "浙江省", "registered_at": days_ago(100)},
    ])
    put(hwh, "events", [{"event_id": "e1", "user_id": "a", "event": "pay", "ts": days_ago(3), "_ingested_at": T0}])
    return hwh


RULE = {"and": [{"attr": "province", "op": "eq", "value": "浙江省"}, {"event": "pay", "within_days": 30}]}


def test_invalid_rule_is_not_saved(data: Warehouse) -> None:
    store = SegmentStore(data.settings)
    saved.create(data, SavedSegment("zj_payers", RULE))
    before = store.segments()
    bad = {"and": [RULE, {"or": [{"attr": "province", "op": "eq", "value": "x"}, {"event": "pay", "count": 3}]}]}
    with pytest.raises(JingyunError) as err:
        saved.create(data, SavedSegment("broken", bad))
    assert err.value.field == "rule.and[1].or[1].count"
    with pytest.raises(JingyunError) as err2:
        saved.create(data, SavedSegment("zj_payers", bad), replace_existing=True)
    assert err2.value.code == "bad_rule"
    assert store.segments() == before  # the stored row is unchanged: same rule, same version
    assert list(store.segments()) == ["zj_payers"] and before["zj_payers"].version == 1


def test_estimate_and_diff(data: Warehouse) -> None:
    est = saved.estimate(data, RULE, as_of=AS_OF)
    assert (est.size, est.universe) == (1, 3)
    saved.create(data, SavedSegment("zj", {"attr": "province", "op": "eq", "value": "浙江省"}))
    saved.create(data, SavedSegment("payers", {"event": "pay"}))
    d = saved.diff(data, "zj", "payers", as_of=AS_OF)
    assert (d.size_a, d.size_b, d.both, d.only_a, d.only_b) == (2, 1, 1, 1, 0)
    assert d.jaccard == 0.5


def test_full_then_incremental_refresh(data: Warehouse) -> None:
    saved.create(data, SavedSegment("zj_payers", RULE, automation=True))
    r1 = saved.refresh(data, "zj_payers", as_of=AS_OF)
    assert (r1.kind, r1.members, r1.entries, r1.exits, r1.evaluated) == ("full", 1, 1, 0, 3)
    # c pays (newly ingested); b pays too but is not in 浙江
    put(data, "events", [{"event_id": "e2", "user_id": "c", "event": "pay", "ts": days_ago(1), "_ingested_at": T0
                          + dt.timedelta(days=1)},
                         {"event_id": "e3", "user_id": "b", "event": "pay", "ts": days_ago(1), "_ingested_at": T0
                          + dt.timedelta(days=1)}])
    r2 = saved.refresh(data, "zj_payers", kind="incremental", as_of=AS_OF)
    assert (r2.kind, r2.evaluated, r2.entries, r2.exits, r2.members) == ("incremental", 2, 1, 0, 2)
    # a moves away: a touched row makes a re-evaluated, and she exits
    data.con.execute("UPDATE users SET province = '上海市' WHERE user_id = 'a'")
    put(data, "events", [{"event_id": "e4", "user_id": "a", "event": "view_home", "ts": days_ago(0.5),
                          "_ingested_at": T0 + dt.timedelta(days=2)}])
    r3 = saved.refresh(data, "zj_payers", kind="incremental", as_of=AS_OF)
    assert (r3.evaluated, r3.entries, r3.exits, r3.members) == (1, 0, 1, 1)
    assert saved.members(data, "zj_payers") == ["c"]
    log = data.rows("SELECT person_id, change FROM segment_changes WHERE segment = 'zj_payers' ORDER BY changed_at, "
                    "person_id, change")
    assert log == [("a", "entry"), ("c", "entry"), ("a", "exit")]
    # the incremental result equals a full recompute
    assert saved.refresh(data, "zj_payers", as_of=AS_OF).members == 1
    runs = SegmentStore(data.settings).runs()
    assert [r.status for r in runs] == ["ok"] * 4


def test_timeout_is_recorded_and_stale_runs_are_not_stuck(data: Warehouse) -> None:
    saved.create(data, SavedSegment("zj_payers", RULE))
    with pytest.raises(JingyunError) as err:
        saved.refresh(data, "zj_payers", timeout_s=0.0, retries=0, as_of=AS_OF)
    assert err.value.code == "refresh_timeout"
    store = SegmentStore(data.settings)
    assert store.runs()[-1].status == "timeout"
    store.put_run(RunRecord("dead", "full", "zj_payers", "running", "2026-01-01T00:00:00", "2026-01-01T00:10:00"))
    assert [r.status for r in saved.run_status(store) if r.run_id == "dead"] == ["timeout"]


def test_export_deidentified_csv_and_excel(data: Warehouse, tmp_path: Path) -> None:
    """A masked export goes through the one gate: the same pseudonym as the API's for the same phone (one salt,
    one normalisation — the export used its own `.salt` file and no normalisation before)."""
    saved.create(data, SavedSegment("zj", {"attr": "province", "op": "eq", "value": "浙江省"}))
    out = tmp_path / "zj.csv"
    salt = load_service_settings(data.settings).mask_salt
    assert saved.export(data, "zj", out, mask=Masker(salt), as_of=AS_OF) == 2
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["phone"] == pseudonym("+8613800000001", salt) == pseudonym(" +86 138 0000 0001", salt)
    assert rows[0]["phone"] == "sha256:" + hashlib.sha256(salt + b"+8613800000001").hexdigest()
    assert rows[0]["age_band"] == "31-40"
    assert rows[0]["province"] == "浙江省"
    assert "name" not in rows[0]
    text = out.read_text(encoding="utf-8-sig")
    for secret in ("张三", "+8613800000001", "a@x.cn", "西湖路"):
        assert secret not in text
    assert not (SegmentStore(data.settings).root / ".salt").exists()
    xlsx = tmp_path / "zj.xlsx"
    saved.export(data, "zj", xlsx, mask=Masker(salt), as_of=AS_OF)
    sheet = load_workbook(xlsx).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][2] == "phone" and values[1][2] == rows[0]["phone"] and len(values) == 3
    saved.export(data, "zj", out, mask=None, as_of=AS_OF)
    assert "张三" in out.read_text(encoding="utf-8-sig")


def test_transition_matrix_and_guard() -> None:
    before = {"p1": "new", "p2": "new", "p3": "high_value", "p4": "high_value", "p5": "churn_risk"}
    after = {"p1": "growing", "p2": "new", "p3": "churn_risk", "p4": "high_value", "p6": "new"}
    t = transitions(before, after, with_moves=True)
    assert t.groups == ["churn_risk", "growing", "high_value", "new", "(none)"]
    assert t.matrix["high_value"]["churn_risk"] == 1
    assert t.matrix["new"] == {"churn_risk": 0, "growing": 1, "high_value": 0, "new": 1, "(none)": 0}
    assert t.matrix["churn_risk"]["(none)"] == 1 and t.matrix["(none)"]["new"] == 1
    assert (t.stayed, t.moved) == (2, 4)
    assert t.entries["churn_risk"] == 1 and t.exits["high_value"] == 1
    assert sum(sum(r.values()) for r in t.matrix.values()) == 6
    g = size_guard({"a": 4, "b": 86, "c": 10})
    assert (g.too_fine, g.too_coarse, g.ok) == (["a"], ["b"], False)
    assert size_guard({"a": 50, "b": 50}).ok
