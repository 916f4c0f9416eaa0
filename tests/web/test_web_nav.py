"""The console's navigation as each role sees it (issue 21, "pages that exist in the library but not the
console"): models under analyses, people and departments under admin, experiment setup behind a button on
the experiments page — every link shown opens (200) for the role that sees it, and every page another role
is offered but this one is not answers 403 to it, in both languages."""

from __future__ import annotations

import re
from typing import Any

import pytest

ROLES = ("specialist", "analyst", "manager", "admin")
LABELS = {"zh-CN": {"/models": "模型", "/admin/people": "人员与部门"},
          "en": {"/models": "Models", "/admin/people": "People &amp; departments"}}


def _nav(html: str) -> dict[str, str]:
    """data-nav path -> the link's text, from the header's navigation only."""
    header = html.split('<header class="top">')[1].split("</nav>")[0]
    return {path: text.strip() for path, text in
            re.findall(r'<a href="/console[^"]*"(?: class="[^"]*")? data-nav="([^"]+)"[^>]*>([^<]*)</a>', header)}


@pytest.fixture(scope="module")
def clients(console: Any) -> dict[str, Any]:
    return {role: console.client(role) for role in ROLES}  # one sign-in per role (sign-ins are throttled)


@pytest.fixture(scope="module")
def navs(clients: dict[str, Any]) -> dict[str, dict[str, str]]:
    out = {}
    for role, c in clients.items():
        r = c.get("/console/")
        assert r.status_code == 200, (role, r.status_code)
        out[role] = _nav(r.text)
    return out


def test_models_sit_under_analyses_and_people_under_admin_for_the_roles_that_may_open_them(
        navs: dict[str, dict[str, str]]) -> None:
    assert ["/models" in navs[r] for r in ROLES] == [False, True, True, True]
    assert ["/admin/people" in navs[r] for r in ROLES] == [False, False, False, True]
    order = list(navs["admin"])
    assert order.index("/models") == order.index("/analyses") + 1
    assert order.index("/admin/people") == order.index("/admin") + 1


@pytest.mark.parametrize("role", ROLES)
def test_every_nav_link_opens_for_its_role_and_no_hidden_page_does(clients: dict[str, Any],
                                                                   navs: dict[str, dict[str, str]], role: str) -> None:
    c = clients[role]
    shown = set(navs[role])
    assert shown, role
    for path in sorted(shown):
        r = c.get("/console" + path, follow_redirects=False)
        assert r.status_code == 200, (role, path, r.status_code)
    offered_elsewhere = set().union(*navs.values()) - shown
    for path in sorted(offered_elsewhere):
        assert c.get("/console" + path, follow_redirects=False).status_code == 403, (role, path)


@pytest.mark.parametrize("role", ROLES)
def test_the_experiments_page_offers_setup_to_whoever_opens_it(clients: dict[str, Any], role: str) -> None:
    c = clients[role]
    page = c.get("/console/experiments", follow_redirects=False)
    if page.status_code == 403:  # specialists: no experiments page, so no button and no setup either
        assert c.get("/console/experiments/new", follow_redirects=False).status_code == 403
        return
    assert page.status_code == 200
    button = re.search(r'<a class="button" id="new-experiment" href="([^"]+)">([^<]+)</a>', page.text)
    assert button and button.group(2) == "新建实验"
    assert c.get(button.group(1), follow_redirects=False).status_code == 200


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_new_links_are_named_in_the_reader_s_language(clients: dict[str, Any], lang: str) -> None:
    nav = _nav(clients["admin"].get(f"/console/?lang={lang}").text)
    assert {p: nav[p] for p in LABELS[lang]} == LABELS[lang]
    english = clients["analyst"].get(f"/console/experiments?lang={lang}").text
    assert ("New experiment" in english) == (lang == "en")
