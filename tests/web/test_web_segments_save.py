"""Save as segment (保存为人群) in the audience builder (issue 16 "metadata in one store", issue 21 finding 1).

A segment saved in the console is the row ``GET /api/v1/segments`` and ``jingyun segment list --json`` list,
and a segment made through the API shows in the console. The save keeps issue 15's rules: only
``segments:create``, only into the caller's own departments (admins anywhere), no rule that pins one person
for masked roles, audited as ``segment_change``. Refusals are fragments (or, without the script, the builder
page) in the caller's language naming the field, with the HTTP status of the refusal.

The app runs in this process on its own small demo home, so the saved rows do not leak into the shared
console fixture. The CLI runs in a subprocess against the same home while the app holds the DuckDB file:
``segment list`` reads only the metadata store (SQLite), so it needs no service; commands that open the
warehouse would need a real ``jingyun serve`` and its control channel (tests/service cover those).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import load_settings
from jingyun.demo import build
from jingyun.demo.params import DemoParams
from jingyun.security import auth
from jingyun.segments import saved
from jingyun.segments.store import SegmentStore
from jingyun.store.models import AuditEntry
from jingyun.web import mount

PASSWORD = "segments-save-password"
# username -> (role, departments); "outlets" never gets a segment, so its specialist sees an empty list
PEOPLE = {"spec": ("specialist", ["growth"]), "spec_s": ("specialist", ["stores"]), "spec_o": ("specialist", ["outlets"]),
          "mgr": ("manager", ["growth"]), "ana": ("analyst", []), "root": ("admin", [])}
ONLINE = {"and": [{"orders": "count", "within_days": 365, "op": "gte", "value": 1}]}
HX = {"HX-Request": "true"}


@dataclass
class App:
    app: FastAPI
    home: Path
    signed_in: dict[tuple[str, str], TestClient] = field(default_factory=dict)

    def console(self, username: str, lang: str = "") -> TestClient:
        """One signed-in client per person and language (sign-ins are throttled per address)."""
        if (username, lang) not in self.signed_in:
            c = TestClient(self.app)
            if lang:
                c.cookies.set("jy_lang", lang)
            r = c.post("/console/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
            assert r.status_code == 303, r.text
            self.signed_in[(username, lang)] = c
        return self.signed_in[(username, lang)]

    def api(self, username: str) -> TestClient:
        state = app_state(self.app)
        return TestClient(self.app, headers={"Authorization": f"Bearer {auth.issue_token(state.service, username)}"})

    def store(self) -> SegmentStore:
        state = app_state(self.app)
        return SegmentStore(state.settings, state.store)


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    home = tmp_path_factory.mktemp("segments_save")
    settings = load_settings(home)
    build(settings, DemoParams(users=300, days=40, seed=5))
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    for username, (role, deps) in PEOPLE.items():
        auth.create_person(state.store, username=username, password=PASSWORD, role=role, departments=deps,
                           service=state.service)
    with TestClient(app):  # the lifespan: the app owns the warehouse file for the module
        yield App(app, home)


def cli(home: Path, *args: str) -> Any:
    env = {**os.environ, "JINGYUN_HOME": str(home), "JINGYUN_CLI_SESSION": "off"}
    env.pop("JINGYUN_DB_URL", None)
    proc = subprocess.run([sys.executable, "-m", "jingyun.cli.main", *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _save(c: TestClient, name: str, department: str, rule: dict[str, Any], hx: bool = True) -> Any:
    return c.post("/console/users/segments", data={"name": name, "department": department, "rule": json.dumps(rule)},
                  headers=HX if hx else {})


def _audits(svc: App, action: str) -> list[AuditEntry]:
    with app_state(svc.app).store.session() as ses:
        return list(ses.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_a_segment_saved_in_the_console_is_listed_by_the_api_the_cli_and_the_console(svc: App) -> None:
    spec = svc.console("spec")
    r = _save(spec, "console_buyers", "growth", ONLINE)
    assert r.status_code == 200, r.text
    assert 'data-saved="console_buyers"' in r.text and "已保存人群 console_buyers" in r.text
    assert "/console/users/segment?name=console_buyers" in r.text

    # the API: the same row, in growth, a draft made by spec, with the rule as the builder sent it
    items = svc.api("spec").get("/api/v1/segments").json()["items"]
    row = next(s for s in items if s["name"] == "console_buyers")
    assert (row["department"], row["status"], row["created_by"], row["version"]) == ("growth", "draft", "spec", 1)
    assert row["rule"] == ONLINE
    size = svc.api("mgr").get(f"/api/v1/segments/{row['id']}/size").json()
    reader = app_state(svc.app).writer.reader()
    try:
        want = saved.estimate(reader, ONLINE).size
    finally:
        reader.close()
    assert size["size"] == want > 10  # the size shown on save is the library's (not suppressed at this size)
    assert f">{want}<" in r.text
    # another department's specialist does not see it (404, as for a missing one)
    assert svc.api("spec_s").get(f"/api/v1/segments/{row['id']}").status_code == 404

    # the CLI, in another process, while this app holds the warehouse file
    listed = {s["name"]: s for s in cli(svc.home, "segment", "list", "--json")}
    assert listed["console_buyers"]["department"] == "growth" and listed["console_buyers"]["rule"] == ONLINE
    assert listed["console_buyers"]["owner"] == "spec"

    # the console: the users page's segment list and the segment page
    panel = spec.get("/console/panel/segments").text
    assert ">console_buyers</td>" in panel  # no refresh yet: listed by name, with no size trend to link from
    assert spec.get("/console/users/segment?name=console_buyers").status_code == 200
    assert "console_buyers" not in svc.console("spec_s").get("/console/panel/segments").text

    # audited like the API's create
    audit = [a for a in _audits(svc, "segment_change") if a.target == f"segment:{row['id']}"]
    assert len(audit) == 1 and audit[0].actor == "spec" and json.loads(audit[0].detail)["via"] == "console"


def test_a_segment_made_through_the_api_shows_in_the_console(svc: App) -> None:
    rule = {"and": [{"attr": "member_level", "op": "eq", "value": "金卡会员"}]}
    r = svc.api("mgr").post("/api/v1/segments", json={"name": "api_gold_members", "department": "growth",
                                                      "zh": "API金卡", "rule": rule})
    assert r.status_code == 201, r.text
    spec = svc.console("spec")
    assert "API金卡" in spec.get("/console/panel/segments").text
    assert spec.get("/console/users/segment?name=api_gold_members").status_code == 200
    # the builder offers it as a segment condition, and a rule on it saves and estimates
    assert '<option value="api_gold_members">' in spec.get("/console/users/audience").text
    # another department's builder does not name it (the picker lists what the caller may see)
    assert "api_gold_members" not in svc.console("spec_s").get("/console/users/audience").text
    nested = {"and": [{"segment": "api_gold_members"}]}
    saved_r = _save(spec, "gold_again", "growth", nested)
    assert saved_r.status_code == 200 and 'data-saved="gold_again"' in saved_r.text
    assert svc.store().get_segment("gold_again").rule == nested


def test_a_taken_name_is_refused_in_the_callers_language_naming_the_field(svc: App) -> None:
    spec = svc.console("spec")
    assert _save(spec, "dup_name", "growth", ONLINE).status_code == 200
    zh = _save(spec, "dup_name", "growth", ONLINE)
    assert zh.status_code == 409
    assert "已有名为 dup_name 的人群" in zh.text and 'data-error-field="name"' in zh.text and "字段: name" in zh.text
    assert not zh.text.lstrip().startswith("{")  # a fragment, never the API's JSON
    en = _save(svc.console("spec", lang="en"), "dup_name", "growth", ONLINE)
    assert en.status_code == 409 and "A segment named dup_name exists" in en.text and "field: name" in en.text
    # a plain form post (no HTMX) gets the builder page back, with the rule and the message
    page = _save(spec, "dup_name", "growth", ONLINE, hx=False)
    assert page.status_code == 409 and "<html" in page.text and 'id="audience"' in page.text
    assert "已有名为 dup_name 的人群" in page.text and 'id="save-name"' in page.text and 'aria-invalid="true"' in page.text
    assert json.loads(page.text.split('spellcheck="false">')[1].split("</textarea>")[0].replace("&#34;", '"')) == ONLINE
    assert svc.store().get_segment("dup_name").version == 1  # nothing replaced


@pytest.mark.parametrize("name", ["", " ", "_x", "a" * 101, "bad/name"])
def test_a_bad_name_is_refused_naming_the_field(svc: App, name: str) -> None:
    r = _save(svc.console("spec", lang="en"), name, "growth", ONLINE)
    assert r.status_code == 422 and 'data-error-field="name"' in r.text and "Give the segment a name" in r.text


def test_a_specialist_cannot_save_into_another_department(svc: App) -> None:
    spec = svc.console("spec")
    page = spec.get("/console/users/audience").text
    assert '<option value="growth">' in page and '<option value="stores">' not in page
    assert '<option value="">' not in page  # no workspace segment for a specialist
    before = len(_audits(svc, "denied"))
    r = _save(spec, "into_stores", "stores", ONLINE)
    assert r.status_code == 403 and "只能保存到您所在的部门" in r.text and 'data-error-field="department"' in r.text
    en = _save(svc.console("spec", lang="en"), "into_stores", "stores", ONLINE)
    assert en.status_code == 403 and "only into your own departments" in en.text
    assert len(_audits(svc, "denied")) == before + 2  # audited like the API's refusal
    none = _save(spec, "into_nowhere", "", ONLINE)
    assert none.status_code == 422 and 'data-error-field="department"' in none.text
    names = set(svc.store().segments())
    assert not {"into_stores", "into_nowhere"} & names
    assert "into_stores" not in {s["name"] for s in svc.api("root").get("/api/v1/segments").json()["items"]}
    # a manager likewise; an admin saves anywhere, or as a workspace segment
    assert _save(svc.console("mgr"), "mgr_into_stores", "stores", ONLINE).status_code == 403
    admin_page = svc.console("root").get("/console/users/audience").text
    assert all(f'<option value="{d}">' in admin_page for d in ("", "growth", "stores"))
    assert _save(svc.console("root"), "root_stores", "stores", ONLINE).status_code == 200
    assert svc.store().get_segment("root_stores").department == "stores"
    assert _save(svc.console("root"), "root_nowhere_dept", "nowhere", ONLINE).status_code == 422


def test_a_masked_role_cannot_save_a_rule_that_pins_one_person(svc: App) -> None:
    rule = {"and": [{"attr": "member_level", "op": "eq", "value": "金卡会员"},
                    {"attr": "user_id", "op": "eq", "value": "u0000002"}]}
    r = _save(svc.console("spec"), "one_person", "growth", rule)
    assert r.status_code == 403
    assert 'data-error-field="rule.and[1].attr"' in r.text and "不能按个人或个人信息圈选" in r.text
    en = _save(svc.console("spec", lang="en"), "one_person", "growth", rule, hx=False)
    assert en.status_code == 403 and "<html" in en.text and "rule.and[1].attr" in en.text
    assert "one_person" not in svc.store().segments()
    # personal data in an event filter likewise; a manager (raw access) may save the same rule
    phone = {"and": [{"event": "view_product", "where": [{"prop": "phone", "op": "eq", "value": "1"}],
                      "count": {"op": "gte", "value": 1}}]}
    r2 = _save(svc.console("spec"), "by_phone", "growth", phone)
    assert r2.status_code == 403 and 'data-error-field="rule.and[0].where[0].prop"' in r2.text
    assert _save(svc.console("mgr"), "one_person", "growth", rule).status_code == 200


def test_a_rule_that_does_not_compile_is_not_saved(svc: App) -> None:
    r = _save(svc.console("spec"), "broken_rule", "growth", {"and": [{"attr": "nope", "op": "eq", "value": 1}]})
    assert r.status_code in (400, 422) and 'data-error-field="rule.and[0].attr"' in r.text
    bad_json = svc.console("spec").post("/console/users/segments", headers=HX,
                                        data={"name": "broken_json", "department": "growth", "rule": "{"})
    assert bad_json.status_code == 422 and "规则不是有效的 JSON" in bad_json.text
    assert not {"broken_rule", "broken_json"} & set(svc.store().segments())


def test_only_segments_create_may_save_and_the_users_page_points_to_it(svc: App) -> None:
    ana = svc.console("ana")
    assert _save(ana, "by_analyst", "growth", ONLINE).status_code == 403
    anonymous = TestClient(svc.app).post("/console/users/segments", follow_redirects=False,
                                         data={"name": "anon", "department": "growth", "rule": json.dumps(ONLINE)})
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/console/login"
    assert not {"by_analyst", "anon"} & set(svc.store().segments())
    # the users page offers the action that exists ("新建人群" → the builder's save form) to those who may save
    users = svc.console("spec_o").get("/console/users").text
    assert 'href="/console/users/audience#save-segment"' in users and "新建人群" in users
    empty = svc.console("spec_o").get("/console/panel/segments").text  # outlets has none, and no workspace ones
    assert "保存为人群" in empty and "可在人群圈选中创建" not in empty
    builder = svc.console("spec").get("/console/users/audience").text
    assert 'id="save-segment"' in builder and "保存为人群" in builder and 'hx-post="/console/users/segments"' in builder
    # analysts may save too (de-identified): the builder is theirs, a workspace segment when they have no department
    assert "/console/users/audience" in ana.get("/console/users").text
    builder_ana = ana.get("/console/users/audience").text
    assert 'id="save-segment"' in builder_ana and '<option value="">' in builder_ana
    assert _save(ana, "by_analyst_ws", "", ONLINE).status_code == 200
    listed = {s["name"]: s["department"] for s in svc.api("spec_s").get("/api/v1/segments").json()["items"]}
    assert listed["by_analyst_ws"] is None  # a workspace segment: everyone with segments:view sees it
    svc.store().delete_segment("by_analyst_ws")  # outlets' specialist sees no segment in later tests
