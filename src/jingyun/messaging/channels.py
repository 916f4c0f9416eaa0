"""The channels: email over SMTP, signed webhooks, and webhook adapters for SMS, app push and
WeChat template messages (a provider is an endpoint with a URL and a payload shape).

A send either returns (accepted by the server) or raises :class:`Transient` (retry later) or
:class:`Permanent` (never retry: the delivery goes to the dead letters).
"""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import json
import smtplib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from jingyun.config import Settings

SIGNATURE_HEADER = "X-Jingyun-Signature"
TIMESTAMP_HEADER = "X-Jingyun-Timestamp"
DELIVERY_HEADER = "X-Jingyun-Delivery"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TIMEOUT_S = 10.0

#: Payload shapes of the provider adapters (a JSON document with Jinja placeholders; ``tojson`` quotes).
DEFAULT_PAYLOADS: dict[str, str] = {
    "webhook": "",  # the standard body (see webhook_body)
    "sms": '{"phone": {{ to|tojson }}, "text": {{ text|tojson }}}',
    "push": '{"token": {{ to|tojson }}, "title": {{ subject|tojson }}, "body": {{ text|tojson }}}',
    "wechat": ('{"touser": {{ to|tojson }}, "template_id": {{ meta.get("template_id", "")|tojson }}, '
               '"url": {{ meta.get("url", "")|tojson }}, "data": {"first": {"value": {{ subject|tojson }}}, '
               '"remark": {"value": {{ text|tojson }}}}}'),
}
#: whether a channel can be resent after a crash mid-send without a duplicate reaching the person
IDEMPOTENT = {"email": False, "inbox": True}


class Transient(Exception):
    """The send failed in a way that may pass: retry later."""


class Permanent(Exception):
    """The send was refused for good (bad address, 4xx): no retry."""


@dataclass(frozen=True)
class Outgoing:
    delivery_id: int
    key: str
    channel: str
    to: str
    subject: str
    text: str
    html: str | None
    user_id: str | None
    locale: str
    meta: dict[str, Any]
    headers: dict[str, str]


# -- email ----------------------------------------------------------------------------------------
def send_email(settings: Settings, out: Outgoing) -> str:
    # long header lines (List-Unsubscribe carries a signed URL) stay one line: folded into encoded
    # words the URL would not work in mail clients; RFC 5322 allows 998 characters
    msg = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
    msg["From"] = settings.smtp_from
    msg["To"] = out.to
    msg["Subject"] = out.subject
    msg["Message-ID"] = make_msgid(idstring=f"jy{out.delivery_id}")
    for name, value in out.headers.items():
        msg[name] = value
    msg.set_content(out.text)
    if out.html:
        msg.add_alternative(out.html, subtype="html")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(400 <= c < 500 for c in codes):
            raise Transient(f"recipient deferred ({codes[0]})") from None
        raise Permanent(f"recipient refused ({codes[0] if codes else '5xx'})") from None
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise Transient(f"smtp {exc.smtp_code}") from None
        raise Permanent(f"smtp {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise Transient(f"smtp unreachable: {type(exc).__name__}") from None
    return str(msg["Message-ID"])


# -- webhooks -------------------------------------------------------------------------------------
def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 under the endpoint secret of ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify_signature(secret: str, body: bytes, timestamp: str, header: str, *, tolerance_s: int = 300,
                     now: float | None = None) -> bool:
    """What a receiver runs: the signature matches and the timestamp is within ``tolerance_s`` (replays refused)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, ts, body), header or "")


def webhook_body(out: Outgoing) -> dict[str, Any]:
    return {"id": out.delivery_id, "key": out.key, "channel": out.channel, "to": out.to, "user_id": out.user_id,
            "subject": out.subject, "text": out.text, "html": out.html, "locale": out.locale, "meta": out.meta}


_SANDBOX = SandboxedEnvironment(autoescape=False)


def render_payload(shape: str, out: Outgoing) -> bytes:
    if not shape:
        return json.dumps(webhook_body(out), ensure_ascii=False).encode()
    text = _SANDBOX.from_string(shape).render(**webhook_body(out))
    json.loads(text)  # a shape must render to JSON; ValueError names a bad shape
    return text.encode()


def post_signed(url: str, secret: str, body: bytes, out: Outgoing, *, now: float | None = None) -> str:
    ts = int(now if now is not None else time.time())
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "jingyun-messaging/1",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature(secret, ts, body),
        DELIVERY_HEADER: str(out.delivery_id),
        IDEMPOTENCY_HEADER: out.key,
    })
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            return f"http {resp.status}"
    except urllib.error.HTTPError as exc:
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise Transient(f"http {exc.code}") from None
        raise Permanent(f"http {exc.code}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        raise Transient(f"unreachable: {type(exc).__name__}") from None
