"""Journey reports: treated against holdout, exact on built live entries, and the demo's planted effect recovered."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from automation_rows import orders, users

from jingyun.automation.journey import load_file, parse_journey
from jingyun.automation.report import report
from jingyun.config import Settings, load_settings
from jingyun.store import open_store
from jingyun.store.automation import JourneyEntryRow
from jingyun.store.messages import MessageDelivery
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend

JOURNEYS = Path(__file__).parents[2] / "src" / "jingyun" / "demo" / "journeys"
DEF = {"key": "win-back", "holdout": 0.5, "trigger": {"type": "event", "event": "view_product"},
       "steps": [{"id": "push", "type": "action", "channel": "push", "template": "t"},
                 {"id": "bought", "type": "goal", "event": "order", "within": "72h"}]}


def test_live_entries_exact(settings: Settings, wh: Warehouse, backend: DuckDBBackend) -> None:
    """Built entries with known answers: people, conversions inside (entered, entered + 72h], revenue of valid orders."""
    journey = parse_journey(DEF, "definition")
    t0 = dt.datetime(2026, 9, 10, 2, 0)  # 10:00 in Shanghai
    treated = [f"t{i}" for i in range(6)]
    held = [f"h{i}" for i in range(4)]
    users(wh, [{"user_id": u} for u in treated + held])
    orders(wh, [
        ("t0", t0 + dt.timedelta(hours=1), "paid", 100),
        ("t1", t0 + dt.timedelta(hours=72), "completed", 50),   # exactly at the end: counts
        ("t2", t0 + dt.timedelta(hours=72, seconds=1), "paid", 70),  # a second late: does not
        ("t3", t0 - dt.timedelta(hours=1), "paid", 999),  # before entering: does not
        ("t4", t0 + dt.timedelta(hours=5), "cancelled", 40),  # cancelled: neither goal nor revenue
        ("t5", t0 + dt.timedelta(hours=3), "refunded", 30),  # placed (goal) but not a valid order
        ("h0", t0 + dt.timedelta(hours=2), "paid", 20),
    ])
    store = open_store(settings)
    with store.session() as ses:
        for u in treated + held:
            ses.add(JourneyEntryRow(journey_key="win-back", version=1, user_id=u, entered_at=t0, holdout=u in held,
                                    step=None if u in held else "bought", state="done",
                                    path="[]" if u in held else '["push", "bought"]'))
        # a second entry of t0 a day later: one person, two entries
        ses.add(JourneyEntryRow(journey_key="win-back", version=1, user_id="t0", entered_at=t0 + dt.timedelta(days=1),
                                holdout=False, step="push", state="waiting", path='["push"]'))
        ses.add(MessageDelivery(key="win-back:1:push:t0:1", channel="push", recipient="x", user_id="t0",
                                purpose="marketing", status="sent", created_at=t0))
        ses.add(MessageDelivery(key="win-back:1:push:t1:2", channel="push", recipient="x", user_id="t1",
                                purpose="marketing", status="failed", created_at=t0))
        ses.add(MessageDelivery(key="other:1:push:t1:2", channel="push", recipient="x", user_id="t1",
                                purpose="marketing", status="sent", created_at=t0))
        ses.commit()
    rep = report(backend, journey, dt.date(2026, 9, 1), dt.date(2026, 9, 30), settings=settings, store=store)
    out = rep.to_dict()
    assert rep.source == "live"
    assert out["treated"] == {"entries": 7, "people": 6, "converted": 3, "conversion_rate": 0.5,
                              "revenue": 150.0, "revenue_per_person": 25.0}
    assert out["holdout"]["people"] == 4 and out["holdout"]["converted"] == 1 and out["holdout"]["revenue"] == 20.0
    conv = out["lift"]["conversion"]
    # independent Wald interval on the difference of two proportions
    se = math.sqrt(0.5 * 0.5 / 6 + 0.25 * 0.75 / 4)
    assert conv["uplift_abs"] == pytest.approx(0.25)
    assert conv["ci_abs"] == pytest.approx([0.25 - 1.959964 * se, 0.25 + 1.959964 * se], rel=1e-5)
    assert out["steps"] == [{"id": "push", "users": 7}, {"id": "bought", "users": 6}]  # entries, as simulate counts
    assert out["sends"] == {"push": {"sent": 1, "failed": 1}}
    assert out["live"]["push"]["waiting"] == 1 and out["live"]["bought"]["done"] == 6
    # the simulated source replays events instead: there are none, so nobody entered
    sim = report(backend, journey, dt.date(2026, 9, 1), dt.date(2026, 9, 30), settings=settings, store=store,
                 source="simulated")
    assert sim.source == "simulated" and sim.treated.people == 0 and sim.conversion.message


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from jingyun.demo import DemoParams, build

    settings = load_settings(tmp_path_factory.mktemp("journey_effect_demo"))
    build(settings, DemoParams(users=1500, days=240, seed=11))
    return settings


def test_demo_effect_recovered_inside_the_interval(demo: Settings) -> None:
    truth = json.loads((demo.home / "demo" / "ground_truth.json").read_text(encoding="utf-8"))["journey_effect"]
    assert truth["journey"] == "abandoned-browse" and truth["planted_orders"] == truth["stored"] > 50
    journey = load_file(JOURNEYS / "abandoned_browse.yaml")
    with Warehouse.open(demo) as wh:
        rep = report(DuckDBBackend(wh), journey, dt.date.fromisoformat(truth["from"]),
                     dt.date.fromisoformat(truth["to"]), settings=demo, store=open_store(demo))
    assert rep.treated.people == truth["treated_people"] and rep.holdout.people == truth["holdout_people"]
    lo, hi = rep.conversion.ci_abs
    assert lo < truth["conversion_lift"] < hi
    assert lo > 0  # large enough to detect at this size
    lo, hi = rep.revenue.ci_abs
    assert lo < truth["revenue_lift_per_person"] < hi


def test_cli_report_json(demo: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from jingyun.cli.main import main

    truth = json.loads((demo.home / "demo" / "ground_truth.json").read_text(encoding="utf-8"))["journey_effect"]
    monkeypatch.setenv("JINGYUN_HOME", str(demo.home))
    path = str(JOURNEYS / "abandoned_browse.yaml")
    assert main(["journey", "report", path, "--from", truth["from"], "--to", truth["to"], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["treated"]["people"] == truth["treated_people"] and out["source"] == "simulated"
    assert out["lift"]["conversion"]["ci_abs"][0] < truth["conversion_lift"] < out["lift"]["conversion"]["ci_abs"][1]
    assert main(["journey", "report", path, "--from", truth["from"], "--to", truth["to"]]) == 0
    assert "Lift" in capsys.readouterr().out
    assert main(["journey", "report", path, "--from", "2026-13-01", "--json"]) == 2
    assert capsys.readouterr().err.startswith("error: bad_date [from]")
    assert main(["journey", "report", path, "--window", "soon", "--json"]) == 2
    assert "bad_window [window]" in capsys.readouterr().err


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    sys.path.insert(0, str(Path(__file__).parents[1] / "service"))
    from service_support import build_service

    yield from build_service(tmp_path_factory.mktemp("journey_report_api"))


def test_api_report_validate_and_activation_request(svc) -> None:  # type: ignore[no-untyped-def]
    c = svc.client
    assert c.post("/api/v1/journeys", json=DEF, headers=svc.headers("specialist")).status_code == 201
    t0 = dt.datetime(2026, 9, 10, 2, 0)
    with svc.state.store.session() as ses:
        for u, held in (("a", False), ("b", False), ("c", True)):
            ses.add(JourneyEntryRow(journey_key="win-back", version=1, user_id=u, entered_at=t0, holdout=held,
                                    step="bought", state="done", path="[]" if held else '["push", "bought"]'))
        ses.commit()
    r = c.get("/api/v1/journeys/win-back/report", params={"from": "2026-09-01", "to": "2026-09-30"},
              headers=svc.headers("analyst"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["from"] == "2026-09-01" and out["source"] == "live" and out["window_hours"] == 72
    assert out["treated"]["people"] == 2 and out["holdout"]["people"] == 1 and out["treated"]["converted"] == 0
    assert out["lift"]["conversion"]["message"] == "no variance in either arm"
    assert out["steps"] == [{"id": "push", "users": 2}, {"id": "bought", "users": 2}]
    bad = c.get("/api/v1/journeys/win-back/report", params={"from": "2026-09-30", "to": "2026-09-01"},
                headers=svc.headers("analyst"))
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "to"
    assert c.get("/api/v1/journeys/nope/report", headers=svc.headers("analyst")).status_code == 404
    # the editor's check: the field at fault, or the definition as it will be saved
    text = json.dumps({**DEF, "steps": [{"id": "push", "type": "action", "channel": "fax"}]})
    v = c.post("/api/v1/journeys/validate", json={"text": text}, headers=svc.headers("specialist")).json()
    assert v["valid"] is False and v["code"] == "bad_journey" and v["field"].startswith("steps[0]")
    v = c.post("/api/v1/journeys/validate", json={"text": json.dumps(DEF)}, headers=svc.headers("specialist")).json()
    assert v["valid"] is True and v["definition"]["key"] == "win-back"
    assert c.post("/api/v1/journeys/validate", json={"text": "x"}, headers=svc.headers("analyst")).status_code == 403
    # activation is asked for (specialists) and approved by managers through approvals
    from jingyun.approvals import org

    assert org.import_csv(svc.state.store, svc.settings, "name,email,department,role,superior\n"
                          "mdir,mdir@example.com,marketing,director,\nmman,mman@example.com,marketing,manager,mdir\n"
                          ).errors == []
    assert c.post("/api/v1/journeys/win-back/request-activation", headers=svc.headers("analyst")).status_code == 403
    req = c.post("/api/v1/journeys/win-back/request-activation", headers=svc.headers("specialist"))
    assert req.status_code == 201 and req.json()["status"] == "pending", req.text
    assert c.get("/api/v1/journeys/win-back", headers=svc.headers("analyst")).json()["status"] == "draft"
