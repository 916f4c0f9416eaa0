"""The delivery log over HTTP (masked by role), open/click tracking, consent routes, templates, the CLI."""

from __future__ import annotations

import json
import re

import duckdb
from typer.testing import CliRunner

from jingyun.messaging import Message, consent, deliver, templates
from jingyun.security.masking import pseudonym


def test_log_masks_recipients_for_specialist_and_analyst(store, msettings, smtp, service):
    deliver(store, msettings, Message("email", "li.lei@shop.cn", "Hi 13800138000", "T", key="a1", user_id="u1"))
    salt = service.app.state.jingyun.service.mask_salt
    seen = {}
    for role in ("specialist", "analyst", "manager", "admin"):
        r = service.client.get("/api/v1/messages/deliveries", headers=service.as_(role))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 1
        seen[role] = body["items"][0]
    for role in ("specialist", "analyst"):
        assert seen[role]["recipient"] == pseudonym("li.lei@shop.cn", salt)
        assert "13800138000" not in json.dumps(seen[role]) and "li.lei" not in json.dumps(seen[role])
    for role in ("manager", "admin"):
        assert seen[role]["recipient"] == "li.lei@shop.cn"
    assert seen["admin"]["created_at"].endswith("+08:00")
    page = service.client.get("/api/v1/messages/deliveries?limit=1&offset=1", headers=service.as_("admin")).json()
    assert page["items"] == [] and page["total"] == 1
    assert service.client.get("/api/v1/messages/deliveries").status_code == 401


def test_open_and_click_tracking(store, msettings, smtp, service):
    inbox, _ = smtp
    d = deliver(store, msettings, Message("email", "li@shop.cn", "S", "T", key="o1",
                                          html='<html><body><a href="https://shop.cn/p/9?a=1&amp;b=2">go</a></body></html>'))
    html = next(p for p in inbox.messages[0].walk() if p.get_content_type() == "text/html").get_content()
    click = re.search(r'href="http://testserver(/api/v1/messages/t/click/[^"]+)"', html).group(1)
    pixel = re.search(r'src="http://testserver(/api/v1/messages/t/open/[^"]+)"', html).group(1)
    assert service.client.get(pixel).headers["content-type"] == "image/gif"
    r = service.client.get(click, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "https://shop.cn/p/9?a=1&b=2"
    assert service.client.get(click[:-4] + "AAAA", follow_redirects=False).status_code == 404  # no open redirect
    row = service.client.get(f"/api/v1/messages/deliveries/{d.id}", headers=service.as_("admin")).json()
    assert row["opened_at"] and row["clicked_at"]


def test_consent_routes_and_csv_import(store, service):
    admin, spec = service.as_("admin"), service.as_("specialist")
    body = {"purpose": "marketing", "channel": "sms", "granted": True}
    assert service.client.put("/api/v1/consent/u5", json=body, headers=spec).status_code == 403
    assert service.client.put("/api/v1/consent/u5", json=body, headers=admin).status_code == 200
    assert consent.allowed(store, "u5", channel="sms", purpose="marketing")
    assert not consent.allowed(store, "u5", channel="email", purpose="marketing")
    bad = "user_id,purpose,channel,granted\nu6,marketing,*,yes\nu7,spam,*,yes\n"
    r = service.client.post("/api/v1/consent/import", content=bad, headers={**admin, "Content-Type": "text/csv"})
    assert r.status_code == 400 and "line 3" in r.json()["error"]["message"]
    assert not consent.allowed(store, "u6", channel="email", purpose="marketing")  # nothing recorded
    good = "user_id,purpose,channel,granted\nu6,marketing,,true\nu5,marketing,sms,false\n"
    r = service.client.post("/api/v1/consent/import", content=good, headers={**admin, "Content-Type": "text/csv"})
    assert r.json() == {"recorded": 2}
    assert consent.allowed(store, "u6", channel="email", purpose="marketing")
    assert not consent.allowed(store, "u5", channel="sms", purpose="marketing")


def _warehouse(msettings):
    con = duckdb.connect(str(msettings.home / "person.duckdb"))
    con.execute("CREATE TABLE users (user_id VARCHAR, person_id VARCHAR, name VARCHAR)")
    con.execute("CREATE TABLE events (user_id VARCHAR, event VARCHAR, ts TIMESTAMP, properties JSON)")
    con.execute("CREATE TABLE products (product_id VARCHAR, name VARCHAR)")
    con.execute("CREATE TABLE model_scores (person_id VARCHAR, model VARCHAR, score_name VARCHAR, value DOUBLE)")
    con.execute("INSERT INTO users VALUES ('u1', 'p1', '李雷'), ('u2', 'p2', 'Han Meimei')")
    con.execute("""INSERT INTO events VALUES ('u1', 'view_product', '2026-09-01 10:00', '{"product_id": "A"}'),
                   ('u1', 'view_product', '2026-09-02 10:00', '{"product_id": "B"}'),
                   ('u2', 'view_product', '2026-09-02 10:00', '{"product_id": "A"}')""")
    con.execute("INSERT INTO products VALUES ('A', '保温杯'), ('B', '茶具套装'), ('C', '咖啡豆')")
    con.execute("INSERT INTO model_scores VALUES ('p1', 'recommend', 'product:C', 0.9), ('p1', 'recommend', 'product:A', 0.2)")

    class Rows:
        def rows(self, sql):
            return con.execute(sql).fetchall()

    return Rows()


def test_personalised_email_zh_and_en(store, msettings, smtp):
    inbox, _ = smtp
    wh = _warehouse(msettings)
    ctx1 = templates.person_context(wh, "u1")
    assert ctx1 == {"user_id": "u1", "name": "李雷", "product_viewed": "茶具套装", "recommended_product": "咖啡豆"}
    ctx2 = templates.person_context(wh, "u2")
    assert "recommended_product" not in ctx2  # no score: left out gracefully
    zh = templates.render(templates.get(store, "cart_reminder", "zh-CN"), {**ctx1, "coupon_code": "JY-1"})
    en = templates.render(templates.get(store, "cart_reminder", "en"), ctx2)
    deliver(store, msettings, Message("email", "li@shop.cn", zh.subject, zh.text, user_id="u1"))
    deliver(store, msettings, Message("email", "han@shop.cn", en.subject, en.text, user_id="u2", locale="en"))
    got_zh, got_en = (m.get_body(("plain",)).get_content() for m in inbox.messages)
    assert inbox.messages[0]["Subject"] == "李雷,您看过的茶具套装还在等您"
    assert "专属优惠码:JY-1" in got_zh and "为你推荐:咖啡豆" in got_zh
    assert inbox.messages[1]["Subject"] == "Han Meimei, 保温杯 is waiting"
    assert got_en.startswith("Hi Han Meimei,") and "Recommended" not in got_en and "code" not in got_en


def test_sandbox_and_preview_masking(store, msettings):
    import pytest

    from jingyun.errors import JingyunError

    evil = templates.save(store, name="evil", locale="en", subject="x", text="{{ name.__class__.__mro__ }}")
    with pytest.raises(JingyunError) as err:
        templates.render(evil, {"name": "a"})
    assert err.value.code == "bad_template"
    raw = templates.preview(templates.get(store, "welcome", "zh-CN"))
    masked = templates.preview(templates.get(store, "welcome", "zh-CN"), mask_salt=b"s")
    assert "张伟" in raw.text and "张伟" not in masked.text and "sha256:" in masked.text


def test_cli_send_test(msettings, smtp, monkeypatch, capsys):
    from jingyun.cli.main import _register, app

    inbox, port = smtp
    monkeypatch.setenv("JINGYUN_HOME", str(msettings.home))
    monkeypatch.setenv("JINGYUN_SMTP_PORT", str(port))
    _register()
    r = CliRunner().invoke(app, ["send", "test", "--channel", "email", "--to", "ops@shop.cn", "--template", "welcome",
                                 "--locale", "en", "--coupon", "NEW10", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["status"] == "sent"
    assert inbox.messages[-1]["Subject"] == "Welcome, friend"
    assert "Your welcome code: NEW10" in inbox.messages[-1].get_body(("plain",)).get_content()
    from jingyun.cli.main import main

    assert main(["send", "test", "--channel", "fax", "--to", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad_channel") and len(err.strip().splitlines()) == 1


def test_console_log_page_masks_for_analyst(store, msettings, smtp, service):
    deliver(store, msettings, Message("email", "li.lei@shop.cn", "S", "T", key="c1"))
    for role, visible in (("analyst", False), ("admin", True)):
        client = service.client
        client.cookies.clear()
        r = client.post("/console/login", data={"username": f"p_{role}", "password": "messaging-test-password"},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        page = client.get("/console/messages?lang=en")
        assert page.status_code == 200 and 'id="deliveries"' in page.text
        assert ("li.lei@shop.cn" in page.text) is visible
        assert ("sha256:" in page.text) is not visible
