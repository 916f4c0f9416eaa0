"""Identity mapping, test accounts, mappings with Chinese headers, tracking plan."""

from __future__ import annotations

import shutil
from pathlib import Path

from ingest_helpers import event, write_ndjson

from jingyun.config import load_settings
from jingyun.ingest import ingest_file
from jingyun.schema.tracking import DEFAULT_PLAN
from jingyun.warehouse import Warehouse, personal

USERS_CSV = (
    "用户编号,手机,邮箱,注册时间,性别,渠道,积分\n"
    "u1,+86 138-0013-8000,A@Shop.cn,2026/01/02 09:00:00,男,search,10\n"
    "u2,13800138000,,2026/02/02 09:00:00,女,kol,20\n"
    "u3,0086 139 0000 0000,b@shop.cn,2026/03/02 09:00:00,未知,organic,\n"
    "u4,12345,a@shop.cn,2026/03/05 09:00:00,f,organic,\n"
    "test_9,13700000000,t@shop.cn,2026/03/05 09:00:00,m,organic,\n"
    "u5,13600000000,qa@example.com,2026/03/05 09:00:00,m,organic,\n"
)
MAPPING = """
columns:
  用户编号: user_id
  手机: phone
  邮箱: email
  注册时间: {to: registered_at, format: "%Y/%m/%d %H:%M:%S", timezone: Asia/Shanghai}
  性别: gender
  渠道: channel
"""


def _users(files: Path) -> tuple[Path, Path]:
    (files / "users.csv").write_text(USERS_CSV, encoding="utf-8")
    (files / "crm.yaml").write_text(MAPPING, encoding="utf-8")
    return files / "users.csv", files / "crm.yaml"


def test_mapping_normalisation_and_merge_by_phone_and_email(wh: Warehouse, files: Path) -> None:
    users, mapping = _users(files)
    report = ingest_file(wh, "users", users, mapping=mapping)
    assert (report.received, report.stored, report.quarantined) == (6, 6, 0)
    names = ("user_id", "phone", "email", "gender", "person_id", "attributes", "registered_at")
    stored = wh.rows("SELECT user_id, phone, email, gender, person_id, attributes, CAST(registered_at AS VARCHAR) FROM users ORDER BY user_id")
    assert all(r[1] is None and r[2] is None for r in stored)  # encrypted at rest; read back through reveal
    rows = [tuple(r.values()) for r in personal.reveal(wh, [dict(zip(names, r, strict=True)) for r in stored])]
    assert rows[0] == ("test_9", "+8613700000000", "t@shop.cn", "male", "test_9", "{}", "2026-03-05 01:00:00")
    assert rows[1] == ("u1", "+8613800138000", "a@shop.cn", "male", "u1", '{"积分":"10"}', "2026-01-02 01:00:00")
    # u2 shares u1's phone (other format) → same person
    assert rows[2][0:2] == ("u2", "+8613800138000") and rows[2][4] == "u1"
    assert rows[3][1:5] == ("+8613900000000", "b@shop.cn", "unknown", "u3")
    # u4: phone not a mobile number → kept raw in attributes; shares u1's email → same person
    assert rows[4][1] is None and rows[4][4] == "u1" and '"phone_raw":"12345"' in rows[4][5]
    assert wh.rows("SELECT id_value, person_id FROM identities ORDER BY 1") == [("u2", "u1"), ("u4", "u1")]


def test_facts_follow_merges_and_test_accounts_in_any_order(wh: Warehouse, files: Path) -> None:
    # events first (users unknown yet), then users: merges and test flags are applied backwards
    ev = write_ndjson(files / "ev.ndjson", [
        event(1, user_id="u2"), event(2, user_id="test_9"), event(3, user_id="u5"), event(4, user_id="u1"),
    ])
    ingest_file(wh, "events", ev)
    assert wh.rows("SELECT event_id FROM events WHERE is_test ORDER BY 1") == [("e2",)]  # prefix rule
    users, mapping = _users(files)
    ingest_file(wh, "users", users, mapping=mapping)
    assert wh.rows("SELECT user_id FROM users WHERE is_test ORDER BY 1") == [("test_9",), ("u5",)]  # prefix, example.com
    assert wh.rows("SELECT event_id, person_id, is_test FROM events ORDER BY 1") == [
        ("e1", "u1", False), ("e2", "test_9", True), ("e3", "u5", True), ("e4", "u1", False),
    ]
    # events arriving after the users pick the merge and flags up directly
    ingest_file(wh, "events", write_ndjson(files / "ev2.ndjson", [event(5, user_id="u2"), event(6, user_id="u5")]))
    assert wh.rows("SELECT event_id, person_id, is_test FROM events WHERE event_id IN ('e5','e6') ORDER BY 1") == [
        ("e5", "u1", False), ("e6", "u5", True),
    ]


def test_anonymous_events_are_stitched_on_login(wh: Warehouse, files: Path) -> None:
    ingest_file(wh, "events", write_ndjson(files / "a.ndjson", [
        event(1, user_id=None, anonymous_id="dev1"), event(2, user_id=None, anonymous_id="dev1"),
        event(3, user_id=None, anonymous_id="dev2"),
    ]))
    assert wh.rows("SELECT DISTINCT person_id FROM events ORDER BY 1") == [("anon:dev1",), ("anon:dev2",)]
    ingest_file(wh, "events", write_ndjson(files / "b.ndjson", [
        event(4, user_id="u8", anonymous_id="dev1", event="login"), event(5, user_id=None, anonymous_id="dev1"),
    ]))
    assert wh.rows("SELECT event_id, person_id FROM events ORDER BY 1") == [
        ("e1", "u8"), ("e2", "u8"), ("e3", "anon:dev2"), ("e4", "u8"), ("e5", "u8"),
    ]


def test_tracking_plan_flag_and_quarantine_modes(home: Path, files: Path) -> None:
    shutil.copyfile(DEFAULT_PLAN, home / "tracking_plan.yaml")
    records = [
        event(1),  # complies
        event(2, properties={}),  # view_product without product_id
        event(3, properties={"product_id": 42}),  # wrong type
        event(4, event="teleport"),  # not in the plan
        event(5, event="app_start", properties={"anything": 1}),
    ]
    path = write_ndjson(files / "a.ndjson", records)
    wh = Warehouse.open(load_settings(home))
    report = ingest_file(wh, "events", path, source="app")
    assert report.stored == 5
    assert dict(report.tracking_issues) == {
        "missing_property:product_id": 1, "wrong_property_type:product_id": 1, "unknown_event": 1,
    }
    from jingyun.ingest.tracking_report import tracking_report

    (app,) = tracking_report(wh)
    assert (app.source, app.events, app.violations, app.unknown_events) == ("app", 5, 3, 1)
    wh.close()
    (home / "warehouse.duckdb").unlink()
    wh = Warehouse.open(load_settings(home, tracking_mode="quarantine"))
    report = ingest_file(wh, "events", path, source="app")
    assert (report.stored, report.quarantined) == (2, 3)
    assert dict(report.reasons) == {
        "tracking_missing_property:product_id": 1, "tracking_wrong_property_type:product_id": 1, "tracking_unknown_event": 1,
    }
    (app,) = tracking_report(wh)
    assert (app.events, app.quarantined) == (2, 3)
    wh.close()
