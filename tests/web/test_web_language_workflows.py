"""One language at a time on the approvals and incident pages (issue 20 item 5, issue 21).

A small organisation, one marketing request (submitted, escalated, approved on behalf of its approver) and one
incident (reported from the console, noted, a step ticked, its level changed, closed late) — then the inbox, the
request's page, the incidents list and the incident's timeline are read as a person reads them (the text of
``<main>``, option labels included):

- in zh-CN, no stored enum value of ``web.enums`` (request types, positions and departments, playbooks, incident
  sources and statuses, and every kind the console already knows) and no English sentence from the library
  ("Marketing activity ¥80,000.00 — tier 1", "Stock-out level 2 from manual; …"): the only Latin words left are
  people's usernames and the time zone's name;
- in en, no Chinese label of those enums;
- every shown time is a ``<time>`` element carrying its offset, and the console's stylesheet keeps a
  ``<time>`` on one line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from jingyun import approvals, incidents
from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.approvals import org
from jingyun.config import load_settings
from jingyun.security import auth
from jingyun.web import enums, mount

PASSWORD = "language-workflows-password"
ORG = """name,department,role,superior
gm_li,,general_manager,
mdir,marketing,director,gm_li
mman,marketing,manager,mdir
spec_a,marketing,specialist,mman
"""
USERS = {"gm_li", "mdir", "mman", "spec_a", "root"}
T0 = dt.datetime(2026, 10, 9, 1, 30)  # 09:30 in Shanghai
NEW_KINDS = ("approval_type", "approval_position", "department", "org_title", "incident_playbook",
             "incident_source", "incident_status", "incident_level")


class _Text(HTMLParser):
    """The text of ``<main>`` (what a person reads), option labels included; scripts and styles left out."""

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.skip = 0, 0
        self.parts: list[str] = []
        self.times: list[str] = []
        self._in_time = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self.depth += 1
        elif tag in ("script", "style"):
            self.skip += 1
        elif tag == "time":
            self._in_time = True
            self.times.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.depth -= 1
        elif tag in ("script", "style"):
            self.skip -= 1
        elif tag == "time":
            self._in_time = False

    def handle_data(self, data: str) -> None:
        if self.depth and not self.skip:
            self.parts.append(data)
            if self._in_time:
                self.times[-1] += data


def shown(html: str) -> tuple[str, list[str]]:
    p = _Text()
    p.feed(html)
    return re.sub(r"\s+", " ", " ".join(p.parts)), p.times


def _tokens() -> set[str]:
    """Every stored value of a known enum whose Chinese label differs from it (dotted positions included)."""
    out = {"True", "False", "None"}
    for kind in enums.kinds():
        for value in enums.values(kind):
            if enums.label(kind, value, "zh-CN") != value and re.fullmatch(r"[A-Za-z_]+(\.[A-Za-z_]+)?", value):
                out.add(value)
    return out


WORD = re.compile(r"(?<![\w/:=?&-])[A-Za-z_]+(?:\.[A-Za-z_]+)*(?![\w/:=?&-])")


def build(home: Path) -> tuple[FastAPI, dict[str, int]]:
    """The workspace of these pages: the org, two requests, one incident; the ids to open."""
    settings = load_settings(home)
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    for name, role in {"mdir": "manager", "mman": "manager", "spec_a": "specialist", "gm_li": "manager",
                       "root": "admin"}.items():
        auth.create_person(state.store, username=name, password=PASSWORD, role=role, departments=[],
                           service=state.service)
    assert org.import_csv(state.store, settings, ORG).errors == []
    req = approvals.submit(state.store, settings, type="marketing", amount=Decimal("80000"), title="国庆大促投放",
                           payload={}, requester="spec_a", now=T0)
    moved = approvals.escalate_due(state.store, settings, now=T0 + dt.timedelta(hours=25))
    assert [(m.from_, m.to) for m in moved] == [("mdir", "gm_li")]
    approvals.delegate(state.store, delegator="gm_li", delegate="mdir", starts_at=T0, ends_at=T0 + dt.timedelta(days=30))
    approvals.decide(state.store, settings, req.id, actor="mdir", decision="approve", comment="同意投放",
                     now=T0 + dt.timedelta(hours=26))
    second = approvals.submit(state.store, settings, type="marketing", amount=Decimal("5000"), title="会员日短信",
                              payload={}, requester="spec_a", now=T0 + dt.timedelta(hours=27))
    for hours in (27 + 25, 27 + 50):  # mdir → gm_li, then nobody above gm_li: reminded again
        approvals.escalate_due(state.store, settings, now=T0 + dt.timedelta(hours=hours))
    with TestClient(app) as c:  # reported through the console's own form (source manual)
        sign_in(c, "mman")
        made = c.post("/console/incidents", data={"playbook": "stock_out", "title": "爆款断货", "level": "2"},
                      follow_redirects=False)
        assert made.status_code == 303
    iid = int(made.headers["location"].rsplit("/", 1)[1])
    incidents.add_note(state.store, iid, author="mman", text="仓库确认补货")
    incidents.complete_step(state.store, iid, 1, author="mman")
    incidents.set_level(state.store, iid, 1, author="mman")
    incidents.close(state.store, iid, author="mman", now=dt.datetime(2030, 1, 1),
                    review={"summary": "补货完成", "root_cause": "预测偏低", "actions": ["调高安全库存"]})
    return app, {"request": req.id, "second": second.id, "incident": iid}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, int]]]:
    app, ids = build(Path(tmp_path_factory.mktemp("lang_workflows")))
    with TestClient(app) as c:
        yield c, ids


def sign_in(c: TestClient, who: str) -> None:
    c.cookies.clear()
    r = c.post("/console/login", data={"username": who, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


PAGES = {
    "inbox": ("spec_a", "/console/approvals?box=submitted"),
    "inbox_to_decide": ("gm_li", "/console/approvals?box=to_decide"),
    "request": ("spec_a", "/console/approvals/{request}"),
    "second": ("spec_a", "/console/approvals/{second}"),
    "incidents": ("mman", "/console/incidents?status=all"),
    "incident": ("mman", "/console/incidents/{incident}"),
}


def _page(client: tuple[TestClient, dict[str, int]], name: str, lang: str) -> tuple[str, list[str], str]:
    c, ids = client
    who, path = PAGES[name]
    sign_in(c, who)
    r = c.get(path.format(**ids) + ("&" if "?" in path else "?") + f"lang={lang}")
    assert r.status_code == 200, r.text[:500]
    text, times = shown(r.text)
    return text, times, r.text


def test_the_tokens_know_the_workflow_enums() -> None:
    tokens = _tokens()
    assert {"marketing", "pricing", "stock_out", "system_outage", "manual", "alert", "marketing.director",
            "finance.director", "general_manager", "superior", "director"} <= tokens
    assert enums.label("approval_position", "marketing.director", "zh-CN") == "市场部总监"
    assert enums.label("approval_position", "marketing.director", "en") == "Marketing director"
    assert enums.label("approval_position", "person:lin", "zh-CN") == "lin"
    assert enums.label("approval_type", "marketing", "zh-CN") == "营销活动"
    assert enums.label("incident_playbook", "stock_out", "en") == "Stock-out"
    assert enums.label("incident_source", "manual", "zh-CN") == "手动上报"
    assert enums.label("incident_source", "alert", "en") == "Alert"
    assert enums.label("incident_level", 2, "zh-CN") == "2 级"


@pytest.mark.parametrize("name", list(PAGES))
def test_zh_pages_show_no_raw_code_and_no_english_sentence(client: Any, name: str) -> None:
    text, times, _html = _page(client, name, "zh-CN")
    tokens = _tokens()
    raw = sorted({w for w in WORD.findall(text) if w in tokens})
    assert raw == [], f"{name}: untranslated {raw}"
    # the only Latin words a Chinese reader meets here: usernames and the time zone's name
    latin = sorted(set(re.findall(r"[A-Za-z]{2,}", text)) - USERS - {"Asia", "Shanghai", "mdir", "mman", "gm", "li",
                                                                   "spec", "jingyun", "approval", "submit",
                                                                   "POST", "api", "approvals"})
    assert latin == [], f"{name}: English on a Chinese page {latin}"
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+08:00", t) for t in times), times


def test_zh_pages_say_it_in_chinese(client: Any) -> None:
    request, _, _ = _page(client, "request", "zh-CN")
    assert "营销活动" in request and "市场部总监" in request
    assert "营销活动 ¥80,000.00 · 第 1 档" in request  # the submit line, from the catalog
    assert "系统 · 超时升级：mdir 未在 24 小时（自然时）内处理，已升级至 gm_li" in request
    assert "同意投放（代 gm_li 审批）" in request
    inbox, _, _ = _page(client, "inbox", "zh-CN")
    assert inbox.count("营销活动") == 2
    listed, _, _ = _page(client, "incidents", "zh-CN")
    assert "缺货断货" in listed and "1 级" in listed and "手动上报" in listed
    timeline, _, _ = _page(client, "incident", "zh-CN")
    assert "缺货断货 · 2 级 · 手动上报 · 第一责任人：无人担任供应链部经理" in timeline
    assert "第 1 步：确认缺货商品、门店和预计到货时间" in timeline
    assert "由 2 级 调整为 1 级" in timeline and "关闭：超过处理时限 · 补货完成" in timeline


@pytest.mark.parametrize("name", list(PAGES))
def test_en_pages_show_no_chinese_enum_label(client: Any, name: str) -> None:
    text, times, _html = _page(client, name, "en")
    labels = set()
    for kind in (*NEW_KINDS, "approval_status", "light"):
        for value in enums.values(kind):
            zh = enums.label(kind, value, "zh-CN")
            if re.search(r"[\u4e00-\u9fff]", zh):
                labels.add(zh)
    found = sorted(lab for lab in labels if lab in text)
    assert found == [], f"{name}: Chinese labels on an English page {found}"
    assert times


def test_an_escalation_with_nobody_above_reads_in_both_languages(client: Any) -> None:
    zh, _, _ = _page(client, "second", "zh-CN")
    assert "mdir 未在 24 小时（自然时）内处理，已升级至 gm_li" in zh
    assert "gm_li 未在 24 小时（自然时）内处理，没有更高一级可升级，已再次提醒" in zh
    assert "营销活动 ¥5,000.00 · 第 1 档" in zh and "审批中" in zh
    en, _, _ = _page(client, "second", "en")
    assert "gm_li did not answer within 24 calendar hours; nobody above to escalate to, reminded again" in en


def test_the_entries_facts_are_the_library_own_words() -> None:
    """The facts read back exactly what the library wrote; a person's own words are not facts."""
    at = dt.datetime(2026, 10, 9)
    esc = approvals.Entry(at, "system", "escalate", "mdir did not answer within 7.5 business hours; escalated to gm")
    assert esc.facts == {"was": "mdir", "hours": "7.5", "clock": "business", "to": "gm"}
    assert approvals.Entry(at, "mdir", "comment", "mdir did not answer within 1 calendar hours").facts is None
    opened = incidents.TimelineEntry(at, "ana", "opened", "Stock-out level 3 from alert; first responder: wu")
    assert opened.facts == {"level": "3", "source": "alert", "position": None, "responder": "wu"}
    closed = incidents.TimelineEntry(at, "ana", "closed", "closed: 两行\n概述")
    assert closed.facts == {"late": False, "summary": "两行\n概述"}
    assert incidents.TimelineEntry(at, "ana", "note", "level 1 → 2").facts is None


def test_en_pages_read_in_english(client: Any) -> None:
    request, _, _ = _page(client, "request", "en")
    assert "Marketing activity ¥80,000.00 · tier 1" in request and "Marketing director" in request
    assert "mdir did not answer within 24 calendar hours; escalated to gm_li" in request
    assert "同意投放 (on behalf of gm_li)" in request
    timeline, _, _ = _page(client, "incident", "en")
    assert "Stock-out · Level 2 · Manual · first responder: nobody holds Supply chain manager" in timeline
    assert "step 1: Confirm the products, stores and expected restock time" in timeline


def test_a_time_stays_on_one_line() -> None:
    css = (Path(enums.__file__).parent / "static" / "console.css").read_text(encoding="utf-8")
    assert re.search(r"(^|[},\s])time\s*[,{][^}]*white-space:\s*nowrap", css, re.M), "no nowrap rule for <time>"
