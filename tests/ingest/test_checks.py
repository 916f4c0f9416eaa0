"""Reconciliation checks find planted mismatches, and nothing on clean data."""

from __future__ import annotations

from pathlib import Path

from jingyun.ingest import ingest_file
from jingyun.quality.checks import run_checks
from jingyun.security.config import load_service_settings
from jingyun.security.masking import pseudonym
from jingyun.warehouse import Warehouse


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_checks_find_planted_mismatches(wh: Warehouse, files: Path) -> None:
    ingest_file(wh, "users", _csv(files / "u.csv", "user_id,phone\nu1,13800138000\nu2,13900139000\nu3,13800138000\n"))
    ingest_file(wh, "orders", _csv(files / "o.csv", (
        "order_id,user_id,ts,amount,status\n"
        "o1,u1,2026-10-01 10:00:00,100.00,paid\n"      # paid in full
        "o2,u1,2026-10-01 10:00:00,80.00,completed\n"  # paid 70: mismatch of 10
        "o3,u2,2026-10-01 10:00:00,50.00,paid\n"       # no payment at all
        "o4,u2,2026-10-01 10:00:00,20.00,cancelled\n"  # cancelled: not checked
    )))
    ingest_file(wh, "payments", _csv(files / "p.csv", (
        "payment_id,order_id,ts,paid_amount\n"
        "p1,o1,2026-10-01 10:01:00,60.00\np2,o1,2026-10-01 10:02:00,40.00\n"
        "p3,o2,2026-10-01 10:01:00,70.00\np4,o99,2026-10-01 10:01:00,5.00\n"
    )))
    ingest_file(wh, "events", _csv(files / "e.csv", (
        "event_id,user_id,event,ts\ne1,u1,pay,2026-10-01 10:00:00\ne2,ghost,pay,2026-10-01 10:00:00\n"
        "e3,ghost,view_home,2026-10-01 10:00:00\n"
    )))
    results = {r.name: r for r in run_checks(wh, stale_hours=0)}
    mismatch = results["order_payment_mismatch"]
    assert mismatch.count == 2
    assert [(r[0], float(r[4])) for r in mismatch.rows] == [("o3", 50.0), ("o2", 10.0)]
    assert [r[0] for r in results["payment_without_order"].rows] == ["p4"]
    assert [(r[0], r[1]) for r in results["events_unknown_user"].rows] == [("ghost", 2)]
    # the shared phone is shown as its pseudonym, never in clear
    salt = load_service_settings(wh.settings).mask_salt
    assert results["duplicate_users_by_phone"].rows == [[pseudonym("+8613800138000", salt), 2, "u1,u3"]]
    assert results["stale_sources"].count == 4  # stale after 0 hours: every source
    fresh = {r.name: r for r in run_checks(wh, ["stale_sources"], stale_hours=24)}
    assert fresh["stale_sources"].count == 0


def test_checks_on_clean_data_find_nothing(wh: Warehouse) -> None:
    assert all(r.ok for r in run_checks(wh))


def test_checks_find_the_demo_business_planted_faults(tmp_path: Path) -> None:
    import json

    from jingyun.config import load_settings
    from jingyun.demo import build
    from jingyun.demo.params import DemoParams

    settings = load_settings(tmp_path)
    build(settings, DemoParams(users=600, days=60))
    truth = json.loads((tmp_path / "demo" / "ground_truth.json").read_text(encoding="utf-8"))["faults"]
    with Warehouse.open(settings, read_only=True) as wh:
        results = {r.name: r for r in run_checks(wh, limit=1000)}
    assert sorted(r[0] for r in results["order_payment_mismatch"].rows) == sorted(truth["mismatched_payments"])
    assert [r[0] for r in results["payment_without_order"].rows] == truth["orphan_payments"]
    pairs = sorted(sorted(r[2].split(",")) for r in results["duplicate_users_by_phone"].rows)
    assert pairs == sorted(sorted(p) for p in truth["duplicate_phone_users"])
