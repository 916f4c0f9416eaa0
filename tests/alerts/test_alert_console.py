"""The console's alert inbox and risk map through a TestClient: acknowledging from the inbox turns the risk map's
Trade/GMV cell from red to yellow (the red alert is in hand, the yellow one is still open); both languages;
values by unit, local times with the offset, the diagnosis and the drill-down; refusals shown, not lost."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from conftest import PASSWORD, series_day

Svc = tuple[TestClient, dict[str, str]]


def _login(client: TestClient, username: str) -> TestClient:
    client.cookies.clear()
    r = client.post("/console/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def _cell(html: str, department: str, subject: str) -> str:
    row = re.search(rf'<tr data-department="{department}">(.*?)</tr>', html, re.S)
    assert row, html
    cell = re.search(rf'<td class="light-(\w+)" data-subject="{subject}" data-level="(\w+)">(.*?)</td>', row.group(1),
                     re.S)
    assert cell and cell.group(1) == cell.group(2)
    return cell.group(2) + "|" + re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell.group(3))).strip()


def _evaluate(service: Svc) -> dict[str, int]:
    client, tokens = service
    r = client.post("/api/v1/alerts/evaluate", headers={"Authorization": f"Bearer {tokens['carol']}"},
                    json={"as_of": series_day(5).isoformat(), "send": False})
    assert r.status_code == 200, r.text
    return {a["rule"]: a["alert_id"] for a in r.json()["alerts"]}


def test_acknowledge_from_the_inbox_changes_the_risk_map(service: Svc) -> None:
    ids = _evaluate(service)
    client = _login(service[0], "carol")
    before = client.get("/console/alerts/map?lang=en")
    assert before.status_code == 200
    assert _cell(before.text, "Trade", "gmv") == f"red|Red #{ids['gmv-dod']} ¥800.00 (2 open)"
    assert _cell(before.text, "CX", "aov") == f"yellow|Yellow #{ids['aov-cx']} ¥800.00"
    page = client.get("/console/alerts?lang=en")  # carol's own: the red change and CX's yellow
    assert page.status_code == 200
    items = re.findall(r'data-alert="(\d+)" data-level="(\w+)" data-status="(\w+)"', page.text)
    assert sorted(items) == sorted([(str(ids["gmv-dod"]), "red", "open"), (str(ids["aov-cx"]), "yellow", "open")])
    assert "¥800.00 (-20.0%)" in page.text and "¥1,000.00" in page.text  # money with ¥ and separators
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\+08:00", page.text)  # local time with its offset
    red = page.text[page.text.index(f'data-alert="{ids["gmv-dod"]}"'):]
    red = red[:red.index("</li>")]
    # the diagnosis: the whole fall is seo's (1,000 → 0), ads rose 0 → 800
    assert '<tr class="top-driver"><td>seo</td><td>¥-1,000.00</td><td>500%</td></tr>' in red
    assert "¥1,000.00 → ¥800.00 (-20.0%) · by channel" in red
    assert 'href="/console/analyses?metric=gmv&amp;from=2026-10-15&amp;to=2026-10-15&amp;by=channel#diagnosis"' in red
    form = f'action="/console/alerts/{ids["gmv-dod"]}/ack"'
    assert form in page.text
    r = client.post(f"/console/alerts/{ids['gmv-dod']}/ack", data={"back": "mine=1&status=active"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"done=ack&id={ids['gmv-dod']}")
    done = client.get(r.headers["location"] + "&lang=en")
    assert f"Alert #{ids['gmv-dod']} acknowledged" in done.text
    assert f'data-alert="{ids["gmv-dod"]}" data-level="red" data-status="acknowledged"' in done.text
    after = client.get("/console/alerts/map?lang=en")
    assert _cell(after.text, "Trade", "gmv") == f"yellow|Yellow #{ids['gmv-low']} ¥800.00 1 in hand (worst: Red)"
    zh = client.get("/console/alerts/map?lang=zh-CN")
    assert _cell(zh.text, "Trade", "gmv") == f"yellow|黄 #{ids['gmv-low']} ¥800.00 1 条处理中（最高：红）"
    # acknowledging again is refused and said so; nothing changes
    again = client.post(f"/console/alerts/{ids['gmv-dod']}/ack", data={"back": "mine=1&status=active"},
                        follow_redirects=True, params={"lang": "en"})
    assert "it is already acknowledged" in client.get(
        f"/console/alerts?mine=1&status=active&refused=alert_acknowledged&id={ids['gmv-dod']}&lang=en").text
    assert again.status_code == 200


def test_who_sees_and_who_may_act(service: Svc) -> None:
    ids = _evaluate(service)
    client = _login(service[0], "alice")  # Trade specialist: sees Trade's alerts, routed none
    mine = client.get("/console/alerts")
    assert mine.status_code == 200 and "data-alert=" not in mine.text
    visible = client.get("/console/alerts?mine=0&status=active")
    shown = set(re.findall(r'data-alert="(\d+)" data-level', visible.text))
    assert shown == {str(ids["gmv-dod"]), str(ids["gmv-low"])}
    assert "/ack\"" not in visible.text  # not hers to act on: no buttons
    refused = client.post(f"/console/alerts/{ids['gmv-low']}/ack", data={}, follow_redirects=False)
    assert refused.status_code == 303 and "refused=forbidden" in refused.headers["location"]
    hidden = client.post(f"/console/alerts/{ids['aov-cx']}/ack", data={}, follow_redirects=False)
    assert hidden.status_code == 404  # another department's alert: as if missing
    bob = _login(service[0], "bob")
    r = bob.post(f"/console/alerts/{ids['gmv-low']}/snooze", data={"until": "2020-01-01T09:00"}, follow_redirects=False)
    assert "refused=bad_until" in r.headers["location"]
    r = bob.post(f"/console/alerts/{ids['gmv-low']}/snooze", data={"until": "2099-01-02T09:00"}, follow_redirects=False)
    assert r.headers["location"].endswith(f"done=snooze&id={ids['gmv-low']}")
    page = bob.get("/console/alerts?lang=en")
    assert "2099-01-02 09:00:00+08:00" in page.text  # the local time chosen, shown with its offset
    assert "Trade" in bob.get("/console/alerts/map").text and 'data-department="CX"' not in \
        bob.get("/console/alerts/map").text
