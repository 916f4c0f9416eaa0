"""End to end: the demo goes through the real ingestion pipeline and reconciles with its truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jingyun.config import Settings
from jingyun.demo import DemoParams, build
from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    from jingyun.config import load_settings

    home = tmp_path_factory.mktemp("demo_home")
    settings = load_settings(home)
    result = build(settings, DemoParams(users=800, days=60, seed=21))
    return settings, result


def test_every_file_reconciles_and_matches_planted_faults(built: tuple[Settings, object]) -> None:
    _, result = built
    files = result.files  # type: ignore[attr-defined]
    assert len(files) == 15
    for f in files:
        assert f.reconciles, f.file
        assert f.matches, (f.file, f.expected, f.received, f.stored, f.duplicates, f.quarantined, f.reasons)
    by_file = {f.file: f for f in files}
    assert by_file["events/app_events_1.ndjson"].reasons == {
        "bad_timestamp:ts": 3, "malformed_json": 2, "timestamp_out_of_range:ts": 4,
    }
    assert by_file["events/app_events_2.ndjson"].reasons == {
        "conflicting_duplicate:event_id": 4, "placeholder_id:user_id": 6,
    }
    assert by_file["events/web_events.ndjson"].reasons == {"missing_required:event_id": 4, "unknown_enum:platform": 3}
    assert by_file["orders/orders.csv"].reasons == {"negative_amount:amount": 5}


def test_warehouse_holds_what_the_truth_says(built: tuple[Settings, object]) -> None:
    settings, result = built
    truth = json.loads(Path(result.truth_path).read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    with Warehouse.open(settings, read_only=True) as wh:
        assert wh.count("events") == truth["counts"]["events"]
        assert wh.count("orders") == truth["counts"]["orders"]
        assert wh.count("users") == truth["counts"]["users"] + len(truth["faults"]["duplicate_phone_users"])
        # Every paid order inside the event period has its pay event.
        missing = wh.scalar(
            """SELECT count(*) FROM orders o WHERE o.ts >= (SELECT min(ts) FROM events)
               AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event = 'pay' AND e.properties->>'order_id' = o.order_id)"""
        )
        assert missing == 0
        # The demo's events follow the default tracking plan.
        assert wh.scalar("SELECT count(*) FROM events WHERE tracking_issue IS NOT NULL") == 0
        test_users = {r[0] for r in wh.rows("SELECT user_id FROM users WHERE is_test")}
        assert test_users == set(truth["test_accounts"])
        # The same phone under two user ids resolves to one person.
        for new, original in truth["faults"]["duplicate_phone_users"]:
            people = wh.rows("SELECT DISTINCT person_id FROM users WHERE user_id IN (?, ?)", [new, original])
            assert len(people) == 1
        # Payments that disagree with their order, and the one with no order, arrive for reconciliation.
        odd = wh.rows(
            """SELECT p.order_id FROM payments p LEFT JOIN orders o USING (order_id)
               WHERE o.order_id IS NULL OR p.paid_amount <> o.amount ORDER BY 1"""
        )
        expected = sorted(truth["faults"]["mismatched_payments"] + [f"SO-UNKNOWN-{truth['params']['seed']}"])
        assert [r[0] for r in odd] == expected
        # The truth's order list names the stored orders, and the induced ones are counted.
        import pyarrow.parquet as pq

        kinds = pq.read_table(Path(result.truth_path).parent / "truth" / "orders.parquet")  # type: ignore[attr-defined]
        wh.con.register("truth_orders", kinds)
        assert wh.scalar("SELECT count(*) FROM truth_orders t JOIN orders o USING (order_id, user_id)") == kinds.num_rows
        assert kinds.column("kind").to_pylist().count("induced") == truth["counts"]["orders_induced_by_experiment"]
        # The planted A/B numbers are what the stored events say.
        arms = wh.rows(
            """WITH x AS (SELECT person_id, properties->>'variation' AS v, min(ts) AS t FROM events
                          WHERE event = 'exp_exposure' GROUP BY 1, 2),
                    c AS (SELECT x.person_id, x.v, bool_or(e.ts > x.t AND e.ts <= x.t + INTERVAL 7 DAY) AS ok
                          FROM x LEFT JOIN events e ON e.person_id = x.person_id AND e.event = 'pay' GROUP BY 1, 2)
               SELECT v, count(*), count(*) FILTER (WHERE ok) FROM c GROUP BY v ORDER BY v"""
        )
        ab = truth["ab_test"]["realized"]
        assert arms == [
            ("control", ab["control"]["users"], ab["control"]["conversions"]),
            ("treatment", ab["treatment"]["users"], ab["treatment"]["conversions"]),
        ]


def test_existing_warehouse_needs_replace(built: tuple[Settings, object]) -> None:
    settings, _ = built
    with pytest.raises(JingyunError) as err:
        build(settings, DemoParams(users=200, days=30, seed=1))
    assert err.value.field == "replace"


def test_cli_demo_json(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from jingyun.cli.main import main

    code = main(["demo", "--users", "300", "--days", "40", "--seed", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["params"] == {"users": 300, "days": 40, "seed": 4, "end_date": "2026-10-31"}
    assert all(f["matches_truth"] and f["reconciles"] for f in out["files"])
    assert out["headline"]["bottleneck_step"] == "checkout->pay"
    assert (home / "demo" / "ground_truth.json").exists()
    assert main(["demo", "--users", "300", "--days", "40", "--end-date", "2026-02-30"]) == 2
