"""Email to a real aiosmtpd server: personalisation, unsubscribe, consent, idempotency, crashes."""

from __future__ import annotations

import datetime as dt
import re
from email.message import Message as EmailMessage

import pytest
from sqlalchemy import select

from jingyun.messaging import Message, consent, deliver, retry_due
from jingyun.messaging import core as core_mod
from jingyun.store.messages import MessageDelivery

T0 = dt.datetime(2026, 10, 1, 1, 0)


def _body(msg: EmailMessage, kind: str = "plain") -> str:
    for part in msg.walk():
        if part.get_content_type() == f"text/{kind}":
            return str(part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8"))
    raise AssertionError(f"no text/{kind} part")


def test_service_email_arrives(store, msettings, smtp):
    inbox, _ = smtp
    d = deliver(store, msettings, Message("email", "li@shop.cn", "订单已发货", "您的订单已发货", key="k1", user_id="u1"), now=T0)
    assert (d.status, d.attempts) == ("sent", 1)
    assert len(inbox.messages) == 1
    got = inbox.messages[0]
    assert got["To"] == "li@shop.cn" and got["From"] == "ops@shop.cn"
    assert _body(got).strip() == "您的订单已发货"
    assert got["List-Unsubscribe"] is None  # service mail carries no unsubscribe


def test_marketing_needs_consent(store, msettings, smtp):
    inbox, _ = smtp
    d = deliver(store, msettings, Message("email", "li@shop.cn", "S", "T", purpose="marketing", key="m1", user_id="u1"))
    assert (d.status, d.reason) == ("suppressed", "no_consent")
    assert inbox.messages == []
    consent.record(store, "u1", purpose="marketing", granted=True)
    assert consent.allowed(store, "u1", channel="email", purpose="marketing")
    consent.record(store, "u1", purpose="marketing", channel="sms", granted=False)
    assert not consent.allowed(store, "u1", channel="sms", purpose="marketing")  # a channel record wins over *
    assert consent.allowed(store, "u1", channel="sms", purpose="service")
    d2 = deliver(store, msettings, Message("email", "li@shop.cn", "S", "T", purpose="marketing", key="m2", user_id="u1"))
    assert d2.status == "sent" and len(inbox.messages) == 1


def test_unsubscribe_link_round_trip(store, msettings, smtp, service):
    inbox, _ = smtp
    consent.record(store, "u7", purpose="marketing", granted=True)
    deliver(store, msettings, Message("email", "wang@shop.cn", "New", "Hello Wang", html="<html><body><a href=\"https://shop.cn/p/1\">p</a></body></html>",
                                      purpose="marketing", key="m7", user_id="u7", locale="en"))
    got = inbox.messages[0]
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.fullmatch(r"<(.+)>", "".join(str(got["List-Unsubscribe"]).split())).group(1)
    assert link in _body(got)
    assert "Unsubscribe" in _body(got, "html")
    path = link.removeprefix("http://testserver")
    client = service.client
    page = client.get(path)
    assert page.status_code == 200 and "Unsubscribe" in page.text and "<form" in page.text
    assert consent.allowed(store, "u7", channel="email", purpose="marketing")  # GET alone changes nothing
    assert client.post(path).status_code == 200  # RFC 8058 one-click: a bare POST applies it
    assert not consent.allowed(store, "u7", channel="email", purpose="marketing")
    d = deliver(store, msettings, Message("email", "wang@shop.cn", "New", "again", purpose="marketing", key="m8", user_id="u7"))
    assert (d.status, d.reason) == ("suppressed", "unsubscribed")
    assert len(inbox.messages) == 1
    assert client.get(path[:-3] + "xyz").status_code == 404  # a tampered token is refused


def test_same_key_sends_once(store, msettings, smtp):
    inbox, _ = smtp
    m = Message("email", "li@shop.cn", "S", "T", key="journey:j1:step2:u1", user_id="u1")
    first = deliver(store, msettings, m)
    again = deliver(store, msettings, m)
    assert again == first and len(inbox.messages) == 1


def test_crash_after_decision_then_restart_sends_once(store, msettings, smtp, monkeypatch):
    inbox, _ = smtp

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(core_mod, "_attempt", crash)
    m = Message("email", "li@shop.cn", "S", "T", key="crash-1", user_id="u1")
    with pytest.raises(RuntimeError):
        deliver(store, msettings, m, now=T0)
    monkeypatch.undo()
    assert deliver(store, msettings, m, now=T0).status == "queued"  # the caller retries: nothing sent
    assert inbox.messages == []
    assert retry_due(store, msettings, now=T0 + dt.timedelta(minutes=2)) == {"retried": 0, "recovered": 1, "unknown": 0}
    assert len(inbox.messages) == 1
    retry_due(store, msettings, now=T0 + dt.timedelta(hours=1))
    assert deliver(store, msettings, m).status == "sent" and len(inbox.messages) == 1


def test_crash_mid_send_email_is_unknown_never_resent(store, msettings, smtp, monkeypatch):
    inbox, _ = smtp
    real_send = core_mod._send

    def send_then_crash(*args, **kwargs):
        real_send(*args, **kwargs)
        raise KeyboardInterrupt  # the process dies after the server accepted the mail, before it is marked

    monkeypatch.setattr(core_mod, "_send", send_then_crash)
    with pytest.raises(KeyboardInterrupt):
        deliver(store, msettings, Message("email", "li@shop.cn", "S", "T", key="crash-2"), now=T0)
    monkeypatch.undo()
    assert len(inbox.messages) == 1
    assert retry_due(store, msettings, now=T0 + dt.timedelta(minutes=10))["unknown"] == 1
    retry_due(store, msettings, now=T0 + dt.timedelta(hours=5))
    assert len(inbox.messages) == 1
    with store.session() as ses:
        assert ses.scalar(select(MessageDelivery.status).where(MessageDelivery.key == "crash-2")) == "unknown"


def test_test_accounts_suppressed(store, msettings, smtp):
    inbox, _ = smtp
    a = deliver(store, msettings, Message("email", "qa@example.com", "S", "T", user_id="u2"))
    b = deliver(store, msettings, Message("email", "x@shop.cn", "S", "T", user_id="test_9"))
    assert (a.status, a.reason, b.status, b.reason) == ("suppressed", "test_account", "suppressed", "test_account")
    assert inbox.messages == []


def test_smtp_down_retries_then_dead(store, msettings, smtp):
    from jingyun.config import load_settings

    down = load_settings(msettings.home, smtp_port=1, messages_public_url="http://testserver")
    d = deliver(store, down, Message("email", "li@shop.cn", "S", "T", key="down"), now=T0)
    assert d.status == "failed" and d.next_attempt_at is not None
    assert T0 + dt.timedelta(seconds=15) <= d.next_attempt_at <= T0 + dt.timedelta(seconds=30)
