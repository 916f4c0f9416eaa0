"""Erasure leaves no byte of the person behind, keeps totals, and a replay does not bring them back."""

from __future__ import annotations

import json
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from jingyun.ingest.pipeline import ingest_file
from jingyun.privacy import erase as erasing
from jingyun.privacy import tombstones
from jingyun.privacy.export import export_person
from jingyun.security.config import load_service_settings
from jingyun.security.masking import pseudonym
from jingyun.store.db import open_store
from jingyun.store.models import SegmentSnapshot
from jingyun.store.privacy import PrivacyErasure, PrivacyTombstone
from jingyun.warehouse import Warehouse

from .conftest import EMAIL, NAME, NEEDLES, PHONE, Planted


def _found(path: Path) -> set[str]:
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())
    return {n for n in NEEDLES if n.encode() in data}


def _counts(wh: Warehouse) -> dict[str, Any]:
    return {
        "users": wh.scalar("SELECT count(*) FROM users"),
        "events": wh.scalar("SELECT count(*) FROM events"),
        "orders": wh.scalar("SELECT count(*) FROM orders"),
        "gmv": wh.scalar("SELECT sum(amount) FROM orders"),
        "buyers": wh.scalar("SELECT count(DISTINCT person_id) FROM orders"),
    }


def test_export_gathers_everything_about_the_person(planted: Planted) -> None:
    store = open_store(planted.settings)
    with Warehouse.open(planted.settings) as wh:
        data = export_person(wh, store, "u_target2")
    store.close()
    assert data["person_ids"] == ["u_target"]  # merged by email with the earlier user
    assert set(data["user_ids"]) == {"u_target", "u_target2"} and data["anonymous_ids"] == ["anon_target_dev"]
    wh_ = data["warehouse"]
    users = {u["user_id"]: u for u in wh_["users"]}
    assert users["u_target"]["phone"].endswith(PHONE) and users["u_target"]["name"] == NAME  # revealed for the admin
    assert users["u_target2"]["email"] == EMAIL and not any(k.endswith("_enc") for k in users["u_target"])
    assert sorted(e["event_id"] for e in wh_["events"]) == ["e1", "e2", "e3"]
    assert sorted((o["order_id"], o["amount"]) for o in wh_["orders"]) == [("o1", "100.00"), ("o2", "50.50")]
    assert wh_["orders"][0]["ts"].endswith("+08:00")
    assert [s["value"] for s in wh_["model_scores"]] == [0.9] and len(wh_["segment_members"]) == 1
    assert {r["id_value"] for r in wh_["identities"]} == {"u_target2", "anon_target_dev"}
    meta = data["metadata"]
    assert [c["purpose"] for c in meta["message_consents"]] == ["marketing"]
    assert [d["recipient"] for d in meta["message_deliveries"]] == [EMAIL]
    assert len(meta["journey_entries"]) == 1 and "person:u_target" in [a["target"] for a in data["audit"]]
    assert all(a["target"].endswith((":u_target", ":u_target2")) for a in data["audit"])
    json.dumps(data, ensure_ascii=False)  # all of it is JSON


def test_erase_leaves_no_trace_and_counts_reconcile(planted: Planted) -> None:
    settings = planted.settings
    db = settings.warehouse_path
    sqlite = settings.home / "jingyun.db"
    with Warehouse.open(settings) as wh:
        wh.con.execute("CHECKPOINT")
        before = _counts(wh)
        person_events = wh.scalar("SELECT count(*) FROM events WHERE person_id = 'u_target'")
        quarantined = wh.scalar("SELECT count(*) FROM _quarantine WHERE contains(raw, 'u_target')")
    assert {"u_target", "u_target2", "anon_target_dev", PHONE} <= _found(db)  # not vacuous: they were there
    store = open_store(settings)
    sqlite = Path(store.engine.url.database or "")
    with store.engine.connect() as con:
        about = len([t for (t,) in con.exec_driver_sql("SELECT target FROM audit_log") if t.endswith(":u_target")])
    assert about >= 1
    assert {"u_target", EMAIL} <= _found(sqlite)
    assert _found(planted.home / "exports" / "vip.csv") == {"u_target", PHONE}

    dry = erasing.erase(Warehouse.open(settings), store, "u_target", dry_run=True)
    with Warehouse.open(settings) as wh:
        report = erasing.erase(wh, store, "u_target", actor="admin")
        assert report.purge == "pending" and erasing.pending(store) == [report.erasure_id]
        # the nightly optimize job's step: the bytes of every pending erasure go
        purged = erasing.purge_pending(wh, store)
        assert (purged.erasures, purged.purge) == ([report.erasure_id], "rewrite") and "events" in purged.tables
        assert erasing.pending(store) == [] and erasing.purge_pending(wh, store).erasures == []
        after = _counts(wh)
        # events, users: deleted; orders: kept under the token, so GMV and buyer counts stay
        assert after == {**before, "users": before["users"] - 2, "events": before["events"] - person_events}
        assert after["gmv"] == Decimal("207.75")
        assert wh.scalar("SELECT count(*) FROM orders WHERE person_id = ?", [report.token]) == 2
        assert wh.scalar("SELECT orders FROM person_orders WHERE person_id = ?", [report.token]) == 2
        assert wh.scalar("SELECT count(*) FROM person_orders WHERE person_id = 'u_target'") == 0
        assert wh.scalar("SELECT count(*) FROM model_scores") == 1 and wh.scalar("SELECT count(*) FROM segment_members") == 1
    assert dry.warehouse == report.warehouse and dry.store == report.store  # the dry run counted exactly
    assert report.warehouse["events"] == {"deleted": person_events, "pseudonymised": 0}
    assert report.warehouse["users"] == {"deleted": 2, "pseudonymised": 0}
    assert report.warehouse["orders"] == {"deleted": 0, "pseudonymised": 2}
    assert report.warehouse["_quarantine"]["deleted"] == quarantined == 1
    # audit entries about them: the planted read, plus whatever the consent store audited when recording
    assert report.store == {"message_consents": 1, "message_deliveries": 1, "journey_entries": 1,
                            "segment_snapshots": 1, "audit_log": about}
    assert report.tombstones == 5  # two user ids, one anonymous id, the phone, the email

    assert _found(db) == set()
    assert _found(sqlite) == set()
    assert _found(planted.home / "exports" / "vip.csv") == set()
    assert (planted.home / "exports" / "vip.csv").read_text() == "person_id,phone\nu_a,13800000001\n"
    with store.session() as ses:
        snap = ses.get(SegmentSnapshot, ("rfm", "2026-03"))
        assert snap is not None
        data = json.loads(zlib.decompress(snap.data))
        assert data == {"groups": {"u_a": "B", "u_b": "A"}, "counts": {"A": 1, "B": 1}} and snap.persons == 2
        erasure = ses.get(PrivacyErasure, report.erasure_id)
        assert erasure is not None and erasure.requested_by == "admin" and erasure.token == report.token
        assert json.loads(erasure.counts)["purge"] == "rewrite" and json.loads(erasure.counts)["purged_at"]
        assert ses.query(PrivacyTombstone).count() == 5
    # audited: the erase and its purge, by erasure id, with counts and never the person
    with store.engine.connect() as con:
        got = [(a, t, r, json.loads(d)) for a, t, r, d in con.exec_driver_sql(
            "SELECT actor, target, outcome, detail FROM audit_log WHERE action = 'erase' ORDER BY id")]
    target = f"erasure:{report.erasure_id}"
    assert [(a, t, r, d["step"], d["purge"]) for a, t, r, d in got] == [
        ("admin", target, "ok", "erase", "pending"), ("system", target, "ok", "purge", "rewrite")]
    assert got[0][3]["rows"] == sum(sum(c.values()) for c in report.warehouse.values()) + sum(report.store.values())
    assert not any(n in json.dumps(got, ensure_ascii=False) for n in NEEDLES)
    store.close()


def test_replaying_old_files_does_not_bring_the_person_back(planted: Planted) -> None:
    settings = planted.settings
    store = open_store(settings)
    with Warehouse.open(settings) as wh:
        erasing.erase(wh, store, "u_target", actor="admin")
        events = ingest_file(wh, "events", planted.files["events"])
        users = ingest_file(wh, "users", planted.files["users"])
        orders = ingest_file(wh, "orders", planted.files["orders"])
        # the others' rows are duplicates; the person's are refused, counted and reconciled
        assert (events.received, events.stored, events.duplicates, events.quarantined) == (7, 0, 3, 4)
        assert {k: v for k, v in events.reasons.items() if k.startswith("erased")} == {
            "erased_subject:user_id": 2, "erased_subject:anonymous_id": 1}  # e7 is invalid before it is erased
        # (a users file re-ingested is quarantined as conflicting_duplicate today, erased or not: sealed columns)
        assert (users.stored, users.reasons["erased_subject:user_id"], users.reconciles) == (0, 2, True)
        assert (orders.stored, orders.duplicates, orders.reasons["erased_subject:user_id"]) == (0, 3, 2)
        assert wh.scalar("SELECT count(*) FROM users WHERE user_id LIKE 'u_target%'") == 0
        assert wh.scalar("SELECT count(*) FROM events WHERE event_id IN ('e1', 'e2', 'e3')") == 0
        # the payload is not kept in the quarantine
        assert wh.scalar("SELECT count(*) FROM _quarantine WHERE reason = 'erased_subject' AND raw IS NOT NULL") == 0
        assert wh.scalar("SELECT count(*) FROM _quarantine WHERE reason = 'erased_subject'") == 7
    store.close()


def test_the_sql_digest_is_the_python_digest(wh: Warehouse) -> None:
    key = tombstones.key(wh.settings)
    values = ["u_001", " U_001 ", "+86 139-1234-5678", "13912345678", "008613912345678", "Li@Shop.CN", "匿名设备", "a(b)c"]
    got = [r[0] for r in wh.con.execute(f"SELECT {tombstones.digest_sql('v')} FROM (SELECT unnest(?) AS v)",
                                        [key, values]).fetchall()]
    assert got == [tombstones.digest(v, key) for v in values]
    assert tombstones.digest("13912345678", key) == tombstones.digest("+8613912345678", key)
    # a tombstone equals no pseudonym shown anywhere (those are keyed by the masking salt itself)
    salt = load_service_settings(wh.settings).mask_salt
    assert tombstones.digest("u_001", key) != (pseudonym("u_001", salt) or "").removeprefix("sha256:")
