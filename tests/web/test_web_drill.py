"""Drill-down to people (issue 21): the people behind a segment tile, a funnel step, a retention
cell or a diagnosis driver, masked per role, saved as a segment, exported, and the audited profile
search. Runs on the console fixture's small demo (conftest.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from web_support import SAVED

from jingyun.api.app import app_state
from jingyun.segments import saved
from jingyun.segments.store import SegmentStore

if TYPE_CHECKING:  # the console fixture's type (tests/web/conftest.py); no import of a module named conftest at run time
    from conftest import Console

_CLIENTS: dict[tuple[int, str], Any] = {}


def _client(console: Console, role: str) -> Any:
    """One signed-in client per role for this module: sign-ins are rate limited per address, and the
    whole console suite shares one."""
    key = (id(console), role)
    if key not in _CLIENTS:
        _CLIENTS[key] = console.client(role)
    return _CLIENTS[key]


def _rule_people(console: Console, rule: dict[str, Any]) -> set[str]:
    """An independent count: the rule's members straight from the library (person ids → user ids)."""
    from jingyun.segments.audience import compile_rule

    wh = app_state(console.app).writer.reader()
    try:
        ctx = saved.context(wh, SegmentStore(console.settings))
        sql = compile_rule(rule, ctx).sql
        return {str(r[0]) for r in wh.rows(f"SELECT user_id FROM users WHERE person_id IN ({sql})")}
    finally:
        wh.close()


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr data-user="([^"]+)"', html)


def _total(html: str) -> int:
    m = re.search(r'id="people-total" data-value="(\d+)"', html)
    assert m, html[:2000]
    return int(m.group(1))


def test_a_segment_tile_drills_to_its_people_paginated_and_masked_per_role(console: Console) -> None:
    expected = _rule_people(console, SAVED["recent_buyers"])
    assert len(expected) > 50  # more than one page
    seen: dict[str, list[str]] = {}
    for role in ("analyst", "manager"):
        c = console.client(role)
        r = c.get("/console/users/people", params={"src": "segment", "name": "recent_buyers", "lang": "en"})
        assert r.status_code == 200, r.text[:500]
        assert _total(r.text) == len(_persons(console, SAVED["recent_buyers"]))
        first = _ids(r.text)
        assert len(first) == 50
        r2 = c.get("/console/users/people", params={"src": "segment", "name": "recent_buyers", "page": 2})
        ids = first + _ids(r2.text)
        assert set(ids) <= expected and len(set(ids)) == len(ids)
        seen[role] = re.findall(r'<td data-field="phone">([^<]*)</td>', r.text)
    # the manager sees phone numbers; the analyst never does (the masking gate's pseudonyms instead)
    assert seen["manager"] and all(re.fullmatch(r"(\+86)?1\d{10}", p) for p in seen["manager"] if p)
    assert seen["analyst"] and not any(re.fullmatch(r"(\+86)?1\d{10}", p) for p in seen["analyst"])
    assert all(p.startswith("sha256:") or p == "" for p in seen["analyst"])


def test_the_export_is_masked_per_role_audited_and_refused_to_roles_without_export(console: Console) -> None:
    from sqlalchemy import select

    from jingyun.store.models import AuditEntry

    expected = _rule_people(console, SAVED["recent_buyers"])
    r = _client(console, "manager").get("/console/users/people.csv", params={"src": "segment", "name": "recent_buyers"})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {row["user_id"] for row in rows} == expected
    assert any(re.fullmatch(r"(\+86)?1\d{10}", row.get("phone", "")) for row in rows)
    with app_state(console.app).store.session() as ses:
        last = ses.scalars(select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.id.desc())).first()
    assert last is not None and last.target == "users:drill" and json.loads(last.detail)["rows"] == len(expected)
    # an analyst may look at the list but may not take it away
    assert _client(console, "analyst").get("/console/users/people.csv",
                                         params={"src": "segment", "name": "recent_buyers"}).status_code == 403


def test_the_analyst_drills_from_the_weakest_funnel_step_into_its_people_and_saves_them(console: Console) -> None:
    import html as htmlmod

    c = _client(console, "analyst")
    r = c.get("/console/drill/funnel", params={"steps": "view_product,add_to_cart,checkout,pay"})
    assert r.status_code == 200, r.text[:300]
    weakest = re.search(r'<tr data-step="(\d+)" class="weakest" data-weakest="true">.*?href="([^"]+)"', r.text, re.S)
    assert weakest, r.text
    href = htmlmod.unescape(weakest.group(2))
    page = c.get(href)
    assert page.status_code == 200
    shown = re.search(r'<pre class="rule-json" id="drill-rule">(.*?)</pre>', page.text, re.S)
    assert shown
    rule = json.loads(htmlmod.unescape(shown.group(1)))
    steps = ["view_product", "add_to_cart", "checkout", "pay"]
    k = int(weakest.group(1))
    assert rule["and"][0]["event"] == steps[k - 2] and rule["and"][1]["not"]["event"] == steps[k - 1]
    assert _total(page.text) == len(_persons(console, rule)) > 0
    # the analyst (no department) saves the drill as a workspace segment: the form offers no department but
    # "none", and the saved segment holds exactly the people the list counted
    assert 'id="people-save"' in page.text and '<option value="">' in page.text
    store = SegmentStore(console.settings)
    try:
        out = c.post("/console/users/segments", data={"name": "ana_lost_at_weakest", "department": "",
                                                      "rule": json.dumps(rule)}, headers={"HX-Request": "true"})
        assert 'data-saved="ana_lost_at_weakest"' in out.text, out.text
        mine = store.get_segment("ana_lost_at_weakest")
        assert mine.rule == rule and mine.department is None and mine.created_by == "ana"
    finally:  # the shared demo home keeps its two saved workspace segments only
        if "ana_lost_at_weakest" in store.segments():
            store.delete_segment("ana_lost_at_weakest")
    # …and never into a department (analysts see every department; saving goes by membership)
    denied = c.post("/console/users/segments", data={"name": "ana_in_growth", "department": "growth",
                                                     "rule": json.dumps(rule)}, headers={"HX-Request": "true"})
    assert denied.status_code == 403 and "ana_in_growth" not in SegmentStore(console.settings).segments()
    # a manager saves the same drill into their department
    m = _client(console, "manager")
    page = m.get(href)
    assert 'id="people-save"' in page.text
    out = m.post("/console/users/segments", data={"name": "lost_at_weakest", "department": "growth",
                                                  "rule": json.dumps(rule)}, headers={"HX-Request": "true"})
    assert 'data-saved="lost_at_weakest"' in out.text, out.text
    seg = SegmentStore(console.settings).get_segment("lost_at_weakest")
    assert seg.rule == rule and seg.department == "growth"
    wh = app_state(console.app).writer.reader()
    try:
        assert saved.estimate(wh, seg.rule).size == len(_persons(console, rule))
    finally:
        wh.close()


def _persons(console: Console, rule: dict[str, Any]) -> set[str]:
    from jingyun.segments.audience import compile_rule

    wh = app_state(console.app).writer.reader()
    try:
        sql = compile_rule(rule, saved.context(wh, SegmentStore(console.settings))).sql
        return {str(r[0]) for r in wh.rows(sql)}
    finally:
        wh.close()


def test_a_bad_drill_is_a_page_naming_the_field(console: Console) -> None:
    c = _client(console, "analyst")
    r = c.get("/console/users/people", params={"src": "funnel", "steps": "view_product,pay", "step": 5, "lang": "en"})
    assert r.status_code == 400 and "step" in r.text and "<nav" in r.text
    r = c.get("/console/users/people", params={"src": "segment", "name": "nope"})
    assert r.status_code == 404


def _drill_rule(text: str) -> dict[str, Any]:
    import html as htmlmod

    shown = re.search(r'<pre class="rule-json" id="drill-rule">(.*?)</pre>', text, re.S)
    assert shown, text[:1000]
    return dict(json.loads(htmlmod.unescape(shown.group(1))))


def test_a_diagnosis_driver_drills_to_the_people_of_its_channel(console: Console) -> None:
    import html as htmlmod

    c = _client(console, "manager")
    r = c.get("/console/drill/diagnosis", params={"metric": "gmv", "by": "channel"})
    assert r.status_code == 200, r.text[:300]
    links = [htmlmod.unescape(h) for h in re.findall(r'class="drill-link" href="([^"]+)"', r.text)]
    assert links
    page = c.get(links[0])
    assert page.status_code == 200
    rule = _drill_rule(page.text)
    assert rule["and"][0]["attr"] == "channel" and rule["and"][1]["orders"] == "count"
    assert _total(page.text) == len(_persons(console, rule)) > 0


def test_a_retention_cell_and_a_rule_drill_count_what_the_rule_selects(console: Console) -> None:
    c = _client(console, "analyst")
    page = c.get("/console/users/people", params={"src": "retention", "cohort_event": "view_product",
                                                  "return_event": "add_to_cart", "cohort": "2000-01-01", "day": 1})
    assert page.status_code == 200
    rule = _drill_rule(page.text)
    assert [n["event"] for n in rule["and"]] == ["view_product", "add_to_cart"]
    assert _total(page.text) == len(_persons(console, rule)) > 0
    gold = {"attr": "member_level", "op": "eq", "value": "金卡会员"}
    page = c.get("/console/users/people", params={"src": "rule", "rule": json.dumps(gold)})
    assert _total(page.text) == len(_persons(console, gold))
    # a masked role may not drill by a rule that singles out one person
    r = c.get("/console/users/people", params={"src": "rule", "rule": json.dumps(
        {"attr": "user_id", "op": "eq", "value": "u1"})})
    assert r.status_code == 403


def _a_person(console: Console) -> dict[str, Any]:
    """A user with a phone, a name and events, read straight from the warehouse (decrypted)."""
    from jingyun.warehouse import personal

    wh = app_state(console.app).writer.reader()
    try:
        uid, pid = wh.rows("SELECT u.user_id, u.person_id FROM users u JOIN events e ON e.person_id = u.person_id "
                           "GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1")[0]
        row = personal.reveal(wh, [{"user_id": uid, "name": None, "phone": None}], ["name", "phone"])[0]
        counts = dict(wh.rows("SELECT event, count(*) FROM events WHERE person_id = ? GROUP BY 1", [pid]))
        return {"user_id": str(uid), "name": row["name"], "phone": row["phone"], "counts": counts}
    finally:
        wh.close()


def _last_audit(console: Console, action: str) -> Any:
    from sqlalchemy import select

    from jingyun.store.models import AuditEntry

    with app_state(console.app).store.session() as ses:
        return ses.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc())).first()


def test_the_profile_search_by_phone_or_name_is_for_managers_and_admins_and_audited(console: Console) -> None:
    person = _a_person(console)
    assert person["phone"] and person["name"]
    m = _client(console, "manager")
    for q, by in ((person["phone"], "phone"), (person["phone"][-11:], "phone"), (person["name"], "name")):
        r = m.get("/console/users/profile", params={"q": q})
        assert r.status_code == 200, r.text[:300]
        assert f'data-user="{person["user_id"]}"' in r.text
        entry = _last_audit(console, "read_personal")
        detail = json.loads(entry.detail)
        assert entry.target == "users:search" and detail["search"] == by and detail["results"] >= 1
        assert q not in entry.detail  # the audit says how, never what was searched for
    assert 'data-user=' not in m.get("/console/users/profile", params={"q": "13000000000"}).text.split(
        'id="search-results"')[1]
    # an analyst sees de-identified profiles only: no search box, and the search itself is refused
    a = _client(console, "analyst")
    assert 'id="profile-search"' not in a.get("/console/users/profile").text
    r = a.get("/console/users/profile", params={"q": person["phone"]})
    assert r.status_code == 403 and person["user_id"] not in r.text


def test_the_profile_timeline_filters_by_event_and_day(console: Console) -> None:
    person = _a_person(console)
    c = _client(console, "analyst")
    r = c.get("/console/users/profile", params={"user_id": person["user_id"]})
    assert r.status_code == 200
    m = re.search(r'id="timeline-total" data-value="(\d+)"', r.text)
    assert m and int(m.group(1)) == sum(person["counts"].values())
    event, n = max(person["counts"].items(), key=lambda kv: kv[1])
    r = c.get("/console/users/profile", params={"user_id": person["user_id"], "event": event})
    m = re.search(r'id="timeline-total" data-value="(\d+)"', r.text)
    assert m and int(m.group(1)) == n
    assert set(re.findall(r'<li data-event="([^"]+)"', r.text)) == {event}
    r = c.get("/console/users/profile", params={"user_id": person["user_id"], "ev_from": "1990-01-01",
                                                 "ev_to": "1990-01-31"})
    assert re.search(r'id="timeline-total" data-value="0"', r.text)
    r = c.get("/console/users/profile", params={"user_id": person["user_id"], "ev_from": "2026-02-01",
                                                 "ev_to": "2026-01-01"})
    assert r.status_code == 400


def test_the_admin_creates_a_user_and_adds_them_to_a_department(console: Console) -> None:
    from sqlalchemy import select

    from jingyun.store.models import Person

    a = _client(console, "admin")
    assert a.get("/console/admin/people").status_code == 200
    r = a.post("/console/admin/people/new-department", data={"name": "retention_ops"})
    assert r.status_code == 201 and 'data-department="retention_ops"' in r.text
    r = a.post("/console/admin/people", data={"username": "newbie", "password": "short", "role": "specialist"})
    assert r.status_code == 422 and 'data-error-field="password"' in r.text
    r = a.post("/console/admin/people", data={"username": "newbie", "password": "a-long-initial-pw",
                                              "role": "specialist", "department": "growth"})
    assert r.status_code == 201, r.text[:500]
    r = a.post("/console/admin/people/departments", data={"username": "newbie", "department": "retention_ops"})
    assert r.status_code == 200 and 'data-departments="growth,retention_ops"' in r.text
    with app_state(console.app).store.session() as ses:
        person = ses.scalar(select(Person).where(Person.username == "newbie"))
        assert person is not None and sorted(person.department_names) == ["growth", "retention_ops"]
        assert person.role == "specialist"
    entry = _last_audit(console, "permission_change")
    assert json.loads(entry.detail)["after"]["departments"] == ["growth", "retention_ops"]
    # the new person signs in and the department is theirs
    login = console.client().post("/console/login", data={"username": "newbie", "password": "a-long-initial-pw"},
                                  follow_redirects=False)
    assert login.status_code == 303
    assert a.post("/console/admin/people/departments",
                  data={"username": "nobody", "department": "growth"}).status_code == 404
    assert _client(console, "manager").get("/console/admin/people").status_code == 403
    assert _client(console, "manager").post("/console/admin/people/new-department",
                                          data={"name": "x"}).status_code == 403


def test_the_models_page_shows_the_registry_and_the_clv_and_churn_reports(console: Console) -> None:
    import datetime as dt

    from jingyun.models.churn import ChurnParams, evaluate
    from jingyun.models.churn_features import data_end
    from jingyun.models.clv import ClvParams, fit_clv
    from jingyun.models.registry import StoreRegistry

    state = app_state(console.app)
    entry = StoreRegistry(state.store).register("churn", data_start=None, data_end=dt.date(2026, 1, 1),
                                                params={"horizon_days": 60}, metrics={"roc_auc": 0.8123})
    c = _client(console, "analyst")
    assert c.get("/console/models").status_code == 200
    assert _client(console, "specialist").get("/console/models").status_code == 403
    reg = c.get("/console/panel/model_registry", params={"kind": "churn"})
    assert reg.status_code == 200 and entry.model_id in reg.text and "roc_auc=0.812" in reg.text
    wh = state.writer.reader()
    try:
        end = data_end(wh) - dt.timedelta(days=1)
        fit = fit_clv(wh, ClvParams(calibration_end=end - dt.timedelta(days=90), holdout_end=end))
        _, ev = evaluate(wh, ChurnParams(horizon_days=60, train_cutoffs=3))
    finally:
        wh.close()
    clv = c.get("/console/panel/clv_report")
    assert clv.status_code == 200, clv.text[:300]
    assert f"{fit.customers:,}" in clv.text
    for b in fit.holdout:
        assert f'data-value="{b.customers}"' in clv.text
    churn = c.get("/console/panel/churn_report", params={"lang": "en"})
    assert churn.status_code == 200, churn.text[:300]
    assert f"{ev.auc_gain_over_rule:+.3f}" in churn.text and f"{ev.test_rows:,}" in churn.text


def test_an_analyst_sets_up_an_experiment_validated_by_the_library(console: Console) -> None:
    from jingyun.experiments.registry import get_experiment

    c = _client(console, "analyst")
    assert c.get("/console/experiments/new").status_code == 200
    bad = c.post("/console/experiments/new", data={"key": "copy_test", "variations": "control=0.2\na=0.4\nb=0.9"})
    assert bad.status_code == 422 and 'data-error-field="weights"' in bad.text
    assert "a=0.4" in bad.text  # the form comes back as typed
    bad = c.post("/console/experiments/new", data={"key": "copy test!", "variations": "control=1\ntreatment=1"})
    assert bad.status_code == 422 and 'data-error-field="key"' in bad.text
    r = c.post("/console/experiments/new", data={"key": "copy_test", "variations": "control=0.5\ntreatment=0.5",
                                                 "traffic": "0.4", "window_days": "14", "conversion_event": "pay",
                                                 "hypothesis": "shorter copy converts better"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/experiments?key=copy_test"
    e = get_experiment(console.settings, "copy_test")
    assert [v.name for v in e.variations] == ["control", "treatment"] and e.traffic == 0.4 and e.window_days == 14
    assert c.get(r.headers["location"]).status_code == 200
    again = c.post("/console/experiments/new", data={"key": "copy_test", "variations": "control=1\ntreatment=1"})
    assert again.status_code == 409 and 'data-error-field="key"' in again.text
    assert _client(console, "specialist").get("/console/experiments/new").status_code == 403


def test_a_funnel_step_with_its_own_property_filter_counts_and_drills_with_that_filter(console: Console) -> None:
    import html as htmlmod

    from jingyun.analysis import FunnelParams, run_funnel
    from jingyun.analysis.common import Step
    from jingyun.warehouse.backends import open_backend
    from jingyun.warehouse.filters import Filter
    from jingyun.web.routes.analyses import parse_step

    assert parse_step("view_product[category=服饰;price>=100]") == Step(
        "view_product", (Filter("category", "eq", "服饰"), Filter("price", "gte", 100.0)))
    wh = app_state(console.app).writer.reader()
    try:
        cat = wh.scalar("SELECT json_extract_string(properties, '$.category') c FROM events WHERE event = "
                        "'view_product' AND c IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    finally:
        wh.close()
    assert cat
    steps = f"view_product[category={cat}],add_to_cart,pay"
    c = _client(console, "analyst")
    r = c.get("/console/drill/funnel", params={"steps": steps})
    assert r.status_code == 200, r.text[:300]
    shown = [int(v) for v in re.findall(r'<td class="num" data-value="(\d+)">', r.text)][::2]
    wh = app_state(console.app).writer.reader()
    try:
        f = re.search(r'href="[^"]*from=([\d-]+)&amp;to=([\d-]+)', r.text)
        assert f
        p = FunnelParams.create([Step("view_product", (Filter("category", "eq", cat),)), "add_to_cart", "pay"],
                                "24h", f.group(1), f.group(2), timezone=console.settings.timezone)
        res = run_funnel(open_backend(console.settings, warehouse=wh), p, compare=False, ttc=False)
    finally:
        wh.close()
    assert shown == [s.users for s in res.steps]
    link = htmlmod.unescape(re.findall(r'class="drill-link" href="([^"]+)"', r.text)[0])
    rule = _drill_rule(c.get(link).text)
    assert rule["and"][0]["where"] == [{"prop": "category", "op": "eq", "value": cat}]
    assert 'data-plan="' in c.get("/console/analyses", params={"tab": "funnel"}).text


def test_the_retention_cells_link_to_their_people_with_the_library_counts(console: Console) -> None:
    import html as htmlmod

    from jingyun.analysis import RetentionParams, run_retention
    from jingyun.warehouse.backends import open_backend

    c = _client(console, "analyst")
    r = c.get("/console/drill/retention", params={"cohort_event": "view_product", "return_event": "view_product",
                                                  "days": 3})  # the default range: the last 30 days of data
    assert r.status_code == 200, r.text[:300]
    links = [htmlmod.unescape(h) for h in re.findall(r'class="drill-link" href="([^"]+)"', r.text)]
    assert links
    first = re.search(r'<tr data-cohort="([\d-]+)"><td>[^<]*</td><td class="num" data-value="(\d+)">', r.text)
    assert first
    cells = [int(v) for v in re.findall(r'data-value="(\d+)"><a', r.text.split(f'data-cohort="{first.group(1)}"')[1]
                                        .split("</tr>")[0])]
    f = parse_qs(urlsplit(links[0]).query)
    wh = app_state(console.app).writer.reader()
    try:
        day = dt.date.fromisoformat(first.group(1))
        res = run_retention(open_backend(console.settings, warehouse=wh), RetentionParams.create(
            "view_product", "view_product", 3, period="day", date_from=day, date_to=day,
            timezone=console.settings.timezone))
    finally:
        wh.close()
    assert res.cohorts[0].size == int(first.group(2))
    assert cells == res.cohorts[0].retained[:len(cells)]
    assert f["src"] == ["retention"]
    page = c.get(links[0])
    assert page.status_code == 200 and _total(page.text) == len(_persons(console, _drill_rule(page.text)))
