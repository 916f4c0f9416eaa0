"""Signed tokens for the links in messages: one-click unsubscribe, open pixel, click redirect.

A token is ``base64url(json payload).base64url(HMAC-SHA256)`` under a key derived from the
service secret for this one purpose, so nobody can forge an unsubscribe or make the click
endpoint an open redirect (the target URL is inside the signed payload).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from jingyun.config import Settings
from jingyun.errors import JingyunError


def _key(settings: Settings) -> bytes:
    from jingyun.security.config import load_service_settings

    return load_service_settings(settings).derive("messaging-links")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, kind: str, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps({"k": kind, **payload}, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_key(settings), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(settings: Settings, kind: str, token: str) -> dict[str, Any]:
    """The payload of a token of this kind, or ``bad_token`` (404: nothing about why)."""
    bad = JingyunError("bad_token", "this link is not valid (it may have been copied incompletely)", "token", status=404)
    try:
        body, mac = token.split(".", 1)
        expect = hmac.new(_key(settings), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expect, _unb64(mac)):
            raise bad
        data = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("k") != kind:
        raise bad
    return data


def url(settings: Settings, path: str) -> str:
    return settings.messages_public_url.rstrip("/") + path


def unsubscribe_url(settings: Settings, *, subject: str, channel: str, locale: str, delivery_id: int) -> str:
    token = sign(settings, "unsub", {"s": subject, "c": channel, "l": locale, "d": delivery_id})
    return url(settings, f"/console/unsubscribe/{token}")


def open_url(settings: Settings, delivery_id: int) -> str:
    return url(settings, f"/api/v1/messages/t/open/{sign(settings, 'open', {'d': delivery_id})}.gif")


def click_url(settings: Settings, delivery_id: int, target: str) -> str:
    return url(settings, f"/api/v1/messages/t/click/{sign(settings, 'click', {'d': delivery_id, 'u': target})}")
