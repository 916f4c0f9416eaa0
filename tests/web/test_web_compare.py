"""同比 / 环比 on the funnel and retention tabs (issue 21, "Dates": the comparison toggle on every analysis).

A tiny warehouse built by hand with known answers in three periods — September 2026, the same days of 2025
(同比) and the 30 days before (环比) — served by the real app. The panel runs the library twice; the compared
numbers must be the known ones and equal a direct library call on the shifted range."""

from __future__ import annotations

import datetime as dt
import html as htmlmod
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from jingyun.analysis import FunnelParams, RetentionParams, run_funnel, run_retention
from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import load_settings
from jingyun.security import auth
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import open_backend
from jingyun.web import mount

PASSWORD = "compare-test-password"
STEPS = "view_product,add_to_cart,pay"
SEPT = {"from": "2026-09-01", "to": "2026-09-30"}
# the funnel's known answers per period: people reaching view_product, add_to_cart, pay (same day, minutes apart)
FUNNEL = {"2026-09-10": ("c", 10, 6, 3), "2025-09-10": ("l", 8, 2, 1), "2026-08-15": ("p", 5, 4, 4)}
# retention (app_start → app_start): cohort day, members, and who of them came back k days later
RETENTION = {"2026-09-05": ("r", 4, {1: 2, 2: 1}), "2026-09-29": ("q", 2, {1: 1}),
             "2025-09-05": ("s", 5, {1: 1, 3: 2})}


def _events() -> list[tuple[str, str, dt.datetime]]:
    out: list[tuple[str, str, dt.datetime]] = []
    for day, (prefix, *reached) in FUNNEL.items():
        noon = dt.datetime.fromisoformat(day) + dt.timedelta(hours=4)  # 12:00 in Asia/Shanghai
        for i, (event, n) in enumerate(zip(STEPS.split(","), reached, strict=True)):
            out += [(f"{prefix}{u}", event, noon + dt.timedelta(minutes=10 * i)) for u in range(n)]
    for day, (prefix, members, back) in RETENTION.items():
        noon = dt.datetime.fromisoformat(day) + dt.timedelta(hours=4)
        out += [(f"{prefix}{u}", "app_start", noon) for u in range(members)]
        for k, n in back.items():
            out += [(f"{prefix}{u}", "app_start", noon + dt.timedelta(days=k)) for u in range(n)]
    return out


def _load(wh: Warehouse) -> None:
    rows = _events()
    users = sorted({u for u, _, _ in rows})
    wh.con.register("_u", pa.table({"user_id": users}))
    wh.con.execute("INSERT INTO users (user_id, registered_at, channel, person_id, is_test) "
                   "SELECT user_id, TIMESTAMP '2025-01-01 00:00:00', 'organic', user_id, FALSE FROM _u")
    wh.con.unregister("_u")
    wh.con.register("_e", pa.table({"event_id": [f"e{i:05d}" for i in range(len(rows))],
                                    "user_id": [r[0] for r in rows], "event": [r[1] for r in rows],
                                    "ts": pa.array([r[2] for r in rows], pa.timestamp("us"))}))
    wh.con.execute("INSERT INTO events (event_id, user_id, event, ts, platform, person_id, is_test) "
                   "SELECT event_id, user_id, event, ts, 'app', user_id, FALSE FROM _e")
    wh.con.unregister("_e")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home: Path = tmp_path_factory.mktemp("compare")
    settings = load_settings(home)
    wh = Warehouse.open(settings)
    try:
        _load(wh)
    finally:
        wh.close()
    application = create_app(settings)
    mount(application, settings)
    auth.create_person(app_state(application).store, username="ana", password=PASSWORD, role="analyst",
                       departments=[], service=app_state(application).service)
    with TestClient(application):
        yield application


@pytest.fixture(scope="module")
def ana(app: Any) -> TestClient:
    c = TestClient(app)
    r = c.post("/console/login", data={"username": "ana", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def _panel(c: TestClient, name: str, **params: str) -> tuple[dict[str, Any], list[list[str]], str]:
    r = c.get(f"/console/panel/{name}", params=params)
    assert r.status_code == 200, r.text[:500]
    option = json.loads(htmlmod.unescape(re.search(r'data-option="([^"]*)"', r.text).group(1)))  # type: ignore[union-attr]
    body = r.text.split("<tbody>")[1].split("</tbody>")[0]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", tr) for tr in body.split("</tr>") if "<td" in tr]
    return option, rows, r.text


def _values(html: str) -> list[list[float]]:
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return [[float(v) for v in re.findall(r'data-value="([^"]*)"', tr)] for tr in body.split("</tr>") if "<td" in tr]


def _library_funnel(app: Any, lo: str, hi: str) -> list[tuple[int, float]]:
    wh = app_state(app).writer.reader()
    try:
        p = FunnelParams.create(tuple(STEPS.split(",")), "24h", dt.date.fromisoformat(lo), dt.date.fromisoformat(hi))
        res = run_funnel(open_backend(app_state(app).settings, warehouse=wh), p, compare=False, ttc=False)
        return [(s.users, s.step_conversion) for s in res.steps]
    finally:
        wh.close()


@pytest.mark.parametrize(("compare", "lo", "hi", "reached"), [
    ("last_year", "2025-09-01", "2025-09-30", (8, 2, 1)),  # 同比: the same days one year earlier
    ("previous", "2026-08-02", "2026-08-31", (5, 4, 4)),  # 环比: the 30 days just before
])
def test_the_funnel_shows_the_compared_period_beside_the_current(app: Any, ana: TestClient, compare: str, lo: str,
                                                                  hi: str, reached: tuple[int, ...]) -> None:
    option, _, html = _panel(ana, "funnel", steps=STEPS, compare=compare, **SEPT)
    values = _values(html)
    # current: users, conversion, step conversion, drop-off; then the compared users, step conversion, change
    assert [row[0] for row in values] == [10, 6, 3]
    assert [row[4] for row in values] == list(reached)
    library = _library_funnel(app, lo, hi)
    assert [row[4] for row in values] == [u for u, _ in library]
    assert [row[5] for row in values] == pytest.approx([sc for _, sc in library])
    now = _library_funnel(app, *SEPT.values())
    assert [row[6] for row in values] == pytest.approx([n[1] - t[1] for n, t in zip(now, library, strict=True)])
    label = f"{'同比' if compare == 'last_year' else '环比'} {lo}–{hi}"
    names = [s["name"] for s in option["series"]]
    assert f"人数({label})" in names and f"步转化率({label})" in names
    ghost = next(s for s in option["series"] if s["name"] == f"步转化率({label})")
    assert ghost["data"] == [round(sc * 100, 2) for _, sc in library]


def test_without_a_comparison_the_funnel_is_drawn_alone(ana: TestClient) -> None:
    option, _, html = _panel(ana, "funnel", steps=STEPS, **SEPT)
    assert len(option["series"]) == 2 and all(len(row) == 4 for row in _values(html))


def _curve(res: Any, last: dt.date) -> list[float | None]:
    """Independent of the console: cohort members and returns summed over cohorts whose day k had come."""
    out: list[float | None] = []
    for k in range(res.periods + 1):
        seen = [c for c in res.cohorts if dt.date.fromisoformat(c.cohort) + dt.timedelta(days=k) <= last]
        size = sum(c.size for c in seen)
        out.append(None if not size else 100 * sum(c.retained[k] for c in seen) / size)
    return out


def test_retention_draws_the_compared_period_as_a_second_curve(app: Any, ana: TestClient) -> None:
    r = ana.get("/console/panel/retention", params={"cohort_event": "app_start", "return_event": "app_start",
                                                    "days": "3", "compare": "last_year", **SEPT})
    assert r.status_code == 200, r.text[:500]
    options = [json.loads(htmlmod.unescape(m)) for m in re.findall(r'data-option="([^"]*)"', r.text)]
    curve = options[1]
    now, then = (s["data"] for s in curve["series"])
    assert [s["name"] for s in curve["series"]] == ["本期 2026-09-01–2026-09-30", "同比 2025-09-01–2025-09-30"]
    # known answers: Sept 2026 — day 1 counts both cohorts (3 of 6), day 2 only the 5th's (1 of 4)
    assert now == [100.0, 50.0, 25.0, 0.0]
    assert then == [100.0, 20.0, 0.0, 40.0]
    wh = app_state(app).writer.reader()
    try:
        p = RetentionParams.create("app_start", "app_start", 3, date_from=dt.date(2025, 9, 1),
                                   date_to=dt.date(2025, 9, 30))
        direct = run_retention(open_backend(app_state(app).settings, warehouse=wh), p)
    finally:
        wh.close()
    assert then == pytest.approx(_curve(direct, dt.date(2025, 9, 30)))
    # the table carries both curves after the cohorts (what the downloads hold)
    rows = _values(r.text)
    assert rows[-1] == pytest.approx([5, 1.0, 0.2, 0.0, 0.4]) and rows[-2] == pytest.approx([6, 1.0, 0.5, 0.25, 0.0])
    plain = ana.get("/console/panel/retention", params={"cohort_event": "app_start", "return_event": "app_start",
                                                        "days": "3", **SEPT})
    assert plain.text.count("data-option=") == 1


@pytest.mark.browser
def test_a_browser_sees_the_compared_series_on_both_tabs(app: Any) -> None:
    from web_support import chromium, served

    with served(app) as base, chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/console/login")
        page.fill("input[name=username]", "ana")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/console/$"))
        # the picker's comparison select travels with the form: choose 同比 and apply
        page.goto(base + f"/console/analyses?tab=funnel&steps={STEPS}&range=custom&from=2026-09-01&to=2026-09-30")
        page.select_option("form.filters select[name=compare]", "last_year")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*compare=last_year.*"))
        series = _drawn_series(page, "[data-panel=funnel] .chart")
        assert "人数(同比 2025-09-01–2025-09-30)" in series and "步转化率(同比 2025-09-01–2025-09-30)" in series
        page.goto(base + "/console/analyses?tab=retention&cohort_event=app_start&return_event=app_start&days=3"
                         "&from=2026-09-01&to=2026-09-30&compare=last_year")
        assert _drawn_series(page, "[data-panel=retention] .compare-chart") == [
            "本期 2026-09-01–2026-09-30", "同比 2025-09-01–2025-09-30"]
        assert not errors, errors
        ctx.close()


def _drawn_series(page: Any, selector: str) -> list[str]:
    """The series names ECharts actually drew in the chart at ``selector`` (waits for the panel to load)."""
    page.wait_for_function(f"() => {{ const el = document.querySelector({json.dumps(selector)});"
                           " return el && window.echarts && echarts.getInstanceByDom(el); }", timeout=30_000)
    return list(page.evaluate(f"() => echarts.getInstanceByDom(document.querySelector({json.dumps(selector)}))"
                              ".getOption().series.map(s => s.name)"))
