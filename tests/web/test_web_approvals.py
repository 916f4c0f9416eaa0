"""The console's approvals inbox and incident pages, without a browser: a request approved end to end through the
forms, errors as pages in the viewer's language with a way back, the uniform "not found" for someone else's
request, an incident reported, worked and closed, local times with the offset, and the nav entries."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jingyun import approvals
from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.approvals import org
from jingyun.config import load_settings
from jingyun.security import auth
from jingyun.web import mount

PASSWORD = "approvals-console-password"
ORG = """name,department,role,superior
gm_li,,general_manager,
mdir,marketing,director,gm_li
spec_a,marketing,specialist,mdir
spec_b,stores,specialist,mdir
ana,finance,analyst,gm_li
"""
T0 = dt.datetime(2026, 10, 9, 1, 30)  # 09:30 in Shanghai


@pytest.fixture
def app_and_state(tmp_path: Path) -> Iterator[tuple[TestClient, object]]:
    settings = load_settings(tmp_path)
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    people = {"mdir": "manager", "spec_a": "specialist", "spec_b": "specialist", "ana": "analyst", "root": "admin"}
    for name, role in people.items():
        auth.create_person(state.store, username=name, password=PASSWORD, role=role, departments=[],
                           service=state.service)
    assert org.import_csv(state.store, settings, ORG).errors == []
    with TestClient(app) as client:
        yield client, state


def sign_in(c: TestClient, who: str) -> None:
    c.cookies.clear()
    r = c.post("/console/login", data={"username": who, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


def nav(html: str) -> set[str]:
    return set(re.findall(r'data-nav="([^"]+)"', html))


def test_a_request_is_approved_end_to_end(app_and_state: tuple[TestClient, object]) -> None:
    c, state = app_and_state
    req = approvals.submit(state.store, state.settings, type="marketing", amount=Decimal("80000"),  # type: ignore[attr-defined]
                           title="国庆大促投放", payload={}, requester="spec_a", now=T0)

    sign_in(c, "mdir")
    inbox = c.get("/console/approvals?lang=zh-CN")
    assert inbox.status_code == 200 and "待我审批" in inbox.text and f'data-request="{req.id}"' in inbox.text
    assert "¥80,000.00" in inbox.text and "2026-10-09 09:30:00+08:00" in inbox.text
    assert {"/messages", "/coupons", "/approvals", "/incidents"} <= nav(inbox.text)
    page = c.get(f"/console/approvals/{req.id}?lang=en")
    assert 'id="decide-form"' in page.text and "Approve" in page.text
    done = c.post(f"/console/approvals/{req.id}?lang=en", data={"action": "approve", "comment": "同意投放"},
                  follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/console/approvals/{req.id}?done=approve"
    after = c.get(done.headers["location"] + "&lang=en")
    assert 'data-status="approved"' in after.text and 'data-done="approve"' in after.text
    assert 'id="decide-form"' not in after.text and "同意投放" in after.text
    assert approvals.get(state.store, req.id).status == "approved"  # type: ignore[attr-defined]
    assert c.get("/console/approvals?lang=zh-CN").text.count("data-request=") == 0  # nothing left to decide

    # deciding again: a page in the viewer's language naming the problem, with the way back to the request
    again = c.post(f"/console/approvals/{req.id}?lang=en", data={"action": "reject"})
    assert again.status_code == 409 and "has already been decided" in again.text
    assert f'href="/console/approvals/{req.id}" data-error-back' in again.text
    zh = c.post(f"/console/approvals/{req.id}?lang=zh-CN", data={"action": "comment", "comment": ""})
    assert zh.status_code == 422 and "请填写 1–4000 字的评论" in zh.text

    sign_in(c, "spec_a")
    mine = c.get("/console/approvals?box=submitted&lang=en")
    assert f'data-request="{req.id}"' in mine.text and "Approved" in mine.text
    assert 'id="decide-form"' not in c.get(f"/console/approvals/{req.id}").text  # the requester holds no step

    # someone who takes no part: the same page as for a request that does not exist
    sign_in(c, "spec_b")
    foreign, missing = c.get(f"/console/approvals/{req.id}?lang=en"), c.get("/console/approvals/987654?lang=en")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.text.replace(f"/console/approvals/{req.id}", "N") == missing.text.replace("/console/approvals/987654", "N")
    assert "Nothing was found" in foreign.text and "data-error-back" in foreign.text
    assert c.post(f"/console/approvals/{req.id}", data={"action": "approve"}).status_code == 404


def test_incident_reported_worked_and_closed(app_and_state: tuple[TestClient, object]) -> None:
    c, _state = app_and_state
    sign_in(c, "ana")
    assert "/jobs" not in nav(c.get("/console/incidents").text)
    made = c.post("/console/incidents", data={"playbook": "stock_out", "title": "爆款断货", "level": "2"},
                  follow_redirects=False)
    assert made.status_code == 303
    url = made.headers["location"]
    page = c.get(url + "?lang=zh-CN")
    assert "缺货断货" in page.text and "2 级（48 小时内）" in page.text and "+08:00" in page.text
    assert 'id="close-form"' not in page.text and "标记完成" not in page.text  # analysts note, managers act
    assert c.post(url, data={"action": "note", "text": "仓库确认补货"}, follow_redirects=False).status_code == 303
    refused = c.post(url + "?lang=en", data={"action": "step", "step": "1"})
    assert refused.status_code == 403 and "data-error-back" in refused.text
    bad = c.post("/console/incidents?lang=en", data={"playbook": "meteor", "title": "x"})
    assert bad.status_code == 422 and "no such playbook" in bad.text and 'href="/console/incidents"' in bad.text

    sign_in(c, "mdir")
    assert c.post(url, data={"action": "step", "step": "1"}, follow_redirects=False).status_code == 303
    no_review = c.post(url + "?lang=en", data={"action": "close", "summary": "ok", "root_cause": "x", "actions": ""})
    assert no_review.status_code == 422 and "Closing needs the full review" in no_review.text
    assert c.post(url, data={"action": "close", "summary": "补货完成", "root_cause": "预测偏低",
                             "actions": "调高安全库存\n\n每周复核"}, follow_redirects=False).status_code == 303
    closed = c.get(url + "?lang=en")
    assert 'data-status="closed"' in closed.text and "每周复核" in closed.text
    kinds = re.findall(r'<li data-kind="(\w+)"', closed.text)
    assert kinds == ["opened", "note", "step", "closed"]
    listed = c.get("/console/incidents?status=closed&lang=en")
    assert "爆款断货" in listed.text and "Stock-out" in listed.text
    assert "爆款断货" not in c.get("/console/incidents?status=open").text
