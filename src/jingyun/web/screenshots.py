"""Screenshots of every console page in 简体中文 and English (``make screenshots``).

``python -m jingyun.web.screenshots OUT_DIR`` builds a small demo home (5,000 users, seed 7, in a temporary
folder), adds one example of each object a parameterised page shows (a saved segment, a journey, an incident,
an approval request, two pinned panels), serves the console on a free loopback port, signs in as each role a
page needs and writes ``<name>_<lang>.jpg`` (Debian's chromium through Playwright, 1280x800 viewport, full
page, JPEG quality 60) and ``README.md``, the index that docs/console.md links.

The walk is checked against the app before anything is built: every console ``GET`` route is either shot
(:data:`SHOTS`) or listed in :data:`SKIPPED` with the reason, else the script stops (and
``tests/web/test_web_screenshots.py`` fails). Nothing in the package imports this module.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH, HEIGHT = 1280, 800
QUALITY = 60
LANGS = ("zh-CN", "en")
PASSWORD = "screenshots-password-1"
PEOPLE = {"admin": ("root", []), "manager": ("mgr", ["growth"]), "analyst": ("ana", []),
          "specialist": ("spec", ["growth"])}
SEGMENT = "recent_buyers"
JOURNEY = "abandoned-browse"


@dataclass(frozen=True)
class Shot:
    """One screenshot: ``route`` is the console route it covers (as the app declares it, under /console),
    ``url`` the address shot, with ``{placeholders}`` filled from the examples the script creates."""

    name: str
    route: str
    url: str
    role: str = "admin"  # None-like "" : signed out
    en: str = ""
    zh: str = ""


SHOTS: tuple[Shot, ...] = (
    Shot("login", "/login", "/login", role="", en="Sign in", zh="登录"),
    Shot("cockpit", "/", "/", en="Cockpit", zh="经营驾驶舱"),
    Shot("cockpit_specialist", "/", "/", role="specialist", en="Cockpit (specialist: fewer pages in the menu)",
         zh="驾驶舱（运营专员：菜单更少）"),
    Shot("analyses_funnel", "/analyses", "/analyses?tab=funnel", en="Analyses: funnel", zh="分析：漏斗"),
    Shot("analyses_retention", "/analyses", "/analyses?tab=retention", en="Analyses: retention", zh="分析：留存"),
    Shot("analyses_paths", "/analyses", "/analyses?tab=paths", en="Analyses: paths", zh="分析：路径"),
    Shot("analyses_attribution", "/analyses", "/analyses?tab=attribution", en="Analyses: attribution",
         zh="分析：归因"),
    Shot("analyses_diagnosis", "/analyses", "/analyses?tab=diagnosis", en="Analyses: diagnosis", zh="分析：诊断"),
    Shot("users", "/users", "/users", en="Users", zh="用户"),
    Shot("users_specialist", "/users", "/users", role="specialist", en="Users (specialist)", zh="用户（运营专员）"),
    Shot("segment", "/users/segment", "/users/segment?name={segment}", en="A saved segment", zh="人群详情"),
    Shot("audience", "/users/audience", "/users/audience", en="Audience builder", zh="人群圈选"),
    Shot("profile", "/users/profile", "/users/profile?user_id={user_id}", en="360° profile (admin: clear)",
         zh="用户画像（管理员：明文）"),
    Shot("profile_specialist", "/users/profile", "/users/profile?user_id={user_id}", role="specialist",
         en="360° profile (specialist: de-identified)", zh="用户画像（运营专员：去标识化）"),
    Shot("people", "/users/people", "/users/people?src=segment&name={segment}", en="People behind a segment",
         zh="下钻用户"),
    Shot("people_analyst", "/users/people", "/users/people?src=segment&name={segment}", role="analyst",
         en="People behind a segment (analyst: pseudonyms)", zh="下钻用户（分析师：假名）"),
    Shot("experiments", "/experiments", "/experiments?key={experiment}", en="Experiment analysis", zh="实验分析"),
    Shot("experiment_new", "/experiments/new", "/experiments/new", en="New experiment", zh="新建实验"),
    Shot("models", "/models", "/models", en="Models", zh="模型"),
    Shot("quality", "/quality", "/quality", en="Data quality", zh="数据质量"),
    Shot("admin", "/admin", "/admin", en="Admin: audit log", zh="系统管理"),
    Shot("admin_people", "/admin/people", "/admin/people", en="Admin: people and departments", zh="人员与部门"),
    Shot("dashboards", "/dashboards", "/dashboards", en="Dashboards", zh="我的看板"),
    Shot("jobs", "/jobs", "/jobs", en="Scheduled jobs", zh="定时任务"),
    Shot("jobs_manager", "/jobs", "/jobs", role="manager", en="Scheduled jobs (manager: no run button)",
         zh="定时任务（负责人：不可立即运行）"),
    Shot("messages", "/messages", "/messages", en="Messages", zh="消息"),
    Shot("unsubscribe", "/unsubscribe/{token}", "/unsubscribe/{token_LANG}", role="",
         en="Unsubscribe (from a message's link, signed out)", zh="退订（消息中的链接，未登录）"),
    Shot("coupons", "/coupons", "/coupons", en="Coupons", zh="优惠券"),
    Shot("journeys", "/journeys", "/journeys", en="Journeys", zh="旅程"),
    Shot("journey", "/journeys/{key}", "/journeys/{journey}", en="A journey", zh="旅程详情"),
    Shot("journey_new", "/journeys/new", "/journeys/new", en="New journey", zh="新建旅程"),
    Shot("approvals", "/approvals", "/approvals", en="Approvals", zh="审批"),
    Shot("approval", "/approvals/{rid}", "/approvals/{approval}", en="An approval request", zh="审批详情"),
    Shot("incidents", "/incidents", "/incidents", en="Incidents", zh="事件"),
    Shot("incident", "/incidents/{iid}", "/incidents/{incident}", en="An incident", zh="事件详情"),
    Shot("alerts", "/alerts", "/alerts", en="Alerts", zh="告警"),
    Shot("alerts_map", "/alerts/map", "/alerts/map", en="Risk map", zh="风险地图"),
    Shot("budgets", "/budgets", "/budgets", en="Budgets", zh="预算"),
    Shot("pricing", "/pricing", "/pricing", en="Pricing", zh="定价"),
)

SKIPPED: dict[str, str] = {
    "/panel/{name}": "an HTMX fragment: every panel is in the shot of the page that loads it",
    "/export/{name}.{fmt}": "a CSV/Excel download, not a page",
    "/users/people.csv": "a CSV download, not a page",
    "/lang/{locale}": "the language switch: sets the cookie and redirects back",
    "/drill/funnel": "an HTMX fragment under the funnel tab (in analyses_funnel)",
    "/drill/diagnosis": "an HTMX fragment under the diagnosis tab (in analyses_diagnosis)",
    "/drill/retention": "an HTMX fragment under the retention tab (in analyses_retention)",
}


def console_get_routes() -> list[str]:
    """Every ``GET`` route the console mounts, relative to /console (from the routers the app includes)."""
    from fastapi.routing import APIRoute

    from jingyun.web.routes import all_routers

    return sorted({r.path for router in all_routers() for r in router.routes
                   if isinstance(r, APIRoute) and "GET" in (r.methods or ())})


def coverage_problems(routes: list[str]) -> list[str]:
    """What is wrong with the walk against ``routes``: a page neither shot nor skipped, or an entry naming a
    route the app no longer has."""
    shot = {s.route for s in SHOTS}
    problems = [f"{r}: neither shot nor listed in SKIPPED with a reason" for r in routes
                if r not in shot and r not in SKIPPED]
    problems += [f"{r}: listed but the console has no such GET route" for r in sorted(shot | set(SKIPPED))
                 if r not in routes]
    problems += [f"{r}: both shot and skipped" for r in sorted(shot & set(SKIPPED))]
    names = [s.name for s in SHOTS]
    problems += [f"{n}: two shots share the name" for n in sorted({n for n in names if names.count(n) > 1})]
    return problems


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _served(app: Any) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(600):
        if srv.started:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("the console did not start within 30 s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=30)


def build_home(home: Path, users: int = 5000) -> None:
    """The demo business (fixed seed) plus one saved segment refreshed at four as-of days."""
    from jingyun.config import load_settings
    from jingyun.demo import DemoParams, build
    from jingyun.segments import saved
    from jingyun.segments.store import SavedSegment
    from jingyun.segments.tags import compute_tags
    from jingyun.warehouse import Warehouse

    settings = load_settings(home)
    build(settings, DemoParams(users=users, days=365, seed=7))
    wh = Warehouse.open(settings)
    try:
        compute_tags(wh)
        last = wh.scalar("SELECT max(ts) FROM orders")
        saved.create(wh, SavedSegment(SEGMENT, {"orders": "count", "within_days": 30, "op": "gte", "value": 1},
                                      zh="近30天购买", en="Recent buyers", owner="mgr"))
        for back in (45, 30, 15, 0):
            saved.refresh(wh, SEGMENT, as_of=last - dt.timedelta(days=back))
    finally:
        wh.close()


def _examples(app: Any) -> dict[str, str]:
    """People for each role and one object behind each parameterised page; the values the URLs need."""
    import json
    from decimal import Decimal

    from jingyun import approvals, incidents
    from jingyun.api.app import app_state
    from jingyun.automation import registry
    from jingyun.automation.journey import load_file
    from jingyun.messaging import links
    from jingyun.security import auth

    state = app_state(app)
    for role, (username, deps) in PEOPLE.items():
        auth.create_person(state.store, username=username, password=PASSWORD, role=role, departments=deps,
                           service=state.service)
    settings = state.settings
    truth = json.loads((settings.home / "demo" / "ground_truth.json").read_text(encoding="utf-8")) \
        if (settings.home / "demo" / "ground_truth.json").exists() else {}
    journeys = Path(__file__).resolve().parents[1] / "demo" / "journeys"
    stored, _ = registry.create(state.store, load_file(journeys / "abandoned_browse.yaml"), by="spec")
    inc = incidents.open_incident(state.store, settings, playbook="stock_out", level=2, title="爆款断货 / best seller out of stock",
                                  opened_by="root")
    req = approvals.submit(state.store, settings, type="marketing", amount=Decimal("80000"), title="国庆大促投放",
                           payload={}, requester="ma.growth.spec")
    values = {"segment": SEGMENT, "user_id": "u0000002", "journey": stored.key, "incident": str(inc.id),
              "approval": str(req.id), "experiment": str(truth.get("ab_test", {}).get("experiment", "")),
              "token_zh-CN": _unsub(links, settings, "zh-CN"), "token_en": _unsub(links, settings, "en")}
    return values


def _unsub(links: Any, settings: Any, locale: str) -> str:
    return str(links.unsubscribe_url(settings, subject="u0000002", channel="email", locale=locale,
                                     delivery_id=1)).rsplit("/", 1)[1]


def _watch(page: Any) -> list[str]:
    """Script errors and server errors (a panel's 500 included) seen by ``page``, as they happen."""
    problems: list[str] = []

    def error(e: Any) -> None:
        problems.append(f"page error: {e}")

    def response(r: Any) -> None:
        if r.status >= 500:
            problems.append(f"HTTP {r.status} {r.url}")

    page.on("pageerror", error)
    page.on("response", response)
    return problems


def _pin(page: Any, panels: int = 2) -> None:
    """Pin the cockpit's first panels to the admin's board (as a person would), so the dashboards page has charts."""
    for n in range(1, panels + 1):
        page.locator("form[hx-post='/console/dashboards/pin'] button").first.click()
        page.wait_for_function(f"() => document.querySelectorAll('.pinned').length >= {n}", timeout=30_000)


def _url(shot: Shot, lang: str, values: dict[str, str]) -> str:
    url = shot.url.replace("{token_LANG}", "{token_" + lang + "}")
    for key, value in values.items():
        url = url.replace("{" + key + "}", value)
    return "/console" + url


def _settle(page: Any) -> None:
    """Every panel swapped in and every chart painted (app.js sets <body data-ready="1">)."""
    page.wait_for_function("() => document.body && (document.body.dataset.ready === '1' "
                           "|| !document.querySelector('script[src*=\"app.js\"]'))", timeout=120_000)
    page.wait_for_timeout(400)  # let the chart animations finish


def shoot(out: Path, home: Path) -> list[tuple[Shot, dict[str, str]]]:
    """Walk :data:`SHOTS` in both languages; returns each shot with its file per language."""
    from playwright.sync_api import sync_playwright

    from jingyun.api import create_app
    from jingyun.config import load_settings
    from jingyun.web import mount

    settings = load_settings(home)
    app = create_app(settings)
    mount(app, settings)
    out.mkdir(parents=True, exist_ok=True)
    done: list[tuple[Shot, dict[str, str]]] = []
    with _served(app) as base, sync_playwright() as pw:
        values = _examples(app)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for role in ["", *PEOPLE]:
                shots = [s for s in SHOTS if s.role == role]
                for lang in LANGS if shots else ():
                    ctx = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale=lang)
                    ctx.add_cookies([{"name": "jy_lang", "value": lang, "url": base}])
                    page = ctx.new_page()
                    problems = _watch(page)
                    if role:
                        page.goto(base + "/console/login")
                        page.fill("input[name=username]", PEOPLE[role][0])
                        page.fill("input[name=password]", PASSWORD)
                        page.click("button[type=submit]")
                        page.wait_for_url("**/console/")
                        _settle(page)
                        if role == "admin" and lang == LANGS[0]:
                            _pin(page)
                    for shot in shots:
                        url = _url(shot, lang, values)
                        response = page.goto(base + url)
                        status = response.status if response else 0
                        if status >= 400:
                            raise SystemExit(f"screenshots: {url} as {role or 'signed out'} answered {status}")
                        _settle(page)
                        if problems:
                            raise SystemExit(f"screenshots: {url} as {role or 'signed out'}: {problems}")
                        file = f"{shot.name}_{'zh' if lang == 'zh-CN' else 'en'}.jpg"
                        page.screenshot(path=str(out / file), full_page=True, type="jpeg", quality=QUALITY)
                        sys.stdout.write(f"{file}\n")
                        for s, files in done:
                            if s is shot:
                                files[lang] = file
                                break
                        else:
                            done.append((shot, {lang: file}))
                    ctx.close()
        finally:
            browser.close()
    order = {s.name: i for i, s in enumerate(SHOTS)}
    return sorted(done, key=lambda d: order[d[0].name])


def index(done: list[tuple[Shot, dict[str, str]]]) -> str:
    role_zh = {"": "未登录", "admin": "管理员", "manager": "负责人", "analyst": "分析师", "specialist": "运营专员"}
    lines = ["# Console screenshots (控制台截图)", "",
             "Every console page in 简体中文 and English on a 5,000-user demo (seed 7), regenerated by "
             "`make screenshots` (`python -m jingyun.web.screenshots docs/screenshots`). "
             "Pages that are not shot (fragments, downloads, redirects) are listed with the reason in "
             "`SKIPPED` in `src/jingyun/web/screenshots.py`.", "",
             "| page 页面 | path | role 角色 | 中文 | English |", "|---|---|---|---|---|"]
    for shot, files in done:
        role = f"{shot.role or 'signed out'} {role_zh[shot.role]}"
        lines.append(f"| {shot.en} {shot.zh} | `/console{shot.route}` | {role} | "
                     f"[{files.get('zh-CN', '')}]({files.get('zh-CN', '')}) | [{files.get('en', '')}]({files.get('en', '')}) |")
    lines += ["", "Skipped (not pages):", ""]
    lines += [f"- `/console{route}` — {why}" for route, why in SKIPPED.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the JPEGs and README.md (docs/screenshots)")
    parser.add_argument("--users", type=int, default=5000, help="demo size (default 5,000)")
    parser.add_argument("--template", type=Path, default=None,
                        help="a home made by --build-only: copied and used instead of building a new one")
    parser.add_argument("--build-only", action="store_true", help="build the demo home in OUT and stop")
    args = parser.parse_args(argv)
    if args.build_only:
        build_home(args.out, args.users)
        return 0
    problems = coverage_problems(console_get_routes())
    if problems:
        sys.stderr.write("screenshots: the walk does not match the console's routes:\n  " + "\n  ".join(problems) + "\n")
        return 2
    if not Path(CHROMIUM).exists():
        sys.stderr.write(f"screenshots: {CHROMIUM} is missing (make sysdeps installs it)\n")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="jingyun_screenshots_"))
    home = tmp / "home"
    try:
        if args.template is not None:
            shutil.copytree(args.template, home)
        else:
            build_home(home, args.users)
        for old in args.out.glob("*.jpg"):
            old.unlink()
        done = shoot(args.out, home)
        (args.out / "README.md").write_text(index(done), encoding="utf-8")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
