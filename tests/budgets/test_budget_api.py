"""/api/v1/budgets and /api/v1/pricing: the permission matrix, exact money, 4xx bodies naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from service_support import Service, build_service


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from build_service(tmp_path_factory.mktemp("budgets_api"))


PLAN = {"key": "q4", "total": "1000000", "period_start": "2026-10-01", "period_end": "2026-10-31",
        "lines": [{"department": "marketing", "channel": "feed_ads", "amount": "850000"}]}


def test_budget_routes(svc: Service) -> None:
    c = svc.client
    assert c.post("/api/v1/budgets", json=PLAN, headers=svc.headers("analyst")).status_code == 403
    made = c.post("/api/v1/budgets", json=PLAN, headers=svc.headers("manager"))
    assert made.status_code == 201 and made.json()["reserve"] == "150000.00" and made.json()["created_at"].endswith("+08:00")
    locked = c.post("/api/v1/budgets", json={**PLAN, "lines": [{**PLAN["lines"][0], "amount": "850000.01"}]},  # type: ignore[dict-item]
                    headers=svc.headers("manager"))
    assert locked.status_code == 409 and locked.json()["error"]["code"] == "reserve_locked"
    assert c.get("/api/v1/budgets", headers=svc.headers("specialist")).status_code == 403
    listed = c.get("/api/v1/budgets", headers=svc.headers("analyst")).json()
    assert listed["total"] == 1 and listed["items"][0]["planned"] == "850000.00"
    st = c.get("/api/v1/budgets/q4/status?as_of=2026-10-02", headers=svc.headers("analyst"))
    assert st.status_code == 200 and st.json()["burn_down"][1]["planned_cumulative"] == "54838.71"  # 850000 × 2/31
    assert c.get("/api/v1/budgets/nope", headers=svc.headers("analyst")).status_code == 404
    assert c.get("/api/v1/budgets/overspend?as_of=2026-10-02", headers=svc.headers("analyst")).json()["items"] == []


def test_pricing_routes(svc: Service) -> None:
    c = svc.client
    csv = ("competitor,competitor_item,product_id,price,observed_at\nrival,R1,P1,100,2026-10-01\n"
           "rival,R1,P1,90,2026-10-08\nrival,R2,,5,2026-10-08\n")
    assert c.post("/api/v1/pricing/competitor-prices", json={"csv": csv}, headers=svc.headers("specialist")).status_code == 403
    rep = c.post("/api/v1/pricing/competitor-prices", json={"csv": csv}, headers=svc.headers("manager")).json()
    assert (rep["stored"], rep["errors"][0]["row"], rep["errors"][0]["field"]) == (2, 4, "product_id")
    moves = c.get("/api/v1/pricing/moves", headers=svc.headers("specialist")).json()["items"]
    assert [(m["before"], m["after"], m["change"]) for m in moves] == [("100.00", "90.00", "-0.1000")]
    assert moves[0]["observed_at"] == "2026-10-08T00:00:00+08:00"
    rule = c.post("/api/v1/pricing/rules", json={"key": "r", "max_cut": "0.02"}, headers=svc.headers("manager"))
    assert rule.status_code == 201 and rule.json()["max_cut"] == "0.0200"
    bad = c.post("/api/v1/pricing/rules", json={"key": "r", "mode": "never"}, headers=svc.headers("manager"))
    assert bad.status_code == 422
    hist = c.get("/api/v1/pricing/products/P1/history", headers=svc.headers("analyst")).json()
    assert [p["price"] for p in hist["competitors"]] == ["100.00", "90.00"] and hist["changes"] == []
    assert c.get("/api/v1/pricing/proposals", headers=svc.headers("analyst")).json()["total"] == 0
