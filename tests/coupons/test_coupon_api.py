"""/api/v1/coupons: the permission matrix (analysts read, specialists create), field errors as 422 JSON,
issuing idempotent on key, paging, and the report route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from service_support import Service, build_service


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from build_service(tmp_path_factory.mktemp("coupons_api"))


BODY = {"key": "api-200-30", "kind": "threshold", "threshold": "200", "amount_off": "30", "valid_days": 7, "stock": 3}


def test_coupon_routes_follow_the_permission_matrix(svc: Service) -> None:
    c = svc.client
    assert c.post("/api/v1/coupons", json=BODY, headers=svc.headers("analyst")).status_code == 403
    assert c.post("/api/v1/coupons", json=BODY).status_code == 401
    made = c.post("/api/v1/coupons", json=BODY, headers=svc.headers("specialist"))
    assert made.status_code == 201 and made.json()["threshold"] == "200.00" and made.json()["created_by"] == "spec_a"
    assert made.json()["created_at"].endswith("+08:00")
    dup = c.post("/api/v1/coupons", json=BODY, headers=svc.headers("specialist"))
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "coupon_exists"
    bad = c.post("/api/v1/coupons", json={**BODY, "key": "bad", "amount_off": "250"}, headers=svc.headers("manager"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "amount_off"

    listed = c.get("/api/v1/coupons?limit=1", headers=svc.headers("analyst")).json()
    assert listed["total"] == 1 and listed["items"][0]["key"] == "api-200-30"
    assert c.post("/api/v1/coupons/api-200-30/issue", json={"user_id": "u1"},
                  headers=svc.headers("analyst")).status_code == 403
    first = c.post("/api/v1/coupons/api-200-30/issue", json={"user_id": "u1", "key": "j:1"}, headers=svc.headers("specialist"))
    again = c.post("/api/v1/coupons/api-200-30/issue", json={"user_id": "u1", "key": "j:1"}, headers=svc.headers("specialist"))
    assert first.status_code == 201 and again.json()["code"] == first.json()["code"] and again.json()["created"] is False
    for user in ("u2", "u3"):
        assert c.post("/api/v1/coupons/api-200-30/issue", json={"user_id": user}, headers=svc.headers("manager")).status_code == 201
    gone = c.post("/api/v1/coupons/api-200-30/issue", json={"user_id": "u4"}, headers=svc.headers("manager"))
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "coupon_out_of_stock" and gone.json()["error"]["field"] == "stock"
    codes = c.get("/api/v1/coupons/api-200-30/codes?limit=2", headers=svc.headers("admin")).json()
    assert [x["user_id"] for x in codes["items"]] == ["u1", "u2"] and codes["issued"] == 3

    rep = c.post("/api/v1/coupons/report", json={"templates": ["api-200-30"], "holdout": ["h1", "h2"]},
                 headers=svc.headers("analyst"))
    assert rep.status_code == 200
    t = rep.json()["templates"][0]
    assert (t["issued"], t["redeemed"], t["discount_cost"]) == (3, 0, "0.00") and t["lift"]["treated"] == 3
    paused = c.post("/api/v1/coupons/api-200-30/status", json={"status": "paused"}, headers=svc.headers("specialist"))
    assert paused.json()["status"] == "paused"
    missing = c.get("/api/v1/coupons/nope", headers=svc.headers("analyst"))
    assert missing.status_code == 404
