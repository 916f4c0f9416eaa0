"""The segments use the named definitions (metrics/definitions.py): the reference time is
inclusive, so an explicit ``--as-of`` equal to the latest record gives the default's answer
(issue 17's ``app_start`` example), and RFM, lifecycle and the audience universe count the
same people (someone with orders but no ``users`` row is in all three)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from segments_support import put

from jingyun.cli.main import main
from jingyun.config import Settings
from jingyun.segments import audience, saved
from jingyun.segments.lifecycle import LifecycleParams, compute_lifecycle
from jingyun.segments.rfm import RfmParams, compute_rfm, resolve_as_of
from jingyun.segments.store import SegmentStore
from jingyun.warehouse import Warehouse

LATEST = dt.datetime(2026, 10, 31, 0, 0, 0)
APP_START = {"event": "app_start", "within_days": 1}


def _fill(wh: Warehouse) -> None:
    put(wh, "users", [
        {"user_id": "u", "registered_at": dt.datetime(2026, 9, 1)},
        # a test account: in no population, whatever its rows
        {"user_id": "t", "registered_at": dt.datetime(2026, 9, 1), "is_test": True},
    ])
    put(wh, "events", [
        # the latest record of the warehouse, exactly on the hour
        {"event_id": "e1", "user_id": "u", "event": "app_start", "ts": LATEST, "properties": "{}"},
        {"event_id": "e2", "user_id": "t", "event": "app_start", "ts": LATEST, "properties": "{}", "is_test": True},
    ])
    put(wh, "orders", [
        # "o" bought but has no users row (an order feed without a users feed)
        {"order_id": "o1", "user_id": "o", "ts": LATEST - dt.timedelta(days=3), "amount": 80, "status": "paid"},
        {"order_id": "o2", "user_id": "u", "ts": LATEST - dt.timedelta(days=1), "amount": 20, "status": "paid"},
        {"order_id": "o3", "user_id": "t", "ts": LATEST - dt.timedelta(days=1), "amount": 20, "status": "paid",
         "is_test": True},
    ])


@pytest.fixture
def filled(hwh: Warehouse) -> Warehouse:
    _fill(hwh)
    return hwh


def test_default_as_of_is_the_latest_record(filled: Warehouse) -> None:
    assert resolve_as_of(filled, None) == LATEST  # not latest + 1 µs


def test_app_start_at_the_latest_record_counts_with_and_without_as_of(filled: Warehouse) -> None:
    """The issue's example: 1 by default, and 1 (was 0) with --as-of equal to the latest record."""
    assert saved.estimate(filled, APP_START).size == 1
    assert saved.estimate(filled, APP_START, as_of=LATEST).size == 1
    assert saved.estimate(filled, APP_START, as_of=LATEST.isoformat()).size == 1
    # one microsecond earlier the event has not happened yet
    assert saved.estimate(filled, APP_START, as_of=LATEST - dt.timedelta(microseconds=1)).size == 0
    # a window of one day as of T is (T − 1 day, T]: as of a day later it has left the window
    assert saved.estimate(filled, APP_START, as_of=LATEST + dt.timedelta(days=1)).size == 0
    assert saved.estimate(filled, APP_START, as_of=LATEST + dt.timedelta(days=1, microseconds=-1)).size == 1


def test_rfm_and_lifecycle_at_the_latest_record_equal_the_default(filled: Warehouse) -> None:
    rfm_default = compute_rfm(filled, RfmParams(), with_persons=True)
    rfm_latest = compute_rfm(filled, RfmParams(as_of=LATEST), with_persons=True)
    assert rfm_default.persons == rfm_latest.persons and rfm_default.as_of == LATEST
    life_default = compute_lifecycle(filled, LifecycleParams())
    life_latest = compute_lifecycle(filled, LifecycleParams(as_of=LATEST))
    assert life_default.stages == life_latest.stages and life_default.users == life_latest.users


def test_cli_segment_size_as_of_the_latest_record(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    wh = Warehouse.open(settings)
    try:
        _fill(wh)
    finally:
        wh.close()
    monkeypatch.setenv("JINGYUN_HOME", str(Path(settings.home)))
    rule = json.dumps(APP_START)
    assert main(["segment", "size", "--rule", rule, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["size"] == 1
    assert main(["segment", "size", "--rule", rule, "--as-of", "2026-10-31T00:00:00", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["size"] == 1


def test_one_population_for_rfm_lifecycle_and_the_audience_universe(filled: Warehouse) -> None:
    """"o" has orders but no users row: an RFM customer, a lifecycle person and in the universe."""
    rfm = {p["person_id"] for p in compute_rfm(filled, RfmParams(), with_persons=True).persons}
    assert rfm == {"o", "u"}
    life = compute_lifecycle(filled, LifecycleParams())
    life_people = {r[0] for r in filled.rows(f"SELECT person_id FROM ({life.query}) q")}
    universe = {r[0] for r in filled.rows(audience.universe_sql())}
    assert life_people == universe == {"o", "u"}
    assert life.users == 2
    # every rule runs over that universe: "everyone" and an order condition both find "o"
    assert saved.estimate(filled, {"and": []}).size == 2
    assert saved.estimate(filled, {"and": []}).universe == 2
    bought = audience.compile_rule({"orders": "count", "op": "gte", "value": 1},
                                   saved.context(filled, SegmentStore(filled.settings)))
    assert {r[0] for r in filled.rows(bought.sql)} == {"o", "u"}
    # an attribute condition reads NULL for "o" (no users row): a negative one holds, a positive one does not
    attr = {"attr": "registered_at", "op": "is_not_set"}
    assert {r[0] for r in filled.rows(audience.compile_rule(attr, audience.RuleContext(as_of=LATEST)).sql)} == {"o"}
    assert {r[0] for r in filled.rows(audience.naive_sql(attr, audience.RuleContext(as_of=LATEST)))} == {"o"}
