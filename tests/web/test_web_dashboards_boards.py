"""Issue 21, finding 10 and "Dates"/"Dashboards": date presets resolved from an injectable clock, the
comparison toggle (环比 / 同比), named boards shared read-only per department, a grid with moves and
sizes, text cards, and a board-level date filter (the move of ``dashboard_pins`` onto boards:
tests/service/test_store_boards.py).

The app runs on its own small demo home (200 people over 400 days, ending 2026-10-31), so October 2025
has data for 同比 and the boards made here do not leak into the shared console fixture.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import Settings, load_settings
from jingyun.demo import build
from jingyun.demo.params import DemoParams
from jingyun.metrics.compute import value_over
from jingyun.security import auth
from jingyun.warehouse.backends.duckdb import DuckDBBackend
from jingyun.web import mount
from jingyun.web.dashboards import DashboardStore, panel_query, render_text
from jingyun.web.filters import Filters, resolve, use_clock
from jingyun.web.metrics_view import dictionary, targets

PASSWORD = "boards-test-password"
PEOPLE = {"spec": ("specialist", ["growth"]), "ana": ("analyst", []), "mgr": ("manager", ["growth"]),
          "root": ("admin", [])}
NOV_10 = dt.date(2026, 11, 10)  # "today" for the tests: 上月 is October 2026, the demo's last month


class App:
    def __init__(self, client: TestClient, settings: Settings):
        self.client, self.settings = client, settings

    def as_(self, username: str) -> TestClient:
        c = TestClient(self.client.app)
        r = c.post("/console/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return c

    def library(self, metric: str, lo: dt.date, hi: dt.date, grain: str = "total") -> float | None:
        reader = app_state(self.client.app).writer.reader()
        try:
            return value_over(DuckDBBackend(reader), dictionary(self.settings), metric, lo, hi, grain=grain,
                              timezone=self.settings.timezone)
        finally:
            reader.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    home = tmp_path_factory.mktemp("boards_demo")
    settings = load_settings(home)
    build(settings, DemoParams(users=200, days=400, seed=3))
    api = create_app(settings)
    mount(api, settings)
    state = app_state(api)
    for username, (role, deps) in PEOPLE.items():
        auth.create_person(state.store, username=username, password=PASSWORD, role=role, departments=deps,
                           service=state.service)
    with TestClient(api) as client:
        yield App(client, settings)


def _page(c: TestClient, url: str, status: int = 200) -> str:
    r = c.get(url)
    assert r.status_code == status, r.text[:500]
    return r.text


def _spark_days(fragment: str) -> list[str]:
    """The days of a KPI card's sparkline (its ECharts option carries them as ISO dates)."""
    opt = re.search(r'data-option="([^"]*)"', fragment)
    assert opt, fragment[:400]
    return list(json.loads(html.unescape(opt.group(1)))["xAxis"]["data"])


def _card(fragment: str) -> tuple[float, float | None]:
    value = re.search(r'class="value" data-value="([^"]*)"', fragment)
    prev = re.search(r'data-previous="([^"]*)"', fragment)
    assert value and prev, fragment[:400]
    return float(value.group(1)), (float(prev.group(1)) if prev.group(1) else None)


def _hx_queries(page: str, panel: str) -> list[str]:
    return [html.unescape(q) for q in re.findall(rf'hx-get="/console/panel/{panel}\?([^"]*)"', page)]


# ---- presets and the comparison, without the app -------------------------------------------------

@pytest.mark.parametrize(("preset", "today", "lo", "hi"), [
    ("today", "2026-11-10", "2026-11-10", "2026-11-10"),
    ("yesterday", "2026-03-01", "2026-02-28", "2026-02-28"),
    ("last_7_days", "2026-11-10", "2026-11-04", "2026-11-10"),
    ("last_30_days", "2026-11-10", "2026-10-12", "2026-11-10"),
    ("this_month", "2026-11-10", "2026-11-01", "2026-11-10"),
    ("last_month", "2026-01-15", "2025-12-01", "2025-12-31"),
    ("last_month", "2028-03-05", "2028-02-01", "2028-02-29"),
    ("this_quarter", "2026-11-10", "2026-10-01", "2026-11-10"),
    ("this_quarter", "2026-01-01", "2026-01-01", "2026-01-01"),
])
def test_presets_resolve_from_today(preset: str, today: str, lo: str, hi: str) -> None:
    assert resolve(preset, dt.date.fromisoformat(today)) == (dt.date.fromisoformat(lo), dt.date.fromisoformat(hi))


@pytest.mark.parametrize(("preset", "today", "previous", "last_year"), [
    ("last_month", "2026-11-10", ("2026-09-01", "2026-09-30"), ("2025-10-01", "2025-10-31")),
    ("last_month", "2028-03-05", ("2028-01-01", "2028-01-31"), ("2027-02-01", "2027-02-28")),
    ("this_month", "2026-03-31", ("2026-02-01", "2026-02-28"), ("2025-03-01", "2025-03-31")),
    ("this_quarter", "2026-11-10", ("2026-07-01", "2026-08-10"), ("2025-10-01", "2025-11-10")),
    ("last_7_days", "2026-11-10", ("2026-10-28", "2026-11-03"), ("2025-11-04", "2025-11-10")),
])
def test_comparison_periods(preset: str, today: str, previous: tuple[str, str], last_year: tuple[str, str]) -> None:
    f = Filters(*resolve(preset, dt.date.fromisoformat(today)), range=preset)
    assert (f.previous().date_from.isoformat(), f.previous().date_to.isoformat()) == previous
    f = Filters(f.date_from, f.date_to, range=preset, compare="last_year")
    assert (f.comparison().date_from.isoformat(), f.comparison().date_to.isoformat()) == last_year
    assert f.query() == f"range={preset}&compare=last_year"  # the URL keeps the preset, not the days


def test_board_filter_replaces_every_range_and_text_is_escaped() -> None:
    assert panel_query("from=2026-09-01&to=2026-09-30&metric=gmv", "range=last_month") == "metric=gmv&range=last_month"
    assert panel_query("range=last_7_days&compare=last_year&id=gmv", "range=custom&from=2026-01-01&to=2026-01-31") \
        == "compare=last_year&id=gmv&from=2026-01-01&to=2026-01-31"
    assert panel_query("range=today&id=gmv", "") == "range=today&id=gmv"
    out = str(render_text("# 周报\n<script>alert(1)</script> **涨** *跌*\n- [看](https://x.example/a)\n"
                          "- [坏](javascript:alert(1))"))
    assert out.startswith("<h3>周报</h3><p>&lt;script&gt;alert(1)&lt;/script&gt; <strong>涨</strong> <em>跌</em></p>")
    assert '<li><a href="https://x.example/a" rel="noopener">看</a></li>' in out
    assert "javascript" in out and 'href="javascript' not in out and "<script>" not in out


# ---- through the console ---------------------------------------------------------------------------

def test_a_pin_on_last_30_days_covers_different_days_under_two_clocks(app: App) -> None:
    mgr = app.as_("mgr")
    with use_clock(NOV_10):
        cockpit = _page(mgr, "/console/?range=last_30_days")
        (q,) = [q for q in _hx_queries(cockpit, "kpi") if "id=gmv&" in q or q.endswith("id=gmv")]
        assert "range=last_30_days" in q and "from=" not in q  # the page's panels carry the preset
        assert 'value="last_30_days" selected' in cockpit and 'data-range-from="2026-10-12"' in cockpit
        assert mgr.post("/console/dashboards/pin", data={"panel": "kpi", "query": q, "title": "GMV"}).status_code == 200
    board = _page(mgr, "/console/dashboards")
    (stored,) = _hx_queries(board, "kpi")
    assert stored == q
    spans = {}
    for today in (dt.date(2026, 10, 31), dt.date(2026, 10, 20)):
        with use_clock(today):
            frag = _page(mgr, f"/console/panel/kpi?{stored}")
        days = _spark_days(frag)
        spans[today] = (days[0], days[-1])
        value, _ = _card(frag)
        lo = today - dt.timedelta(days=29)
        assert value == pytest.approx(app.library("gmv", lo, today, _grain(app, "gmv")), rel=1e-9)
    assert spans == {dt.date(2026, 10, 31): ("2026-10-02", "2026-10-31"),
                     dt.date(2026, 10, 20): ("2026-09-21", "2026-10-20")}


def _grain(app: App, target_id: str) -> str:
    t = next(t for t in targets(app.settings).targets if t.id == target_id)
    return "day" if t.grain == "day" else "total"


def test_the_comparison_toggle_gives_the_previous_period_and_the_same_period_last_year(app: App) -> None:
    mgr = app.as_("mgr")
    grain = _grain(app, "gmv")
    october = app.library("gmv", dt.date(2026, 10, 1), dt.date(2026, 10, 31), grain)
    with use_clock(NOV_10):
        prev = _page(mgr, "/console/panel/kpi?id=gmv&range=last_month")
        yoy = _page(mgr, "/console/panel/kpi?id=gmv&range=last_month&compare=last_year")
        page = _page(mgr, "/console/?range=last_month&compare=last_year")
    assert _card(prev) == pytest.approx((october, app.library("gmv", dt.date(2026, 9, 1), dt.date(2026, 9, 30), grain)))
    last_year = app.library("gmv", dt.date(2025, 10, 1), dt.date(2025, 10, 31), grain)
    assert last_year and _card(yoy) == pytest.approx((october, last_year))
    assert "环比" in prev and "同比" in yoy
    assert 'data-compare-from="2025-10-01" data-compare-to="2025-10-31"' in page
    assert 'value="last_year" selected' in page and all("compare=last_year" in q for q in _hx_queries(page, "kpi"))


def test_a_pinned_panel_does_not_offer_the_pin_again(app: App) -> None:
    ana = app.as_("ana")
    q = "range=last_7_days&metric=orders"
    before = _page(ana, f"/console/panel/trend?{q}")
    assert 'hx-post="/console/dashboards/pin"' in before and "data-pinned" not in before
    ana.post("/console/dashboards/pin", data={"panel": "trend", "query": q, "title": "orders"})
    after = _page(ana, f"/console/panel/trend?{q}")
    assert 'hx-post="/console/dashboards/pin"' not in after and "data-pinned" in after
    on_board = ana.get(f"/console/panel/trend?{q}", headers={"X-JY-Board": "x"}).text
    assert "/console/dashboards/pin" not in on_board and "data-pinned" not in on_board


def _new_board(c: TestClient, name: str, department: str = "") -> str:
    r = c.post("/console/dashboards/boards", data={"name": name, "department": department}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    return r.headers["location"].rpartition("board=")[2]


def _growth_id(app: App) -> str:
    from sqlalchemy import select

    from jingyun.store import Department

    with app_state(app.client.app).store.session() as ses:
        return str(ses.scalar(select(Department.id).where(Department.name == "growth")))


def test_a_department_board_is_visible_to_a_colleague_and_not_editable_by_them(app: App) -> None:
    mgr, spec, ana, root = app.as_("mgr"), app.as_("spec"), app.as_("ana"), app.as_("root")
    growth = _growth_id(app)
    board = _new_board(mgr, "增长周报", growth)
    mgr.post("/console/dashboards/pin", data={"panel": "trend", "query": "metric=gmv", "title": "GMV", "board": board})
    assert mgr.post(f"/console/dashboards/boards/{board}/text", data={"body": "**目标** 达成"},
                    follow_redirects=False).status_code == 303
    seen = _page(spec, "/console/dashboards")
    assert f'data-board-tab="{board}"' in seen and "由 mgr 共享" in seen
    page = _page(spec, f"/console/dashboards?board={board}")
    assert "data-readonly" in page and "<strong>目标</strong>" in page and _hx_queries(page, "trend") == ["metric=gmv"]
    assert "/move" not in page and "/text" not in page and 'draggable="true"' not in page
    item = DashboardStore(app.settings.home).board(board).items[0].id
    for url, data in ((f"/console/dashboards/boards/{board}/text", {"body": "x"}),
                      (f"/console/dashboards/items/{item}/move", {"to": "1"}),
                      (f"/console/dashboards/boards/{board}/range", {"range": "today"}),
                      (f"/console/dashboards/boards/{board}/delete", {})):
        r = spec.post(url, data=data, follow_redirects=False)
        assert r.status_code == 403, (url, r.status_code)
    assert len(DashboardStore(app.settings.home).board(board).items) == 2
    assert ana.get(f"/console/dashboards?board={board}").status_code == 404  # no department: not even seen
    assert f'data-board-tab="{board}"' not in _page(ana, "/console/dashboards")
    assert root.post(f"/console/dashboards/boards/{board}/text", data={"body": "admin note"},
                     follow_redirects=False).status_code == 303  # admins edit any board
    assert len(DashboardStore(app.settings.home).board(board).items) == 3


def test_the_board_date_filter_changes_every_panels_range(app: App) -> None:
    mgr = app.as_("mgr")
    board = _new_board(mgr, "日期看板")
    for panel, query in (("kpi", "id=gmv&range=last_30_days"),
                         ("kpi", "id=daily_new_users&from=2026-09-01&to=2026-09-30"), ("trend", "metric=gmv&range=today")):
        mgr.post("/console/dashboards/pin", data={"panel": panel, "query": query, "title": panel, "board": board})
    r = mgr.post(f"/console/dashboards/boards/{board}/range", data={"range": "last_month"}, follow_redirects=False)
    assert r.status_code == 303
    with use_clock(NOV_10):
        page = _page(mgr, f"/console/dashboards?board={board}")
        queries = _hx_queries(page, "kpi") + _hx_queries(page, "trend")
        assert sorted(queries) == ["id=daily_new_users&range=last_month", "id=gmv&range=last_month",
                                   "metric=gmv&range=last_month"]
        for q in _hx_queries(page, "kpi"):
            days = _spark_days(_page(mgr, f"/console/panel/kpi?{q}"))
            assert (days[0], days[-1]) == ("2026-10-01", "2026-10-31")
        assert 'data-board-filter="range=last_month"' in page
    bad = mgr.post(f"/console/dashboards/boards/{board}/range", data={"range": "custom", "from": "2026-10-09",
                                                                      "to": "2026-10-01"}, follow_redirects=False)
    assert bad.status_code == 400 and "bad_range" in bad.text
    mgr.post(f"/console/dashboards/boards/{board}/range", data={"range": "custom", "from": "2026-08-01",
                                                                "to": "2026-08-31", "compare": "last_year"})
    page = _page(mgr, f"/console/dashboards?board={board}")
    assert set(_hx_queries(page, "kpi")) == {
        "id=gmv&from=2026-08-01&to=2026-08-31&compare=last_year",
        "id=daily_new_users&from=2026-08-01&to=2026-08-31&compare=last_year"}
    frag = _page(mgr, "/console/panel/kpi?id=gmv&from=2026-08-01&to=2026-08-31&compare=last_year")
    assert _card(frag) == pytest.approx((app.library("gmv", dt.date(2026, 8, 1), dt.date(2026, 8, 31)),
                                         app.library("gmv", dt.date(2025, 8, 1), dt.date(2025, 8, 31))))
    mgr.post(f"/console/dashboards/boards/{board}/range", data={"range": ""})  # cleared: panels keep their own
    page = _page(mgr, f"/console/dashboards?board={board}")
    assert sorted(_hx_queries(page, "kpi")) == ["id=daily_new_users&from=2026-09-01&to=2026-09-30",
                                                "id=gmv&range=last_30_days"]


def test_grid_moves_and_sizes_and_several_boards(app: App) -> None:
    mgr = app.as_("mgr")
    board = _new_board(mgr, "排列")
    for m in ("gmv", "orders", "aov"):
        mgr.post("/console/dashboards/pin", data={"panel": "trend", "query": f"metric={m}", "title": m, "board": board})
    store = DashboardStore(app.settings.home)
    ids = [i.id for i in store.board(board).items]
    moved = mgr.post(f"/console/dashboards/items/{ids[2]}/move", data={"to": "0"}, follow_redirects=False)
    assert moved.status_code == 303
    mgr.post(f"/console/dashboards/items/{ids[0]}/move", data={"to": "5"})  # clamped to the end
    assert [i.id for i in store.board(board).items] == [ids[2], ids[1], ids[0]]
    mgr.post(f"/console/dashboards/items/{ids[1]}/resize", data={"width": "4", "height": "2"})
    bad = mgr.post(f"/console/dashboards/items/{ids[1]}/resize", data={"width": "9", "height": "1"})
    assert bad.status_code == 400 and "bad_size" in bad.text
    page = _page(mgr, f"/console/dashboards?board={board}")
    order = re.findall(r'class="board-card (w\d h\d)" id="pin-(\w+)"', page)
    assert order == [("w2 h1", ids[2]), ("w4 h2", ids[1]), ("w2 h1", ids[0])]
    assert [q.partition("=")[2] for q in _hx_queries(page, "trend")] == ["aov", "orders", "gmv"]
    second = _new_board(mgr, "排列二")  # made here: the other tests' boards may run after this one (two workers)
    names = {b.name for b in store.boards("mgr", frozenset())}
    assert {"排列", "排列二"} <= names  # several boards per person
    mgr.post(f"/console/dashboards/boards/{second}/delete")
    mgr.post(f"/console/dashboards/boards/{board}/delete")
    assert "排列" not in {b.name for b in store.boards("mgr", frozenset())}


def test_the_trend_draws_the_compared_period_day_by_day(app: App) -> None:
    from jingyun.metrics.compute import ComputeParams, compute

    mgr = app.as_("mgr")
    with use_clock(NOV_10):
        plain = _page(mgr, "/console/panel/trend?metric=gmv&range=last_month")
        yoy = _page(mgr, "/console/panel/trend?metric=gmv&range=last_month&compare=last_year")
    opt = json.loads(html.unescape(re.search(r'data-option="([^"]*)"', yoy).group(1)))  # type: ignore[union-attr]
    drawn = opt["series"][-1]
    assert drawn["name"] == "同比 2025-10-01–2025-10-31" and len(drawn["data"]) == 31
    reader = app_state(app.client.app).writer.reader()
    try:
        res = compute(DuckDBBackend(reader), dictionary(app.settings),
                      ComputeParams("gmv", dt.date(2025, 10, 1), dt.date(2025, 10, 31), "day", None,
                                    app.settings.timezone))
    finally:
        reader.close()
    expected = {p.bucket: p.value for p in res.points}
    assert drawn["data"] == pytest.approx([expected.get(dt.date(2025, 10, 1) + dt.timedelta(days=i)) for i in range(31)])
    assert "同比" not in plain  # without the toggle the chart is as before
