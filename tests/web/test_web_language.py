"""One language at a time (issue 20 item 5): the Chinese console shows no raw enum value.

A real browser (Debian's chromium through Playwright) signs in, opens the cockpit (also sliced by
gender and by channel), 360° profiles (raw for an admin, de-identified for a specialist), a segment
page and the experiments page in zh-CN, and fails on any word of the known enum lists (every stored
value in ``web/i18n/enums.*.json``, plus Python's ``True``/``False``) in the visible text, the select
options or the panels' tables (shown or not: the tables are what CSV/Excel downloads hold).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from web_support import chromium, served

from jingyun.web import enums

pytestmark = pytest.mark.browser
PASSWORD = "console-test-password"
TAGS = ["gender", "age_band", "acquisition_channel", "lifecycle_stage", "rfm_group", "price_sensitive", "has_email",
        "first_platform", "active_daypart", "preferred_payment", "activity_30d", "member_level"]


def _tokens() -> set[str]:
    """Stored enum values that must never reach a Chinese reader as they are."""
    out = {"True", "False", "None"}
    for kind in enums.kinds():
        for value in enums.values(kind):
            if enums.label(kind, value, "zh-CN") != value and re.fullmatch(r"[A-Za-z_]+", value):
                out.add(value)
    return out


TOKENS = _tokens()
WORD = re.compile(r"(?<![\w./:=?&-])[A-Za-z_]+(?![\w./:=?&-])")




@pytest.fixture(scope="module")
def server(console: Any) -> Iterator[str]:
    with served(console.app) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _signed_in(browser: Any, base: str, username: str) -> tuple[Any, Any]:
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(base + "/console/login?lang=zh-CN")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/$"))
    _settle(page)
    return ctx, page


def _settle(page: Any) -> None:
    page.wait_for_function("() => document.querySelectorAll('.loading').length === 0", timeout=60_000)
    page.wait_for_timeout(150)


SHOWN = """() => [document.body.innerText,
  ...[...document.querySelectorAll('select option')].map(o => o.textContent),
  ...[...document.querySelectorAll('table')].map(t => t.textContent)].join('\\n')"""


def _raw_tokens(page: Any, base: str, path: str) -> tuple[list[str], str]:
    page.goto(base + "/console" + path)
    _settle(page)
    assert page.locator("[role=alert]").all_inner_texts() == [], path
    text = str(page.evaluate(SHOWN))
    return sorted({w for w in WORD.findall(text) if w in TOKENS}), text


def test_the_token_list_covers_the_known_enums() -> None:
    assert {"female", "male", "True", "False", "true", "false", "active", "churned", "paid", "refunded",
            "short_video", "miniprogram", "treatment", "control", "pending", "approved", "open"} <= TOKENS


@pytest.mark.parametrize("path", [
    "/", "/?dim=users.gender&val=female", "/?dim=users.channel&val=short_video",
    "/users/profile?user_id=u0000002", "/users/profile?user_id=u0000003",
    "/users/segment?name=recent_buyers", "/users/segment?name=active_viewers", "/experiments",
])
def test_zh_console_shows_no_raw_enum_value(browser: Any, server: str, path: str) -> None:
    ctx, page = _signed_in(browser, server, "root")
    try:
        raw, text = _raw_tokens(page, server, path)
        assert raw == [], f"{path}: untranslated {raw}"
        if path.startswith("/users/profile"):
            # the profile really shows the translated values (not an empty page passing the check)
            gender = page.locator("dd[data-field=gender]").inner_text()
            assert gender in {"女", "男", "未知"}
            assert page.locator("dd[data-field=is_test]").inner_text() == "否"
            assert any(s in text for s in ("已完成", "已支付", "已发货", "已退款", "已退货"))
            assert "年龄段" in text and re.search(r"\d+-\d+岁|18岁以下|51岁及以上", text)
        if path == "/experiments":
            assert "实验组" in text and "对照组" in text
        if path == "/?dim=users.gender&val=female":
            assert "性别 = 女" in text
    finally:
        ctx.close()


def test_deidentified_profile_shows_the_band_in_chinese(browser: Any, server: str, console: Any) -> None:
    from jingyun.security.age_bands import BANDS

    with _reader(console) as wh:
        uid = wh.scalar("SELECT user_id FROM users WHERE birth_date IS NOT NULL OR _birth_date_enc IS NOT NULL ORDER BY user_id LIMIT 1")
    ctx, page = _signed_in(browser, server, "spec")
    try:
        raw, _ = _raw_tokens(page, server, f"/users/profile?user_id={uid}")
        assert raw == []
        assert page.locator("dd[data-field=age_band]").count() == 1, page.inner_text("main")[:1500]
        band = page.locator("dd[data-field=age_band]").inner_text()
        assert band in {enums.label("age_band", b, "zh-CN") for b in BANDS}
        page.goto(f"{server}/console/users/profile?user_id={uid}&lang=en")
        _settle(page)
        assert page.locator("dd[data-field=age_band]").inner_text() in {enums.label("age_band", b, "en") for b in BANDS}
        assert page.locator("dd[data-field=gender]").inner_text() in {"Female", "Male", "Unknown"}
    finally:
        ctx.close()


def _reader(console: Any) -> Any:
    from contextlib import contextmanager

    from jingyun.api.app import app_state

    @contextmanager
    def reader() -> Iterator[Any]:
        wh = app_state(console.app).writer.reader()
        try:
            yield wh
        finally:
            wh.close()

    return reader()
