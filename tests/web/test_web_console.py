"""Console without a browser: catalogs, formatting, access by role, masking, downloads, dashboards."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from jingyun.warehouse import personal
from jingyun.web import i18n

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "jingyun" / "web" / "templates"
ROUTES = Path(__file__).resolve().parents[2] / "src" / "jingyun" / "web" / "routes"
_KEY = re.compile(r"""\bt\(\s*['"]([a-z_][a-z0-9_.,-]*)['"]""")


def test_every_template_and_route_label_is_in_both_catalogs() -> None:
    zh, en = i18n.catalog("zh-CN"), i18n.catalog("en")
    assert set(zh) == set(en)
    used = set()
    for path in [*TEMPLATES.rglob("*.html"), *ROUTES.glob("*.py")]:
        used |= set(_KEY.findall(path.read_text(encoding="utf-8")))
    assert used, "no labels found"
    prefixes = {k for k in used if k.endswith(".")}  # t('status.' + value): a family of keys
    assert sorted(used - prefixes - set(zh)) == []
    assert sorted(p for p in prefixes if not any(k.startswith(p) for k in zh)) == []
    # labels differ between the languages (except a few shared abbreviations)
    shared = {"action.csv", "action.excel", "col.kpi", "col.roi",
              "enum.platform.app", "enum.platform.h5", "enum.message_channel.webhook"}  # App, H5, Webhook
    same = {k for k in zh if zh[k] == en[k]} - shared
    assert same == set()


def test_templates_have_no_untranslated_text() -> None:
    """Visible text sits only in t(...) calls or data expressions, never bare in the markup."""
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"{{.*?}}|{%.*?%}|<script.*?</script>|<style.*?</style>", " ", text, flags=re.S)
        bare = [s.strip() for s in re.findall(r">([^<]+)<", text)
                if re.search(r"[A-Za-z\u4e00-\u9fff]", s) and not s.strip().startswith("{")]  # JSON is data
        assert bare == [], f"{path.name}: {bare}"


@pytest.mark.parametrize(("value", "zh", "en"), [
    (12_345_678, "1234.57万", "12.35M"), (123_456_789_0, "12.35亿", "1.23B"), (9_999, "9,999", "9,999"),
    (45_000, "4.50万", "45.00K"), (None, "—", "—"), (0.5, "0.50", "0.50"),
])
def test_compact_numbers_use_wan_and_yi_in_chinese(value: float | None, zh: str, en: str) -> None:
    assert i18n.compact(value, "zh-CN") == zh
    assert i18n.compact(value, "en") == en


def test_dates_and_percent_by_locale() -> None:
    assert i18n.date(dt.date(2026, 10, 5), "zh-CN") == "2026年10月5日"
    assert i18n.date("2026-10-05", "en") == "05 Oct 2026"
    assert i18n.percent(0.1234) == "12.3%"
    assert i18n.signed_percent(-0.05) == "-5.0%"
    assert i18n.by_unit(2_500_000, "CNY", "zh-CN") == "¥250.00万"


def test_anonymous_is_sent_to_login_and_bad_password_is_refused(console: Any) -> None:
    c = console.client()
    r = c.get("/console/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    r = c.get("/console/panel/kpi?id=gmv", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/console/login"
    r = c.post("/console/login", data={"username": "ana", "password": "wrong"})
    assert r.status_code == 401 and "用户名或密码错误" in r.text


@pytest.mark.parametrize(("role", "allowed", "refused"), [
    ("specialist", ["/console/", "/console/users", "/console/dashboards", "/console/users/audience"],
     ["/console/analyses", "/console/experiments", "/console/quality", "/console/admin", "/console/panel/funnel"]),
    ("analyst", ["/console/analyses", "/console/quality", "/console/experiments", "/console/users/audience"],
     ["/console/admin", "/console/panel/quarantine"]),
    ("admin", ["/console/admin", "/console/panel/quarantine"], []),
])
def test_pages_by_role(console: Any, role: str, allowed: list[str], refused: list[str]) -> None:
    c = console.client(role)
    for path in allowed:
        assert c.get(path).status_code == 200, path
    for path in refused:
        assert c.get(path).status_code == 403, path


def test_profile_is_masked_for_a_specialist_and_clear_for_a_manager(console: Any) -> None:
    spec = console.client("specialist").get("/console/users/profile?user_id=u0000002").text
    mgr = console.client("manager").get("/console/users/profile?user_id=u0000002").text
    reader = console.app.state.jingyun.writer.reader()
    try:
        clear = personal.reveal(reader, [{"user_id": "u0000002", "name": None, "phone": None}])[0]  # sealed at rest
        name, phone = clear["name"], clear["phone"]
    finally:
        reader.close()
    assert phone and phone in mgr and phone not in spec
    assert 'data-field="phone">sha256:' in spec
    assert name and name in mgr and name not in spec
    assert "去标识化" in spec


def _panel_rows(html: str) -> list[list[str]]:
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return [re.findall(r'data-value="([^"]*)"', tr) for tr in body.split("</tr>") if "<td" in tr]


def test_csv_and_excel_downloads_hold_the_panel_table(console: Any) -> None:
    from openpyxl import load_workbook

    c = console.client("analyst")
    q = "from=2026-09-01&to=2026-10-31&steps=view_product,add_to_cart,checkout,pay"
    shown = _panel_rows(c.get(f"/console/panel/funnel?{q}").text)
    rows = list(csv.reader(io.StringIO(c.get(f"/console/export/funnel.csv?{q}").content.decode("utf-8-sig"))))
    assert rows[0][0] == "步骤"
    assert [[float(x) for x in r[1:]] for r in rows[1:5]] == [[float(x) for x in r] for r in shown[:4]]
    wb = load_workbook(io.BytesIO(c.get(f"/console/export/funnel.xlsx?{q}&lang=en").content))
    sheet = list(wb.active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert [float(v) for v in sheet[1][1:]] == [float(x) for x in shown[0]]


def test_kpi_card_equals_the_library(console: Any) -> None:
    from jingyun.metrics.compute import value_over
    from jingyun.warehouse.backends.duckdb import DuckDBBackend
    from jingyun.web.metrics_view import dictionary

    html = console.client("specialist").get("/console/panel/kpi?id=gmv&from=2026-10-01&to=2026-10-31").text
    shown = float(re.search(r'class="value" data-value="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    reader = console.app.state.jingyun.writer.reader()
    try:
        expected = value_over(DuckDBBackend(reader), dictionary(console.settings), "gmv", dt.date(2026, 10, 1),
                              dt.date(2026, 10, 31), timezone=console.settings.timezone)
    finally:
        reader.close()
    assert shown == pytest.approx(expected)


def test_audience_estimate_equals_the_segments_library(console: Any) -> None:
    from jingyun.segments import saved

    rule = {"and": [{"attr": "member_level", "op": "eq", "value": "gold"}]}
    html = console.client("manager").post("/console/users/estimate", data={"rule": json.dumps(rule)}).text
    reader = console.app.state.jingyun.writer.reader()
    try:
        expected = saved.estimate(reader, rule).size
    finally:
        reader.close()
    assert f'data-value="{expected}"' in html
    bad = console.client("manager").post("/console/users/estimate", data={"rule": '{"and": [{"attr": "nope"}]}'}).text
    assert "callout bad" in bad


def test_pins_are_private_until_shared_within_the_department(console: Any) -> None:
    mgr, spec, ana = console.client("manager"), console.client("specialist"), console.client("analyst")
    q = "from=2026-10-01&to=2026-10-31&metric=orders"
    assert "已固定" in mgr.post("/console/dashboards/pin", data={"panel": "trend", "query": q, "title": "orders"}).text
    from jingyun.web.dashboards import DashboardStore

    pins = DashboardStore(console.settings.home)  # the metadata store: another process sees the same rows
    pin_id = pins.pins("mgr")[-1].id
    assert f"/console/panel/trend?{q}" in mgr.get("/console/dashboards").text.replace("&amp;", "&")
    assert f"/console/panel/trend?{q}" not in spec.get("/console/dashboards").text.replace("&amp;", "&")
    mgr.post(f"/console/dashboards/{pin_id}/share", data={"shared": "true"})
    assert f"/console/panel/trend?{q}" in spec.get("/console/dashboards").text.replace("&amp;", "&")  # same department
    assert f"/console/panel/trend?{q}" not in ana.get("/console/dashboards").text.replace("&amp;", "&")  # no department
    mgr.post(f"/console/dashboards/{pin_id}/unpin")
    assert all(p.id != pin_id for p in pins.pins("mgr"))


def test_language_switch_is_a_local_redirect(console: Any) -> None:
    c = console.client("analyst")
    r = c.get("/console/lang/en?next=https://evil.example/", follow_redirects=False)
    assert r.headers["location"] == "/console/" and r.cookies.get("jy_lang") == "en"
    assert "Operations cockpit" in c.get("/console/").text
