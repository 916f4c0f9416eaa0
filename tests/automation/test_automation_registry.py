"""Journeys in the store (versions, status moves), the CLI's errors, and the API's permission matrix."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from jingyun.automation import registry
from jingyun.automation.journey import load_file, parse_journey, to_data
from jingyun.cli.main import main
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store import open_store

DEMO = Path(__file__).parents[2] / "src" / "jingyun" / "demo" / "journeys"


def test_definitions_round_trip() -> None:
    for path in DEMO.glob("*.yaml"):
        journey = load_file(path)
        assert parse_journey(json.loads(json.dumps(to_data(journey)))) == journey


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda d: d["steps"][2].update(next="coupon"), "steps[2].next", "later in the list"),
    (lambda d: d["steps"][0].update(variants=[{"name": "a", "weight": 0, "next": "care"}] * 2),
     "steps[0].variants[0].weight", "greater than 0"),
    (lambda d: d.update(holdout=0.9), "holdout", "less than or equal to 0.5"),
    (lambda d: d["trigger"].update(days=None), "trigger.date", "needs days"),
    (lambda d: d["steps"][1].pop("coupon"), "steps[1]", "needs coupon"),
])
def test_errors_name_the_field(change, field: str, words: str) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((DEMO / "care_30d.yaml").read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(JingyunError) as err:
        parse_journey(data)
    assert err.value.code == "bad_journey" and err.value.field == field and words in err.value.message


def test_versions_and_status(settings: Settings) -> None:
    store = open_store(settings)
    journey = load_file(DEMO / "abandoned_browse.yaml")
    stored, changed = registry.create(store, journey, by="ana")
    assert (stored.version, stored.status, changed) == (1, "draft", True)
    assert registry.create(store, journey)[1] is False
    newer = journey.model_copy(update={"priority": 90})
    stored, changed = registry.create(store, newer, by="bob")
    assert (stored.version, stored.priority, changed) == (2, 90, True)
    assert registry.get(store, journey.key, version=1).journey == journey
    with pytest.raises(JingyunError) as err:
        registry.resume(store, journey.key)
    assert err.value.code == "bad_status" and err.value.status == 409
    assert registry.activate(store, journey.key).status == "active"
    assert registry.pause(store, journey.key).status == "paused"
    assert registry.resume(store, journey.key).status == "active"
    assert [j.key for j in registry.active(store)] == [journey.key]
    page, total = registry.listing(store, status="paused")
    assert (page, total) == ([], 0)


def test_cli(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journey", "create", str(DEMO / "birthday_coupon.yaml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 1
    assert main(["journey", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["total"] == 1 and listed["items"][0]["created_at"].endswith("+08:00")
    assert main(["journey", "pause", "birthday-coupon"]) == 2
    assert capsys.readouterr().err.strip() == ("error: bad_status [status]: journey 'birthday-coupon' is draft; "
                                               "only an active journey can be paused")
    assert main(["journey", "simulate", "nope.yaml", "--from", "2026-01-01", "--to", "2026-01-02"]) == 2
    assert "bad_journey [file]" in capsys.readouterr().err


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    sys.path.insert(0, str(Path(__file__).parents[1] / "service"))
    from service_support import build_service

    yield from build_service(tmp_path_factory.mktemp("journeys_api"))


def test_api_permissions(svc) -> None:  # type: ignore[no-untyped-def]
    body = to_data(load_file(DEMO / "care_30d.yaml"))
    c = svc.client
    assert c.post("/api/v1/journeys", json=body, headers=svc.headers("analyst")).status_code == 403
    made = c.post("/api/v1/journeys", json=body, headers=svc.headers("specialist"))
    assert made.status_code == 201 and made.json()["status"] == "draft"
    bad = c.post("/api/v1/journeys", json={**body, "holdout": 2}, headers=svc.headers("specialist"))
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "holdout"
    assert c.post("/api/v1/journeys/care-30d/activate", headers=svc.headers("specialist")).status_code == 403
    on = c.post("/api/v1/journeys/care-30d/activate", headers=svc.headers("manager"))
    assert on.status_code == 200 and on.json()["status"] == "active"
    page = c.get("/api/v1/journeys", headers=svc.headers("analyst")).json()
    assert page["total"] == 1 and page["items"][0]["key"] == "care-30d"
    assert c.get("/api/v1/journeys/nope", headers=svc.headers("analyst")).status_code == 404
    sim = c.post("/api/v1/journeys/care-30d/simulate", json={"from": "2026-01-01", "to": "2026-01-31"},
                 headers=svc.headers("analyst"))
    assert sim.status_code == 200, sim.text
    assert sim.json() == {"journey": "care-30d", "entered": 0, "steps": [{"id": s["id"], "users": 0}
                          for s in body["steps"]], "actions": {"coupon": 0, "push": 0},
                          "suppressed": {"cap": 0, "quiet_hours": 0, "unsubscribed": 0, "holdout": 0, "entry_limit": 0}}
