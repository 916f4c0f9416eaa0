"""The alerts API per role (alerts:view / alerts:ack / alerts:manage): who may call what, a uniform 404 for alerts
the caller may not see, pagination, acknowledge → snooze → resolve with the invalid transitions refused, local
times with the offset; and the app has no two routes with one method and path (the admin's access alerts moved
to /api/v1/admin/alerts, so neither list shadows the other)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

from conftest import series_day

Svc = tuple[TestClient, dict[str, str]]
DAY = series_day(5).isoformat()  # GMV 1000 → 800: gmv-dod red (carol), gmv-low yellow (bob), aov-cx yellow (carol)


def _h(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def _evaluate(service: Svc) -> dict[str, int]:
    client, tokens = service
    r = client.post("/api/v1/alerts/evaluate", headers=_h(tokens, "bob"), json={"as_of": DAY, "send": False})
    assert r.status_code == 200, r.text
    assert sorted((a["rule"], a["level"], a["recipient"]) for a in r.json()["alerts"]) == [
        ("aov-cx", "yellow", "carol"), ("gmv-dod", "red", "carol"), ("gmv-low", "yellow", "bob")]
    return {a["rule"]: a["alert_id"] for a in r.json()["alerts"]}


def _rules(page: dict[str, Any]) -> list[str]:
    return sorted(a["rule"] for a in page["items"])


def test_wrong_role_is_403_with_a_json_body(service: Svc) -> None:
    client, tokens = service
    for who in ("alice", "ana"):  # specialists and analysts may not run the rules
        r = client.post("/api/v1/alerts/evaluate", headers=_h(tokens, who), json={"as_of": DAY})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    ids = _evaluate(service)
    for key in ("read_key", "ingest_key"):  # machines neither read nor act on alerts
        for method, url in (("GET", "/api/v1/alerts"), ("GET", f"/api/v1/alerts/{ids['gmv-low']}"),
                            ("GET", "/api/v1/alerts/risk-map"), ("GET", "/api/v1/alerts/rules"),
                            ("POST", f"/api/v1/alerts/{ids['gmv-low']}/ack")):
            r = client.request(method, url, headers=_h(tokens, key), json={})
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (key, url)
    assert client.get("/api/v1/alerts").status_code == 401


def test_visibility_and_the_uniform_404(service: Svc) -> None:
    client, tokens = service
    ids = _evaluate(service)

    def listed(who: str, **params: Any) -> dict[str, Any]:
        r = client.get("/api/v1/alerts", headers=_h(tokens, who), params=params)
        assert r.status_code == 200, r.text
        return dict(r.json())

    assert _rules(listed("carol")) == ["aov-cx", "gmv-dod", "gmv-low"]  # admin: everything
    assert _rules(listed("alice")) == ["gmv-dod", "gmv-low"]  # Trade's
    assert _rules(listed("erin")) == ["aov-cx"]  # CX's
    assert listed("ana")["total"] == 0  # no department, nothing routed to the analyst
    assert _rules(listed("bob", mine="true")) == ["gmv-low"]
    assert _rules(listed("carol", mine="true")) == ["aov-cx", "gmv-dod"]
    assert _rules(listed("carol", level="red")) == ["gmv-dod"]
    missing = client.get("/api/v1/alerts/999999", headers=_h(tokens, "erin"))
    hidden = client.get(f"/api/v1/alerts/{ids['gmv-dod']}", headers=_h(tokens, "erin"))
    assert missing.status_code == hidden.status_code == 404
    assert missing.json() == hidden.json() == {"error": {"code": "not_found", "message": "no such alert",
                                                         "field": "alert_id"}}
    acted = client.post(f"/api/v1/alerts/{ids['gmv-dod']}/ack", headers=_h(tokens, "ana"), json={})
    assert acted.status_code == 404 and acted.json() == missing.json()  # acting probes nothing either
    seen = client.get(f"/api/v1/alerts/{ids['aov-cx']}", headers=_h(tokens, "erin"))
    assert seen.status_code == 200 and seen.json()["department"] == "CX"
    # the risk map: each caller's departments only
    depts = [g["department"] for g in client.get("/api/v1/alerts/risk-map", headers=_h(tokens, "alice")).json()]
    assert depts == ["Trade"]


def test_pagination(service: Svc) -> None:
    client, tokens = service
    ids = _evaluate(service)
    pages = [client.get("/api/v1/alerts", headers=_h(tokens, "carol"), params={"limit": 2, "offset": off}).json()
             for off in (0, 2, 4)]
    assert [(p["total"], p["limit"], p["offset"], len(p["items"])) for p in pages] == [(3, 2, 0, 2), (3, 2, 2, 1),
                                                                                       (3, 2, 4, 0)]
    got = [a["id"] for p in pages for a in p["items"]]
    assert sorted(got) == sorted(ids.values()) and got == sorted(got, reverse=True)  # newest first, no repeats
    bad = client.get("/api/v1/alerts", headers=_h(tokens, "carol"), params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["error"]["field"]


def test_ack_snooze_resolve_transitions(service: Svc) -> None:
    client, tokens = service
    aid = _evaluate(service)["gmv-low"]  # routed to bob, Trade's manager
    bob, alice = _h(tokens, "bob"), _h(tokens, "alice")

    def act(who: dict[str, str], action: str, **body: Any) -> Any:
        return client.post(f"/api/v1/alerts/{aid}/{action}", headers=who, json=body)

    r = act(alice, "ack")  # she sees it (her department) but it is not hers to handle
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = act(bob, "ack", note="looking")
    assert r.status_code == 200 and r.json()["status"] == "acknowledged" and r.json()["acked_by"] == "bob"
    assert r.json()["acked_at"].endswith("+08:00")
    r = act(bob, "ack")
    assert r.status_code == 409 and r.json()["error"]["code"] == "alert_acknowledged"
    r = act(bob, "snooze")
    assert r.status_code == 422 and r.json()["error"] == {
        "code": "bad_until", "message": "snooze until a time in the future, e.g. 2026-11-02T09:00", "field": "until"}
    assert act(bob, "snooze", until="2020-01-01T09:00:00+08:00").status_code == 422
    until = (dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(days=2)).replace(
        hour=9, minute=0, second=0, microsecond=0, tzinfo=None)
    r = act(bob, "snooze", until=until.isoformat())  # no offset: read in the workspace zone
    assert r.status_code == 200 and r.json()["status"] == "snoozed"
    assert r.json()["snoozed_until"] == until.isoformat() + "+08:00"
    assert act(bob, "close").status_code == 422  # no such action
    r = act(bob, "resolve")
    assert r.status_code == 200 and r.json()["status"] == "resolved" and r.json()["resolved_at"].endswith("+08:00")
    for action, body in (("ack", {}), ("snooze", {"until": "2030-01-01T09:00:00+08:00"}), ("resolve", {})):
        r = act(bob, action, **body)
        assert r.status_code == 409 and r.json()["error"]["code"] == "alert_resolved", action
    detail = client.get(f"/api/v1/alerts/{aid}", headers=bob).json()
    assert [e["kind"] for e in detail["timeline"]] == ["opened", "acknowledged", "snoozed", "resolved"]
    assert all(e["ts"].endswith("+08:00") for e in detail["timeline"])
    assert client.get("/api/v1/alerts", headers=bob, params={"status": "resolved"}).json()["total"] == 1
    assert client.get("/api/v1/alerts", headers=bob).json()["total"] == 1  # active: only the red one is left
    audit = client.get("/api/v1/audit", headers=_h(tokens, "carol"), params={"action": "alert_change"}).json()
    assert sorted((e["actor"], e["detail"]["action"], e["target"]) for e in audit["items"]) == [
        ("bob", action, f"alert:{aid}") for action in ("ack", "resolve", "snooze")]  # refusals change nothing


def test_the_detail_carries_the_diagnosis_and_the_drill_down(service: Svc) -> None:
    client, tokens = service
    aid = _evaluate(service)["gmv-dod"]
    a = client.get(f"/api/v1/alerts/{aid}", headers=_h(tokens, "carol")).json()
    assert (a["level"], a["value_text"], a["reference_text"]) == ("red", "¥800.00", "¥1,000.00")
    assert a["detail"]["diagnosis"]["top_driver"]["values"] == {"channel": "seo"}
    assert a["detail"]["drill"].startswith("/console/analyses?metric=gmv&from=2026-10-15&to=2026-10-15&by=channel")
    assert a["opened_at"].endswith("+08:00") and a["first_day"] == DAY


def _routes(routes: list[Any], prefix: str = "") -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for r in routes:
        if isinstance(r, APIRoute) or hasattr(r, "methods"):
            out += [(m, prefix + r.path, getattr(r.endpoint, "__module__", "")) for m in sorted(r.methods or ())]
        elif isinstance(r, Mount) and getattr(r, "routes", None):
            out += _routes(list(r.routes), prefix + r.path)
        elif hasattr(r, "original_router"):
            out += _routes(list(r.original_router.routes), prefix)
    return out


def test_no_two_routes_share_a_method_and_path(service: Svc) -> None:
    client, tokens = service
    routes = _routes(list(client.app.routes))  # type: ignore[attr-defined]
    assert len(routes) > 100
    seen: dict[tuple[str, str], str] = {}
    clashes = []
    for method, path, module in routes:
        if (method, path) in seen:
            clashes.append(f"{method} {path}: {seen[(method, path)]} and {module}")
        seen[(method, path)] = module
    assert clashes == []
    assert seen[("GET", "/api/v1/alerts")] == "jingyun.api.routers.alerts"
    assert seen[("GET", "/api/v1/admin/alerts")] == "jingyun.api.routers.admin"
    # and both answer: the metric alerts to everyone with alerts:view, the access alerts to admins only
    assert client.get("/api/v1/alerts", headers=_h(tokens, "alice")).status_code == 200
    access = client.get("/api/v1/admin/alerts", headers=_h(tokens, "carol"))
    assert access.status_code == 200 and set(access.json()) == {"items", "total", "limit", "offset"}
    assert client.get("/api/v1/admin/alerts", headers=_h(tokens, "bob")).status_code == 403


def test_alert_routes_promise_and_answer_local_times(service: Svc) -> None:
    """tests/localtime/test_no_naive_times.py's two rules applied to the alert routes (that walk needs the demo)."""
    from tests.localtime.test_no_naive_times import _naive_strings, _problems, _responses

    from jingyun.localtime import OFFSET_PATTERN

    client, tokens = service
    ids = _evaluate(service)
    spec = client.get("/openapi.json").json()
    comps = spec["components"]["schemas"]
    mine = [(where, schema) for where, schema in _responses(spec) if " /api/v1/alerts" in where]
    assert len(mine) >= 8
    assert sorted({p for where, schema in mine for p in _problems(schema, comps, where, set())}) == []
    assert comps["AlertOut"]["properties"]["opened_at"]["pattern"] == OFFSET_PATTERN  # the promise is made
    assert comps["TimelineEntry"]["properties"]["ts"]["pattern"] == OFFSET_PATTERN
    carol = _h(tokens, "carol")
    client.post(f"/api/v1/alerts/{ids['gmv-low']}/snooze", headers=carol, json={"until": "2099-01-01T09:00:00"})
    answers = [client.get(url, headers=carol).json() for url in (
        "/api/v1/alerts", f"/api/v1/alerts/{ids['gmv-low']}", "/api/v1/alerts/risk-map", "/api/v1/alerts/rules")]
    assert answers[1]["snoozed_until"] == "2099-01-01T09:00:00+08:00"
    assert [p for a in answers for p in _naive_strings(a)] == []
