"""The date picker and the board grid in a real browser (Debian's chromium through Playwright, ``-m browser``).

The manager picks 上月 and 同比 on the cockpit: the URL keeps the preset (no days), the note under the picker
shows the month and the same month a year earlier, typing a day switches to 自定义. Then a board: cards
reordered by dragging one onto another and by the keyboard (Tab to a move button, Enter), resized, and a
text card whose HTML stays text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from web_support import chromium, served

from jingyun.web.filters import use_clock

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(console: Any) -> Iterator[str]:
    with served(console.app) as base:
        yield base


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[tuple[Any, list[str]]]:
    with chromium() as b:
        ctx = b.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        pg = ctx.new_page()
        problems: list[str] = []
        pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        pg.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        pg.goto(server + "/console/login")
        pg.fill("input[name=username]", "mgr")
        pg.fill("input[name=password]", "console-test-password")
        pg.click("button[type=submit]")
        pg.wait_for_url(re.compile(r".*/console/$"))
        _settle(pg)
        yield pg, problems


def _settle(pg: Any) -> None:
    pg.wait_for_function("() => document.querySelectorAll('.loading').length === 0", timeout=30_000)
    pg.wait_for_timeout(100)


def test_the_picker_keeps_the_preset_and_compares_with_last_year(page: tuple[Any, list[str]], server: str) -> None:
    pg, problems = page
    with use_clock(dt.date(2026, 11, 10)):  # the server runs in this process: its "today" is this one
        pg.goto(server + "/console/")
        _settle(pg)
        form = pg.locator("form.filters").first
        form.locator("select[name=range]").select_option("last_month")
        form.locator("select[name=compare]").select_option("last_year")
        form.locator("button[type=submit]").click()
        pg.wait_for_url(re.compile(r".*range=last_month.*"))
        _settle(pg)
        assert "from=" not in pg.url and "compare=last_year" in pg.url
        note = pg.locator(".range-note").first
        assert note.get_attribute("data-range-from") == "2026-10-01" and note.get_attribute("data-range-to") == "2026-10-31"
        assert note.get_attribute("data-compare-from") == "2025-10-01"
        assert "同比" in pg.locator("[data-kpi=gmv] dt").all_inner_texts()[-1]
        # typing a day switches the range to custom, and the days travel
        form = pg.locator("form.filters").first
        form.locator("input[name=from]").fill("2026-09-01")
        assert form.locator("select[name=range]").input_value() == "custom"
        form.locator("button[type=submit]").click()
        pg.wait_for_url(re.compile(r".*from=2026-09-01.*"))
        _settle(pg)
        assert "range=custom" in pg.url
    assert problems == []


def _order(pg: Any) -> list[str]:
    return [el.get_attribute("data-item") for el in pg.locator(".board-grid > li").all()]


def test_the_grid_reorders_by_drag_and_by_keyboard(page: tuple[Any, list[str]], server: str) -> None:
    pg, problems = page
    pg.goto(server + "/console/dashboards")
    pg.locator(".board-new summary").click()
    pg.fill(".board-new input[name=name]", "浏览器看板")
    pg.locator(".board-new button[type=submit]").click()
    pg.wait_for_url(re.compile(r".*board=\w+"))
    board = pg.url.rpartition("board=")[2]
    for metric in ("gmv", "orders"):
        r = pg.request.post(server + "/console/dashboards/pin",
                            form={"panel": "trend", "query": f"metric={metric}", "title": metric, "board": board})
        assert r.ok
    pg.locator(".board-text summary").click()
    pg.fill(".board-text textarea[name=body]", "# 周会\n<b>不加粗</b> **加粗**")
    pg.locator(".board-text button[type=submit]").click()
    _settle(pg)
    first = _order(pg)
    assert len(first) == 3
    text = pg.locator("[data-text-card]")
    assert text.locator("h3").inner_text() == "周会" and text.locator("strong").inner_text() == "加粗"
    assert "<b>不加粗</b>" in text.inner_text()
    # a panel on a board offers no pin
    assert pg.locator(".board-grid [data-panel] form[hx-post='/console/dashboards/pin']").count() == 0

    # drag the text card (last) onto the first card
    pg.drag_and_drop(f"#pin-{first[2]}", f"#pin-{first[0]}")
    pg.wait_for_function(f"() => document.querySelector('.board-grid > li').dataset.item === '{first[2]}'",
                         timeout=15_000)
    _settle(pg)
    assert _order(pg) == [first[2], first[0], first[1]]

    # keyboard: focus the first card's "move later" button and press Enter
    later = pg.locator(f"#pin-{first[2]} button[aria-label='后移']")
    later.focus()
    pg.keyboard.press("Enter")
    pg.wait_for_load_state()
    _settle(pg)
    assert _order(pg) == [first[0], first[2], first[1]]
    # wider: the card spans 3 of the 4 columns
    pg.locator(f"#pin-{first[0]} button[aria-label='变宽']").click()
    pg.wait_for_load_state()
    _settle(pg)
    widths = pg.evaluate("() => [...document.querySelectorAll('.board-grid > li')].map(li => li.getBoundingClientRect().width)")
    assert widths[0] > 1.3 * widths[1]
    assert problems == []
