"""Signed webhooks and provider adapters against a real local HTTP server: signature, backoff, dead letters, replay."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from jingyun.errors import JingyunError
from jingyun.messaging import Message, deliver, replay, retry_due
from jingyun.messaging import core as core_mod
from jingyun.messaging.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from jingyun.messaging.endpoints import add

T0 = dt.datetime(2026, 10, 1, 1, 0)


def test_signed_webhook_verifies(store, msettings, receiver):
    _, secret = add(store, msettings, name="crm", kind="webhook", url=receiver.url)
    d = deliver(store, msettings, Message("webhook", "crm", "S", "订单 #1", key="w1", user_id="u1",
                                          meta={"order": 1}), now=T0)
    assert d.status == "sent"
    headers, body = receiver.requests[0]
    ts = headers[TIMESTAMP_HEADER]
    assert int(ts) == int(T0.replace(tzinfo=dt.UTC).timestamp())
    assert verify_signature(secret, body, ts, headers[SIGNATURE_HEADER], now=float(ts))
    assert not verify_signature(secret, body + b" ", ts, headers[SIGNATURE_HEADER], now=float(ts))  # tampered body
    assert not verify_signature("whsec_other", body, ts, headers[SIGNATURE_HEADER], now=float(ts))
    assert not verify_signature(secret, body, ts, headers[SIGNATURE_HEADER], now=float(ts) + 301)  # stale replay
    payload = json.loads(body)
    assert (payload["id"], payload["key"], payload["text"], payload["meta"]) == (d.id, "w1", "订单 #1", {"order": 1})
    assert headers["Idempotency-Key"] == "w1"


def test_failing_webhook_backs_off_dead_letters_at_4h_then_replays(store, msettings, receiver):
    add(store, msettings, name="erp", kind="webhook", url=receiver.url)
    receiver.codes = [503]
    d = deliver(store, msettings, Message("webhook", "erp", "S", "T", key="w2"), now=T0)
    assert d.status == "failed" and d.attempts == 1
    delays, clock, last = [], T0, d
    while last.status == "failed":
        assert last.next_attempt_at is not None
        delays.append((last.next_attempt_at - clock).total_seconds())
        clock = last.next_attempt_at
        assert retry_due(store, msettings, now=clock - dt.timedelta(seconds=1))["retried"] == 0  # not yet due
        assert retry_due(store, msettings, now=clock)["retried"] == 1
        last = deliver(store, msettings, Message("webhook", "erp", "S", "T", key="w2"))  # same key: the row, no send
    assert last.status == "dead"
    assert clock == T0 + dt.timedelta(hours=4)  # the last try is exactly at the end of the window
    assert len(receiver.requests) == last.attempts == len(delays) + 1
    # jittered exponential: each delay within 50-100 % of 30 s x 2^(n-1), capped at 1 h
    for n, delay in enumerate(delays[:-1], start=1):
        base = min(3600, 30 * 2 ** (n - 1))
        assert base * 0.5 <= delay <= base
    assert sum(delays) == pytest.approx(4 * 3600)
    with store.session() as ses:
        page = core_mod.log(store, status="dead")
        assert [r.key for r in page.items] == ["w2"] and page.total == 1
        del ses
    receiver.codes = [200]
    later = T0 + dt.timedelta(days=1)
    [again] = replay(store, msettings, [last.id], now=later)
    assert (again.status, again.attempts) == ("sent", 1)
    assert len(receiver.requests) == last.attempts + 1
    with pytest.raises(JingyunError) as err:
        replay(store, msettings, [last.id])
    assert err.value.code == "not_dead"


def test_client_error_goes_straight_to_dead_letters(store, msettings, receiver):
    add(store, msettings, name="bad", kind="webhook", url=receiver.url)
    receiver.codes = [400]
    d = deliver(store, msettings, Message("webhook", "bad", "S", "T"), now=T0)
    assert (d.status, d.reason, d.attempts) == ("dead", "http 400", 1)


def test_sms_push_wechat_adapters_shape_payloads(store, msettings, receiver):
    add(store, msettings, name="sms", kind="sms", url=receiver.url)
    add(store, msettings, name="push", kind="push", url=receiver.url)
    add(store, msettings, name="wx", kind="wechat", url=receiver.url)
    add(store, msettings, name="sms2", kind="sms", url=receiver.url,
        payload='{"mobile": {{ to|tojson }}, "content": {{ ("【精运】" ~ text)|tojson }}, "sign": "JY"}')
    assert deliver(store, msettings, Message("sms", "13800138000", "", "验证码 1234")).status == "sent"
    assert deliver(store, msettings, Message("push", "tok-1", "标题", "正文")).status == "sent"
    assert deliver(store, msettings, Message("wechat", "openid-9", "发货通知", "已发货",
                                             meta={"endpoint": "wx", "template_id": "TPL1"})).status == "sent"
    assert deliver(store, msettings, Message("sms", "13900139000", "", "hi", meta={"endpoint": "sms2"})).status == "sent"
    assert receiver.json(0) == {"phone": "13800138000", "text": "验证码 1234"}
    assert receiver.json(1) == {"token": "tok-1", "title": "标题", "body": "正文"}
    assert receiver.json(2) == {"touser": "openid-9", "template_id": "TPL1", "url": "",
                                "data": {"first": {"value": "发货通知"}, "remark": {"value": "已发货"}}}
    assert receiver.json(3) == {"mobile": "13900139000", "content": "【精运】hi", "sign": "JY"}
    missing = deliver(store, msettings, Message("push", "tok", "t", "x", meta={"endpoint": "nowhere"}))
    assert missing.status == "dead" and "no active endpoint" in missing.reason


def test_crash_mid_send_webhook_is_resent_with_same_key(store, msettings, receiver, monkeypatch):
    add(store, msettings, name="crm", kind="webhook", url=receiver.url)
    real_send = core_mod._send

    def send_then_crash(*args, **kwargs):
        real_send(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(core_mod, "_send", send_then_crash)
    with pytest.raises(KeyboardInterrupt):
        deliver(store, msettings, Message("webhook", "crm", "S", "T", key="w9"), now=T0)
    monkeypatch.undo()
    assert retry_due(store, msettings, now=T0 + dt.timedelta(minutes=10))["recovered"] == 1
    # the receiver got it twice, with the same Idempotency-Key and delivery id, so it keeps one
    assert [h["Idempotency-Key"] for h, _ in receiver.requests] == ["w9", "w9"]
    assert len({h["X-Jingyun-Delivery"] for h, _ in receiver.requests}) == 1


def test_bad_endpoint_input_refused(store, msettings):
    for kwargs, code in (({"url": "ftp://x"}, "bad_url"), ({"url": "http://x", "kind": "fax"}, "bad_kind"),
                         ({"url": "http://x", "payload": "{{ to }"}, "bad_payload")):
        with pytest.raises(JingyunError) as err:
            add(store, msettings, name="e", **{"kind": "webhook", **kwargs})
        assert err.value.code == code
