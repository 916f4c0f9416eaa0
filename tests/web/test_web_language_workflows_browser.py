"""The approvals and incident pages in a real browser (Debian's chromium through Playwright), zh-CN: no raw enum
token in what is shown (issue 20 item 5), and every shown time on one line — a narrow window used to break
``2026-10-09 09:30:00+08:00`` into "…+0" and "8:00". The same window without the console's ``time`` rule does
break a time, so the check can fail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_language_workflows import PASSWORD, WORD, _tokens, build
from web_support import chromium, served

pytestmark = pytest.mark.browser
PAGES = [("spec_a", "/approvals?box=submitted"), ("gm_li", "/approvals?box=to_decide"), ("spec_a", "/approvals/{request}"),
         ("mman", "/incidents?status=all"), ("mman", "/incidents/{incident}")]
WRAPPED = "() => [...document.querySelectorAll('main time')].filter(t => t.getClientRects().length > 1).length"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    app, ids = build(Path(tmp_path_factory.mktemp("lang_workflows_browser")))
    with served(app) as base:
        yield base, ids


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _signed_in(browser: Any, base: str, who: str, width: int) -> tuple[Any, Any]:
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(base + "/console/login?lang=zh-CN")
    page.fill("input[name=username]", who)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/$"))
    return ctx, page


@pytest.mark.parametrize(("who", "path"), PAGES)
def test_zh_page_has_no_raw_token_and_no_broken_time(browser: Any, site: tuple[str, dict[str, int]], who: str,
                                                     path: str) -> None:
    base, ids = site
    ctx, page = _signed_in(browser, base, who, 1366)
    try:
        page.goto(base + "/console" + path.format(**ids))
        text = str(page.evaluate("() => [document.querySelector('main').innerText, "
                                 "...[...document.querySelectorAll('main select option')].map(o => o.textContent)]"
                                 ".join('\\n')"))
        tokens = _tokens()
        assert sorted({w for w in WORD.findall(text) if w in tokens}) == [], path
        page.set_viewport_size({"width": 380, "height": 900})
        assert page.locator("main time").count() > 0
        assert page.evaluate(WRAPPED) == 0, f"{path}: a time broke across lines"
    finally:
        ctx.close()


def test_without_the_rule_a_narrow_timeline_breaks_a_time(browser: Any, site: tuple[str, dict[str, int]]) -> None:
    base, ids = site
    ctx, page = _signed_in(browser, base, "spec_a", 380)
    try:
        page.goto(f"{base}/console/approvals/{ids['request']}")
        assert page.evaluate(WRAPPED) == 0
        page.add_style_tag(content="time { white-space: normal !important; }")
        assert page.evaluate(WRAPPED) > 0  # the check sees a broken time when the rule is gone
    finally:
        ctx.close()
