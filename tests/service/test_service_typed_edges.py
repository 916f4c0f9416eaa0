"""Thin edges, typed both ways (issue 17 item 6): the API's request models are the library's parameter
objects' fields, so every library option is offered (exclusions, step filters, include_test), and the
responses are documented by the result dataclasses."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from service_support import Service, build_service

from jingyun.analysis import FunnelParams, PathsParams, RetentionParams
from jingyun.analysis.anomaly import AnomalyParams
from jingyun.analysis.channels import ChannelParams
from jingyun.analysis.explain import ExplainParams
from jingyun.analysis.funnel import FunnelResult
from jingyun.metrics.compute import ComputeParams

DAY = "2026-10-02"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Six real people and one test account: p0..p5 view; p0..p3 add to cart (p0 and p1 with qty 2),
    p0..p2 pay; p1 also refunds between cart and pay (an exclusion candidate); the test account t0 does
    the whole funnel."""
    for svc in build_service(tmp_path_factory.mktemp("typed")):
        users = [{"user_id": f"p{i}", "channel": "ads"} for i in range(6)] + \
            [{"user_id": "t0", "channel": "ads", "is_test": True}]
        r = svc.client.post("/api/v1/user/sync", headers=svc.headers("admin"), json={
            "user_ids": [u["user_id"] for u in users], "data_source": "CRM", "timestamp": "2026-10-01T08:00:00Z",
            "users": users})
        assert r.json()["accepted"] == 7, r.text
        events: list[dict[str, Any]] = []

        def ev(user: str, name: str, minute: int, events: list[dict[str, Any]] = events, **props: Any) -> None:
            events.append({"event_id": f"{user}-{name}-{minute}", "user_id": user, "event": name,
                           "ts": f"{DAY}T08:{minute:02d}:00Z", "platform": "app", "properties": props})

        for i in range(6):
            ev(f"p{i}", "view", 0)
        for i in range(4):
            ev(f"p{i}", "cart", 1, qty=2 if i < 2 else 1)
        ev("p1", "refund", 2)
        for i in range(3):
            ev(f"p{i}", "pay", 3)
        for name, minute in (("view", 0), ("cart", 1), ("pay", 3)):
            ev("t0", name, minute, qty=2)
        r = svc.client.post("/api/v1/events/batch", headers=svc.headers("ingest_key"), json={"events": events})
        assert r.json()["accepted"] == len(events), r.text
        yield svc


def _funnel(svc: Service, **body: Any) -> dict[str, Any]:
    r = svc.client.post("/api/v1/analysis/funnel", headers=svc.headers("analyst"),
                        json={"steps": ["view", "cart", "pay"], "date_from": DAY, "date_to": DAY, **body})
    assert r.status_code == 200, r.text
    return r.json()


def _users(result: dict[str, Any]) -> list[int]:
    return [s["users"] for s in result["steps"]]


def _request_fields(svc: Service, schema_name: str) -> set[str]:
    spec = svc.client.get("/openapi.json").json()
    return set(spec["components"]["schemas"][schema_name]["properties"])


def _query_fields(svc: Service, path: str) -> set[str]:
    spec = svc.client.get("/openapi.json").json()
    return {p["name"] for p in spec["paths"][path]["get"]["parameters"] if p["in"] == "query"}


# The library fields a request never sets: they come from the workspace settings, or the route's path.
FROM_SETTINGS = {"timezone"}
WIRE_NAMES = {"periods": "days", "date_from": "from", "date_to": "to", "lookback_s": "lookback"}


@pytest.mark.parametrize(("params", "schema"), [(FunnelParams, "FunnelIn"), (RetentionParams, "RetentionIn"),
                                                (PathsParams, "PathsIn")])
def test_every_library_parameter_is_offered_in_the_body(shop: Service, params: type, schema: str) -> None:
    offered = _request_fields(shop, schema)
    for f in dataclasses.fields(params):
        if f.name in FROM_SETTINGS:
            continue
        assert f.name in offered or WIRE_NAMES.get(f.name) in offered, f"{params.__name__}.{f.name} is not in {schema}"


@pytest.mark.parametrize(("params", "path", "skip"), [
    (ComputeParams, "/api/v1/metrics/{name}/values", {"metric"}),
    (ChannelParams, "/api/v1/analysis/channels", set()),
    (ExplainParams, "/api/v1/analysis/explain", set()),
    (AnomalyParams, "/api/v1/analysis/anomalies", set()),
])
def test_every_library_parameter_is_offered_in_the_query(shop: Service, params: type, path: str,
                                                         skip: set[str]) -> None:
    offered = _query_fields(shop, path)
    for f in dataclasses.fields(params):
        if f.name in FROM_SETTINGS | skip:
            continue
        assert f.name in offered or WIRE_NAMES.get(f.name) in offered, f"{params.__name__}.{f.name} not in {path}"


def test_funnel_exclusions_filters_and_test_accounts_reach_the_library(shop: Service) -> None:
    assert _users(_funnel(shop)) == [6, 4, 3]
    # p1 refunded between cart and pay: the exclusion drops that chain
    assert _users(_funnel(shop, exclusions=["refund"])) == [6, 4, 2]
    # a step filter on a property: only carts of qty 2 (p0, p1) count
    filtered = _funnel(shop, steps=["view", {"event": "cart", "filters": [{"key": "qty", "op": "gte", "value": 2}]},
                                    "pay"])
    assert _users(filtered) == [6, 2, 2]
    # the test account is left out unless asked for
    assert _users(_funnel(shop, include_test=True)) == [7, 5, 4]


def test_funnel_errors_name_the_field(shop: Service) -> None:
    r = shop.client.post("/api/v1/analysis/funnel", headers=shop.headers("analyst"), json={
        "steps": ["view", {"event": "cart", "filters": [{"key": "qty", "op": "in", "value": 2}]}]})
    assert r.status_code == 400 and r.json()["error"]["field"] == "steps[1].filters[0].value", r.text
    r = shop.client.post("/api/v1/analysis/funnel", headers=shop.headers("analyst"),
                         json={"steps": ["view", "cart"], "mode": "any", "exclusions": ["refund"]})
    assert r.status_code == 400 and r.json()["error"]["field"] == "exclusions", r.text


def test_the_funnel_answer_is_the_typed_result(shop: Service) -> None:
    out = _funnel(shop)
    loss = out["bottleneck"]["largest_loss"]
    assert (loss["step"], loss["index"], loss["drop_off"]) == ("cart", 2, 2)
    spec = shop.client.get("/openapi.json").json()
    answer = spec["paths"]["/api/v1/analysis/funnel"]["post"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["$ref"].endswith("/FunnelResult")
    schemas = spec["components"]["schemas"]
    assert set(schemas["FunnelResult"]["properties"]) == {f.name for f in dataclasses.fields(FunnelResult)}
    assert set(schemas["StepLoss"]["properties"]) == {"step", "index", "step_conversion", "drop_off"}


def test_retention_and_paths_take_their_library_options(shop: Service) -> None:
    r = shop.client.post("/api/v1/analysis/retention", headers=shop.headers("analyst"), json={
        "cohort_event": "view", "return_event": {"event": "pay"}, "days": 1, "include_test": True,
        "date_from": DAY, "date_to": DAY})
    assert r.status_code == 200, r.text
    assert [c["size"] for c in r.json()["cohorts"]] == [7]
    r = shop.client.post("/api/v1/analysis/paths", headers=shop.headers("analyst"), json={
        "from_event": "view", "depth": 1, "collapse_repeats": True, "date_from": DAY, "date_to": DAY})
    assert r.status_code == 200, r.text
    assert r.json()["sessions"] == 6


def test_the_profile_reads_through_the_library(shop: Service) -> None:
    from jingyun.warehouse import users as customers

    r = shop.client.get("/api/v1/users/p1", headers=shop.headers("analyst"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["events"]["count"] == 4 and out["orders"]["count"] == 0 and out["deidentified"] is True
    reader = shop.state.writer.reader()
    try:
        row = customers.get_user(reader, "p1")
        assert row is not None
        assert out["events"]["count"] == customers.activity(reader, row["person_id"]).events.count
    finally:
        reader.close()
    spec = shop.client.get("/openapi.json").json()
    assert set(spec["components"]["schemas"]["UserProfile"]["properties"]) == {"user", "orders", "events",
                                                                                "deidentified"}
