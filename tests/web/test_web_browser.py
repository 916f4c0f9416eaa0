"""The console in a real browser (Debian's chromium through Playwright) on the demo business.

Each role signs in and walks every page its navigation offers: no console
errors, no failed requests, every panel loaded, every chart's canvas drawn.
Screenshots of every page in both languages go to ``screenshots/`` (git-ignored).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_support import chromium, served

from jingyun.web.panels import plain

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "screenshots"
USERNAMES = {"specialist": "spec", "analyst": "ana", "manager": "mgr", "admin": "root"}
CJK = re.compile(r"[\u4e00-\u9fff]")
PAGES = {  # nav path -> extra pages reached from it
    "/": [], "/analyses": ["/analyses?tab=retention", "/analyses?tab=paths", "/analyses?tab=attribution",
                           "/analyses?tab=diagnosis"],
    "/users": ["/users/audience", "/users/profile?user_id=u0000002", "/users/segment?name=recent_buyers"], "/experiments": [], "/quality": [],
    "/admin": [], "/dashboards": [], "/jobs": [],
    "/messages": [], "/coupons": [], "/approvals": [], "/incidents": [], "/alerts": ["/alerts/map"],
    "/budgets": [], "/pricing": [], "/journeys": [], "/models": [], "/admin/people": [],
}
# act and manage pages every person sees (their deliveries, journeys, coupons, approvals waiting on them, incidents,
# alerts routed to them, prices); budgets need budgets:view (analyst, manager, admin)
ACT = {"/messages", "/journeys", "/coupons", "/approvals", "/incidents", "/alerts", "/pricing"}
NAV_BY_ROLE = {
    "specialist": {"/", "/users", "/dashboards", *ACT},
    "analyst": {"/", "/analyses", "/models", "/users", "/experiments", "/quality", "/dashboards", *ACT, "/budgets"},
    "manager": {"/", "/analyses", "/models", "/users", "/experiments", "/quality", "/dashboards", "/jobs", *ACT,
                "/budgets"},
    "admin": {"/", "/analyses", "/models", "/users", "/experiments", "/quality", "/admin", "/admin/people",
              "/dashboards", "/jobs", *ACT, "/budgets"},
}




@pytest.fixture(scope="module")
def server(console: Any) -> Iterator[str]:
    with served(console.app) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


class Walker:
    """A signed-in page that records console errors and failed requests."""

    @staticmethod
    def make(browser: Any, base: str, role: str, width: int = 1366, height: int = 900) -> tuple[Any, Any, list[str]]:
        ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        page = ctx.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        page.goto(base + "/console/login")
        page.fill("input[name=username]", USERNAMES[role])
        page.fill("input[name=password]", "console-test-password")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/console/$"))
        settle(page)  # leaving while panels load would abort their requests
        return ctx, page, problems


def settle(page: Any) -> None:
    """Wait until every panel has been swapped in and every chart drawn."""
    page.wait_for_function("() => document.querySelectorAll('.loading').length === 0", timeout=30_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart[data-option]')].every(el => el.dataset.ready === '1')",
        timeout=15_000)
    page.wait_for_timeout(150)


def switch(page: Any) -> None:
    page.click("#lang-switch")
    page.wait_for_load_state()
    settle(page)


BLANK_CHARTS = """() => [...document.querySelectorAll('.chart[data-option]')]
  .filter(el => el.offsetParent !== null)
  .filter(el => {
    const c = el.querySelector('canvas');
    if (!c || !c.width || !c.height) return true;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 16) { if (d[i] !== 0) return false; }
    return true;
  }).map(el => el.getAttribute('aria-label'))"""


def walk(page: Any, base: str, path: str, shot: str | None) -> dict[str, Any]:
    page.goto(base + "/console" + path)
    settle(page)
    blank = page.evaluate(BLANK_CHARTS)
    assert blank == [], f"{path}: charts with an empty canvas: {blank}"
    errors = page.locator("[role=alert]").all_inner_texts()
    assert not errors, f"{path}: {errors}"
    if shot:
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / shot), full_page=True)
    return {"charts": page.locator(".chart canvas").count()}


@pytest.mark.parametrize("role", ["specialist", "analyst", "manager"])
def test_role_walks_its_pages(browser: Any, server: str, role: str) -> None:
    ctx, page, problems = Walker.make(browser, server, role)
    try:
        nav = {a.get_attribute("data-nav") for a in page.locator("header nav a").all()}
        assert nav == NAV_BY_ROLE[role]
        for path in sorted(nav):
            for p in [path, *PAGES[path]]:
                walk(page, server, p, f"{role}_{p.strip('/').replace('/', '_').replace('?', '_').replace('=', '-') or 'cockpit'}_zh.png"
                     if role != "analyst" else None)
        assert problems == []
        # pages outside the role's navigation are refused, not just hidden
        for hidden in set(PAGES) - nav:
            assert page.request.get(server + "/console" + hidden).status == 403
    finally:
        ctx.close()


def test_admin_walks_every_page_in_both_languages(browser: Any, server: str) -> None:
    ctx, page, problems = Walker.make(browser, server, "admin")
    try:
        for lang in ("zh", "en"):
            for path in PAGES:
                for p in [path, *PAGES[path]]:
                    name = p.strip("/").replace("/", "_").replace("?", "_").replace("=", "-") or "cockpit"
                    walk(page, server, p, f"admin_{name}_{lang}.png")
            if lang == "zh":
                switch(page)
        assert problems == []
    finally:
        ctx.close()


LABELS = "header nav a, h1, h2, label, button, th, .tabs a, .badge, dt, .callout"


def _labels(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(LABELS).all_inner_texts() if t.strip()]


def test_language_switch_changes_every_visible_label(browser: Any, server: str) -> None:
    ctx, page, problems = Walker.make(browser, server, "admin")
    try:
        for path in ("/", "/analyses", "/users", "/experiments", "/quality"):
            page.goto(server + "/console" + path)
            settle(page)
            zh = _labels(page)
            switch(page)
            en = _labels(page)
            assert len(en) == len(zh)
            # no Chinese left in any label, except the names of data values (channels, provinces) in callouts
            leftover = [t for t in en if CJK.search(t) and not t.startswith(("Main drivers", "Previous"))]
            assert leftover == [], f"{path}: {leftover[:5]}"
            assert sum(1 for t in zh if CJK.search(t)) >= len(zh) // 2
            switch(page)
        assert problems == []
    finally:
        ctx.close()


def _card_value(page: Any, kpi: str) -> float:
    return float(page.locator(f"[data-kpi={kpi}] .value").get_attribute("data-value"))


def test_filters_change_numbers_and_match_the_library(browser: Any, server: str, console: Any) -> None:
    import datetime as dt

    from jingyun.metrics.compute import value_over
    from jingyun.warehouse.backends.duckdb import DuckDBBackend
    from jingyun.web.metrics_view import dictionary

    ctx, page, problems = Walker.make(browser, server, "manager")
    try:
        page.goto(server + "/console/?from=2026-10-01&to=2026-10-31")
        settle(page)
        october = _card_value(page, "gmv")
        page.fill("input[name=from]", "2026-09-01")
        page.fill("input[name=to]", "2026-09-30")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*from=2026-09-01.*"))
        settle(page)
        september = _card_value(page, "gmv")
        assert october != september
        reader = console.app.state.jingyun.writer.reader()
        try:
            d = dictionary(console.settings)
            for lo, hi, shown in ((dt.date(2026, 10, 1), dt.date(2026, 10, 31), october),
                                  (dt.date(2026, 9, 1), dt.date(2026, 9, 30), september)):
                assert shown == pytest.approx(value_over(DuckDBBackend(reader), d, "gmv", lo, hi,
                                                         timezone=console.settings.timezone), abs=1e-6)
        finally:
            reader.close()
        # a dimension filter changes the number to that channel's share
        page.goto(server + "/console/?from=2026-10-01&to=2026-10-31&dim=users.channel&val=short_video")
        settle(page)
        assert 0 < _card_value(page, "gmv") < october
        assert problems == []
    finally:
        ctx.close()


def test_funnel_numbers_equal_the_api(browser: Any, server: str) -> None:
    ctx, page, problems = Walker.make(browser, server, "analyst")
    try:
        page.goto(server + "/console/analyses?tab=funnel&from=2026-09-01&to=2026-10-31&by=")
        settle(page)
        panel = page.locator("[data-panel=funnel]")
        rows = panel.locator("tbody tr")
        shown = [[c.get_attribute("data-value") for c in rows.nth(i).locator("td").all()[1:]] for i in range(4)]
        api = page.request.post(server + "/api/v1/analysis/funnel", data={
            "steps": ["view_product", "add_to_cart", "checkout", "pay"], "window": "24h",
            "date_from": "2026-09-01", "date_to": "2026-10-31"}).json()
        expected = [[s["users"], s["conversion"], s["step_conversion"], s["drop_off"]] for s in api["steps"]]
        assert [[float(v) for v in row] for row in shown] == [[float(plain(v)) for v in row] for row in expected]
        assert problems == []
    finally:
        ctx.close()


def test_tablet_layout_has_no_horizontal_overflow(browser: Any, server: str) -> None:
    ctx, page, problems = Walker.make(browser, server, "admin", width=820, height=1180)
    try:
        for lang in ("zh", "en"):
            for path in ("/", "/analyses", "/users"):
                page.goto(server + "/console" + path)
                settle(page)
                overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, f"{path} ({lang}) overflows by {overflow}px"
                if path == "/":
                    SHOTS.mkdir(exist_ok=True)
                    page.screenshot(path=str(SHOTS / f"tablet_cockpit_{lang}.png"), full_page=True)
            switch(page)
        assert problems == []
    finally:
        ctx.close()


def test_nested_rule_built_by_clicking_matches_the_library(browser: Any, server: str, console: Any) -> None:
    """Build member_level = <most common> OR NOT (orders in 90 days >= 2 OR view_product with category filter)
    with the tree's buttons and selects; the JSON is the rule the library parses and the size shown
    is the library's estimate for it. A bad value is reported at its node."""
    from jingyun.segments import saved
    from jingyun.segments.audience import parse

    ctx, page, problems = Walker.make(browser, server, "manager")
    try:
        page.goto(server + "/console/users/audience")
        page.wait_for_selector("#estimate [data-value]")
        root = page.locator("#tree > .group")
        root.locator("> .group-head .gop").select_option("or")
        root.locator("> .group-head .add-group").click()
        sub = root.locator("> .children > .group")
        sub.locator("> .group-head .neg").check()
        first = sub.locator("> .children > .cond").nth(0)
        first.locator(".kind").select_option("orders")
        first.locator(".editor .value").fill("2")
        sub.locator("> .group-head .add-cond").click()
        second = sub.locator("> .children > .cond").nth(1)
        second.locator(".kind").select_option("event")
        second.locator(".editor .within").fill("60")
        second.locator(".add-filter").click()
        second.locator(".where .prop").fill("category")
        second.locator(".where .value").fill("服饰")
        # the builder starts on the most common member level present (issue 21 finding 3), read from the page
        common = json.loads(page.get_attribute("#tree", "data-attr-values") or "{}")["member_level"][0][0]
        expected = {"or": [{"attr": "member_level", "op": "eq", "value": common},
                            {"not": {"or": [{"orders": "count", "within_days": 90, "op": "gte", "value": 2},
                                            {"event": "view_product", "within_days": 60,
                                             "where": [{"prop": "category", "op": "eq", "value": "服饰"}],
                                             "count": {"op": "gte", "value": 1}}]}}]}
        page.wait_for_function("(want) => document.getElementById('rule').value === want",
                               arg=json.dumps(expected, ensure_ascii=False, separators=(",", ":")))
        built = json.loads(page.input_value("#rule"))
        assert built == expected
        parse(built)  # the library accepts the tree's JSON as it is
        reader = console.app.state.jingyun.writer.reader()
        try:
            want = saved.estimate(reader, built).size
        finally:
            reader.close()
        assert want > 0
        page.wait_for_selector(f'#estimate [data-value="{want}"]', timeout=15_000)
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "manager_audience_tree_zh.png"), full_page=True)
        # a wrong value type: the library's path names the orders node, which is marked
        first.locator(".editor .value").fill("two")
        page.wait_for_selector("#tree .cond.invalid", timeout=15_000)
        assert page.locator("#estimate [data-error-path]").get_attribute("data-error-path") == \
            "rule.or[1].not.or[0].value"
        assert first.get_attribute("class").split().count("invalid") == 1
        # removing the bad node clears the error and the estimate follows
        first.locator("> .remove").click()
        page.wait_for_selector("#estimate [data-value]", timeout=15_000)
        assert page.locator("#tree .invalid").count() == 0
        assert problems == []
    finally:
        ctx.close()


def test_specialist_saves_the_built_audience_by_clicking(browser: Any, server: str, console: Any) -> None:
    """From 用户 → 新建人群 to the builder: a rule built with the tree, saved as a named segment of the
    specialist's department, is the store's row and shows in the users page's list; a second save under
    the same name is refused beside the button and marks the name field (issue 21 finding 1)."""
    from jingyun.segments import saved
    from jingyun.segments.store import SegmentStore

    state = console.app.state.jingyun
    store = SegmentStore(state.settings, state.store)
    ctx, page, problems = Walker.make(browser, server, "specialist")
    try:
        page.goto(server + "/console/users")
        settle(page)
        page.click("#new-segment")
        page.wait_for_url(re.compile(r".*/console/users/audience#save-segment$"))
        page.wait_for_selector("#estimate [data-value]")
        cond = page.locator("#tree > .group > .children > .cond").nth(0)
        cond.locator(".kind").select_option("orders")
        cond.locator(".editor .value").fill("1")
        expected = {"and": [{"orders": "count", "within_days": 90, "op": "gte", "value": 1}]}
        page.wait_for_function("(want) => document.getElementById('rule').value === want",
                               arg=json.dumps(expected, separators=(",", ":")))
        assert page.locator("#save-department option").all_inner_texts() == ["growth"]
        saves: list[str] = []
        page.on("request", lambda r: saves.append(r.url) if r.method == "POST" and "/users/segments" in r.url else None)
        page.fill("#save-name", "browser_saved")
        page.click("#save-button")
        page.wait_for_selector('#save-result [data-saved="browser_saved"]', timeout=15_000)
        row = store.get_segment("browser_saved")
        assert (row.rule, row.department, row.created_by) == (expected, "growth", "spec")
        assert page.locator("#save-result a[href='/console/users/segment?name=browser_saved']").count() == 1
        # the builder goes on estimating (its requests still go to the estimate, not to the save)
        cond.locator(".editor .value").fill("2")
        page.wait_for_function("() => document.getElementById('rule').value.includes('\"value\":2')")
        reader = state.writer.reader()
        try:
            twice = saved.estimate(reader, {"and": [{**expected["and"][0], "value": 2}]}).shown(
                sees_raw=False, threshold=state.service.min_count)["size"]
        finally:
            reader.close()
        page.wait_for_selector(f'#estimate [data-value="{twice}"]', timeout=15_000)
        assert len(saves) == 1
        # the same name again: refused beside the button (409), in Chinese, the name field marked
        page.click("#save-button")
        page.wait_for_selector('#save-result [data-error-field="name"]', timeout=15_000)
        assert "已有名为 browser_saved 的人群" in page.inner_text("#save-result")
        assert page.get_attribute("#save-name", "aria-invalid") == "true"
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "specialist_audience_save_refused_zh.png"), full_page=True)
        # the browser reports the refusal's status (a request and a console line); nothing else went wrong
        assert problems and all("409" in p for p in problems) and "/console/users/segments" in problems[0]
        assert len(saves) == 2
        problems.clear()
        page.click("header.top a[data-nav='/users']")
        page.wait_for_url(re.compile(r".*/console/users$"))
        settle(page)
        assert "browser_saved" in page.inner_text("[data-panel=segments] table")
        page.screenshot(path=str(SHOTS / "specialist_segment_saved_zh.png"), full_page=True)
        assert problems == []
    finally:
        ctx.close()
        if "browser_saved" in store.segments():  # the shared demo home keeps its two saved segments only
            store.delete_segment("browser_saved")
