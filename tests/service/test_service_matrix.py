"""Every route × every role: the exact allowed set (BFLA), object scope (BOLA), mass assignment (BOPLA).

The route list comes from ``app.routes``; a route without a declared
permission, or missing from EXPECTED, fails the test.
"""

from __future__ import annotations

import json

from fastapi.routing import APIRoute
from service_support import Service

ALL = {"specialist", "analyst", "manager", "admin", "read_key"}
PEOPLE = {"specialist", "analyst", "manager", "admin"}
ANALYSTS = {"analyst", "manager", "admin", "read_key"}
MAKERS = {"specialist", "manager", "admin"}  # create and send; managers approve
MANAGERS = {"manager", "admin"}
EXPECTED: dict[tuple[str, str], set[str] | str] = {
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("POST", "/api/v1/auth/login"): "public",
    ("POST", "/api/v1/auth/refresh"): "public",
    ("POST", "/api/v1/auth/logout"): PEOPLE,
    ("GET", "/api/v1/me"): PEOPLE,
    ("PATCH", "/api/v1/me"): PEOPLE,
    ("POST", "/api/v1/events/batch"): {"admin", "ingest_key"},
    ("POST", "/api/v1/orders/batch"): {"admin", "ingest_key"},
    ("POST", "/api/v1/user/sync"): {"admin", "ingest_key"},
    ("GET", "/api/v1/users/export"): {"manager", "admin"},
    ("GET", "/api/v1/users/{user_id}"): ALL,
    ("GET", "/api/v1/segments"): ALL,
    ("POST", "/api/v1/segments"): {"specialist", "analyst", "manager", "admin"},
    ("GET", "/api/v1/segments/{segment_id}"): ALL,
    ("POST", "/api/v1/segments/{segment_id}/approve"): {"manager", "admin"},
    ("DELETE", "/api/v1/segments/{segment_id}"): {"admin"},
    ("GET", "/api/v1/segments/{segment_id}/export"): {"specialist", "manager", "admin"},
    ("POST", "/api/v1/analysis/funnel"): {"analyst", "manager", "admin", "read_key"},
    ("POST", "/api/v1/analysis/retention"): {"analyst", "manager", "admin", "read_key"},
    ("POST", "/api/v1/analysis/paths"): {"analyst", "manager", "admin", "read_key"},
    ("GET", "/api/v1/analysis/experiments"): {"analyst", "manager", "admin", "read_key"},
    ("GET", "/api/v1/segments/{segment_id}/size"): ALL,
    ("GET", "/api/v1/tags"): ALL,
    ("GET", "/api/v1/tags/{name}"): ALL,
    ("GET", "/api/v1/rfm"): ANALYSTS,
    ("GET", "/api/v1/lifecycle"): ANALYSTS,
    ("POST", "/api/v1/audience/estimate"): ALL,
    ("GET", "/api/v1/profiles/{user_id}"): ALL,
    ("GET", "/api/v1/analysis/attribution"): ANALYSTS,
    ("GET", "/api/v1/analysis/channels"): ANALYSTS,
    ("GET", "/api/v1/analysis/explain"): ANALYSTS,
    ("GET", "/api/v1/analysis/anomalies"): ANALYSTS,
    ("GET", "/api/v1/metrics"): ALL,
    ("GET", "/api/v1/metrics/{name}"): ALL,
    ("GET", "/api/v1/metrics/{name}/values"): ANALYSTS,
    ("GET", "/api/v1/kpi/targets"): ALL,
    ("GET", "/api/v1/kpi/scorecard"): ANALYSTS,
    ("GET", "/api/v1/assign"): {*PEOPLE, "ingest_key"},
    ("POST", "/api/v1/experiments/calc"): ANALYSTS,
    ("GET", "/api/v1/experiments"): ANALYSTS,
    ("GET", "/api/v1/experiments/power"): ANALYSTS,
    ("GET", "/api/v1/experiments/{key}"): ANALYSTS,
    ("GET", "/api/v1/experiments/{key}/analysis"): ANALYSTS,
    ("POST", "/api/v1/experiments/{key}/conclude"): {"manager", "admin"},
    ("GET", "/api/v1/models"): ANALYSTS,
    ("GET", "/api/v1/models/clv/fit"): ANALYSTS,
    ("GET", "/api/v1/models/scores"): ANALYSTS,
    ("GET", "/api/v1/models/forecast"): ANALYSTS,
    ("GET", "/api/v1/quarantine"): {"admin"},
    ("GET", "/api/v1/quarantine/{qid}"): {"admin"},
    ("POST", "/api/v1/quarantine/replay"): {"admin"},
    ("GET", "/api/v1/schema/tables"): ALL,
    ("GET", "/api/v1/schema/tables/{name}"): ALL,
    ("GET", "/api/v1/admin/users"): {"admin"},
    ("POST", "/api/v1/admin/users"): {"admin"},
    ("PATCH", "/api/v1/admin/users/{username}"): {"admin"},
    ("GET", "/api/v1/admin/departments"): {"admin"},
    ("GET", "/api/v1/admin/keys"): {"admin"},
    ("POST", "/api/v1/admin/keys"): {"admin"},
    ("DELETE", "/api/v1/admin/keys/{prefix}"): {"admin"},
    ("GET", "/api/v1/audit"): {"admin"},
    ("GET", "/api/v1/audit/export"): {"admin"},
    ("GET", "/api/v1/admin/alerts"): {"admin"},
    # manage by the numbers (issue 19/20): alerts, approvals and the org chart, incidents, budgets, pricing
    ("GET", "/api/v1/alerts"): PEOPLE,
    ("GET", "/api/v1/alerts/risk-map"): PEOPLE,
    ("GET", "/api/v1/alerts/rules"): PEOPLE,
    ("POST", "/api/v1/alerts/evaluate"): MANAGERS,
    ("GET", "/api/v1/alerts/{alert_id}"): PEOPLE,
    ("POST", "/api/v1/alerts/{alert_id}/{action}"): PEOPLE,
    ("GET", "/api/v1/approvals/route"): MAKERS,
    ("POST", "/api/v1/approvals"): MAKERS,
    ("GET", "/api/v1/approvals"): PEOPLE,
    ("GET", "/api/v1/approvals/sla"): {"admin"},
    ("GET", "/api/v1/approvals/{request_id}"): PEOPLE,
    ("POST", "/api/v1/approvals/{request_id}/approve"): PEOPLE,
    ("POST", "/api/v1/approvals/{request_id}/reject"): PEOPLE,
    ("POST", "/api/v1/approvals/{request_id}/comments"): PEOPLE,
    ("POST", "/api/v1/approvals/{request_id}/withdraw"): MAKERS,
    ("POST", "/api/v1/approvals/{request_id}/attachments"): PEOPLE,
    ("GET", "/api/v1/approvals/{request_id}/attachments/{attachment_id}"): PEOPLE,
    ("POST", "/api/v1/approvals/delegations"): PEOPLE,
    ("DELETE", "/api/v1/approvals/delegations/{delegation_id}"): PEOPLE,
    ("GET", "/api/v1/org"): {"admin"},
    ("POST", "/api/v1/org/import"): {"admin"},
    ("GET", "/api/v1/incidents/playbooks"): PEOPLE,
    ("POST", "/api/v1/incidents"): PEOPLE,
    ("GET", "/api/v1/incidents"): PEOPLE,
    ("GET", "/api/v1/incidents/{incident_id}"): PEOPLE,
    ("POST", "/api/v1/incidents/{incident_id}/steps/{idx}"): MANAGERS,
    ("POST", "/api/v1/incidents/{incident_id}/notes"): PEOPLE,
    ("POST", "/api/v1/incidents/{incident_id}/level"): MANAGERS,
    ("POST", "/api/v1/incidents/{incident_id}/close"): MANAGERS,
    ("GET", "/api/v1/budgets"): {"analyst", "manager", "admin"},
    ("POST", "/api/v1/budgets"): MANAGERS,
    ("GET", "/api/v1/budgets/overspend"): {"analyst", "manager", "admin"},
    ("POST", "/api/v1/budgets/optimize"): MANAGERS,
    ("GET", "/api/v1/budgets/{key}"): {"analyst", "manager", "admin"},
    ("GET", "/api/v1/budgets/{key}/status"): {"analyst", "manager", "admin"},
    ("POST", "/api/v1/budgets/{key}/releases"): MANAGERS,
    ("POST", "/api/v1/pricing/competitor-prices"): MANAGERS,
    ("GET", "/api/v1/pricing/matches"): PEOPLE,
    ("POST", "/api/v1/pricing/matches"): MANAGERS,
    ("GET", "/api/v1/pricing/moves"): PEOPLE,
    ("GET", "/api/v1/pricing/rules"): PEOPLE,
    ("POST", "/api/v1/pricing/rules"): MANAGERS,
    ("GET", "/api/v1/pricing/proposals"): PEOPLE,
    ("POST", "/api/v1/pricing/proposals"): MANAGERS,
    ("POST", "/api/v1/pricing/apply"): MANAGERS,
    ("GET", "/api/v1/pricing/products/{product_id}/history"): PEOPLE,
    # act (issue 18): journeys, messages and consent, coupons
    ("GET", "/api/v1/journeys"): PEOPLE,
    ("GET", "/api/v1/journeys/{key}"): PEOPLE,
    ("POST", "/api/v1/journeys"): MAKERS,
    ("POST", "/api/v1/journeys/{key}/activate"): MANAGERS,
    ("POST", "/api/v1/journeys/{key}/pause"): MANAGERS,
    ("POST", "/api/v1/journeys/{key}/resume"): MANAGERS,
    ("POST", "/api/v1/journeys/{key}/simulate"): PEOPLE,
    ("GET", "/api/v1/journeys/{key}/report"): PEOPLE,
    ("POST", "/api/v1/journeys/validate"): MAKERS,
    ("POST", "/api/v1/journeys/{key}/request-activation"): MAKERS,
    ("GET", "/api/v1/messages/deliveries"): PEOPLE,
    ("GET", "/api/v1/messages/deliveries/{delivery_id}"): PEOPLE,
    ("GET", "/api/v1/messages/dead-letters"): PEOPLE,
    ("POST", "/api/v1/messages/dead-letters/replay"): MAKERS,
    ("POST", "/api/v1/messages/retry"): MAKERS,
    ("POST", "/api/v1/messages/send"): MAKERS,
    ("GET", "/api/v1/messages/templates"): PEOPLE,
    ("POST", "/api/v1/messages/templates/preview"): PEOPLE,
    ("GET", "/api/v1/messages/endpoints"): {"admin"},
    ("POST", "/api/v1/messages/endpoints"): {"admin"},
    ("PUT", "/api/v1/consent/{user_id}"): {"admin", "ingest_key"},
    ("GET", "/api/v1/consent/{user_id}"): {"admin", "ingest_key"},
    ("POST", "/api/v1/consent/import"): {"admin", "ingest_key"},
    ("GET", "/api/v1/messages/t/open/{token}.gif"): "public",
    ("GET", "/api/v1/messages/t/click/{token}"): "public",
    ("GET", "/api/v1/coupons"): PEOPLE,
    ("POST", "/api/v1/coupons"): MAKERS,
    ("POST", "/api/v1/coupons/report"): PEOPLE,
    ("POST", "/api/v1/coupons/thresholds"): PEOPLE,
    ("GET", "/api/v1/coupons/{key}"): PEOPLE,
    ("GET", "/api/v1/coupons/{key}/codes"): MAKERS,
    ("POST", "/api/v1/coupons/{key}/issue"): MAKERS,
    ("POST", "/api/v1/coupons/{key}/status"): MAKERS,
    # PIPL data-subject rights
    ("GET", "/api/v1/privacy/{user_id}"): {"admin"},
    ("POST", "/api/v1/privacy/{user_id}/erase"): {"admin"},
}
CALLERS = ["specialist", "analyst", "manager", "admin", "ingest_key", "read_key"]
PATH_VALUES = {"user_id": "nobody", "segment_id": "999999", "qid": "999999", "name": "events", "username": "nobody",
               "prefix": "ffffffff", "key": "no_such_experiment", "alert_id": "999999", "action": "acknowledge",
               "request_id": "999999", "attachment_id": "999999", "delegation_id": "999999",
               "incident_id": "999999", "idx": "1", "delivery_id": "999999", "product_id": "nobody",
               "token": "not-a-signed-token"}


def _permissions(route: APIRoute) -> list[str]:
    found: list[str] = []

    def walk(dep) -> None:
        perm = getattr(dep.call, "permission", None)
        if perm is not None:
            found.append(perm)
        for sub in dep.dependencies:
            walk(sub)

    walk(route.dependant)
    return found


def api_routes(routes: list) -> list[APIRoute]:  # type: ignore[type-arg]
    """Flatten included routers (FastAPI mounts them lazily; routers here carry their own prefixes)."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            out += api_routes(route.original_router.routes)
    return out


def _routes(svc: Service) -> list[tuple[str, str, APIRoute]]:
    return [(m, r.path, r) for r in api_routes(svc.client.app.routes) for m in sorted(r.methods)]


def test_every_route_declares_exactly_one_permission_and_is_in_the_matrix(svc: Service) -> None:
    seen = set()
    for method, path, route in _routes(svc):
        assert len(_permissions(route)) == 1, f"{method} {path} declares {_permissions(route)}"
        assert (method, path) in EXPECTED, f"{method} {path} has no row in the permission matrix test"
        seen.add((method, path))
    assert seen == set(EXPECTED)


def test_route_by_role_matrix(svc: Service) -> None:
    for method, path, _ in _routes(svc):
        url = path.format(**{k: v for k, v in PATH_VALUES.items() if "{" + k + "}" in path})
        expected = EXPECTED[(method, path)]
        anon = svc.client.request(method, url, content=b"{}", headers={"Content-Type": "application/json"})
        if expected == "public":
            assert anon.status_code not in (401, 403), (method, path)
            continue
        assert anon.status_code == 401, (method, path, anon.status_code)
        assert anon.json()["error"]["code"] == "unauthenticated"
        for who in CALLERS:
            if path == "/api/v1/auth/logout":
                continue  # revokes nothing for bearer tokens, but keep the walk side-effect free
            r = svc.client.request(method, url, content=b"{}",
                                   headers={"Content-Type": "application/json", **svc.headers(who)})
            allowed = who in expected
            if allowed:
                assert r.status_code not in (401, 403), (method, path, who, r.status_code, r.text)
            else:
                assert r.status_code == 403, (method, path, who, r.status_code, r.text)
                assert r.json()["error"]["code"] == "forbidden"


def test_denials_are_audited_without_personal_data(svc: Service) -> None:
    svc.client.get("/api/v1/users/export", headers=svc.headers("analyst"))
    svc.client.get("/api/v1/users/13800001111", headers=svc.headers("ingest_key"))
    audit = svc.client.get("/api/v1/audit", params={"action": "denied", "limit": 1000}, headers=svc.headers("admin"))
    body = audit.text
    assert audit.status_code == 200 and audit.json()["total"] >= 2
    assert "GET /api/v1/users/{user_id}" in body and "13800001111" not in body


def _segment(svc: Service, who: str, department: str) -> int:
    r = svc.client.post("/api/v1/segments", json={"name": f"{who}-{department}", "department": department,
                                                   "rule": {"member_level": "gold"}, "status": "approved"},
                        headers=svc.headers(who))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "draft"  # status cannot be mass-assigned
    return int(r.json()["id"])


def test_object_level_scope_of_segments(svc: Service) -> None:
    growth = _segment(svc, "specialist", "growth")
    stores = _segment(svc, "specialist_b", "stores")
    # a specialist cannot create in another department
    r = svc.client.post("/api/v1/segments", json={"name": "x", "department": "stores"}, headers=svc.headers("specialist"))
    assert r.status_code == 404
    # an analyst sees every department but saves into none of them that is not theirs
    r = svc.client.post("/api/v1/segments", json={"name": "ana-stores", "department": "stores",
                                                   "rule": {"member_level": "gold"}}, headers=svc.headers("analyst"))
    assert r.status_code == 404
    # reading another department's segment by guessing its id answers like a missing one
    assert svc.client.get(f"/api/v1/segments/{stores}", headers=svc.headers("specialist")).status_code == 404
    assert svc.client.get(f"/api/v1/segments/{growth}", headers=svc.headers("specialist")).status_code == 200
    assert svc.client.get(f"/api/v1/segments/{stores}/export", headers=svc.headers("specialist")).status_code == 404
    listed = svc.client.get("/api/v1/segments", headers=svc.headers("specialist")).json()["items"]
    assert {s["department"] for s in listed} == {"growth"}
    # the growth manager approves growth's segment but not stores'
    assert svc.client.post(f"/api/v1/segments/{stores}/approve", headers=svc.headers("manager")).status_code == 404
    ok = svc.client.post(f"/api/v1/segments/{growth}/approve", headers=svc.headers("manager"))
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    # the analyst sees every department, the admin deletes
    assert svc.client.get(f"/api/v1/segments/{stores}", headers=svc.headers("analyst")).status_code == 200
    assert svc.client.delete(f"/api/v1/segments/{stores}", headers=svc.headers("admin")).status_code == 204
    # an analyst who belongs to no department saves a workspace segment, as in the console; a specialist may not
    r = svc.client.post("/api/v1/segments", json={"name": "ana-workspace", "rule": {"member_level": "gold"}},
                        headers=svc.headers("analyst"))
    assert r.status_code == 201 and r.json()["department"] is None and r.json()["created_by"] == "ana", r.text
    workspace = r.json()["id"]
    r = svc.client.post("/api/v1/segments", json={"name": "spec-workspace", "department": "",
                                                   "rule": {"member_level": "gold"}}, headers=svc.headers("specialist"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "department", r.text
    assert svc.client.delete(f"/api/v1/segments/{workspace}", headers=svc.headers("admin")).status_code == 204


def test_role_in_a_profile_update_is_ignored(svc: Service) -> None:
    r = svc.client.patch("/api/v1/me", content=json.dumps({"display_name": "Ana", "role": "admin", "departments": ["x"]}),
                         headers={"Content-Type": "application/json", **svc.headers("analyst")})
    assert r.status_code == 200 and r.json()["role"] == "analyst" and r.json()["display_name"] == "Ana"
    assert svc.client.get("/api/v1/admin/users", headers=svc.headers("analyst")).status_code == 403
