"""Webhook endpoints and provider adapters (SMS, app push, WeChat): URL, secret, payload shape.

The secret signs every request (see :func:`jingyun.messaging.channels.signature`); it is kept
encrypted at rest and shown once, when the endpoint is added. A webhook message names its
endpoint in ``to``; an SMS/push/WeChat message goes through the endpoint named after its
channel (``sms``, ``push``, ``wechat``) unless ``meta["endpoint"]`` names another.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy import select

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store.db import Store
from jingyun.store.messages import MessageEndpoint

from .channels import DEFAULT_PAYLOADS, Outgoing, render_payload

KINDS = ("webhook", "sms", "push", "wechat")


@dataclass(frozen=True)
class Endpoint:
    id: int
    name: str
    kind: str
    url: str
    payload: str
    idempotent: bool
    active: bool


def _cipher(settings: Settings):  # type: ignore[no-untyped-def]
    from jingyun.security.config import load_service_settings
    from jingyun.security.crypto import FieldCipher

    return FieldCipher(load_service_settings(settings))


def _view(row: MessageEndpoint) -> Endpoint:
    return Endpoint(row.id, row.name, row.kind, row.url, row.payload, row.idempotent, row.active)


def add(store: Store, settings: Settings, *, name: str, kind: str, url: str, payload: str | None = None,
        idempotent: bool = True, secret: str | None = None, actor: str = "") -> tuple[Endpoint, str]:
    """Add (or replace) an endpoint; returns it and its signing secret (shown this once)."""
    if not name or len(name) > 100 or not name.replace("-", "").replace("_", "").isalnum():
        raise JingyunError("bad_name", "an endpoint name is 1-100 letters, digits, - or _", "name")
    if kind not in KINDS:
        raise JingyunError("bad_kind", f"kind must be one of {', '.join(KINDS)}", "kind")
    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise JingyunError("bad_url", "the endpoint URL must be http(s)://host/...", "url")
    shape = DEFAULT_PAYLOADS[kind] if payload is None else payload
    try:
        render_payload(shape, Outgoing(0, "k", kind, "to", "s", "t", None, None, "zh-CN", {}, {}))
    except Exception as exc:
        raise JingyunError("bad_payload", f"the payload shape does not render to JSON: {exc}", "payload") from None
    secret = secret or "whsec_" + secrets.token_urlsafe(24)
    enc = _cipher(settings).encrypt(secret, "message_endpoints.secret_enc")
    with store.session() as ses:
        row = ses.scalar(select(MessageEndpoint).where(MessageEndpoint.name == name))
        if row is None:
            row = MessageEndpoint(name=name)
            ses.add(row)
        replaced = row.id is not None
        row.kind, row.url, row.secret_enc, row.payload, row.idempotent, row.active = kind, url, enc or "", shape, idempotent, True
        ses.flush()
        from jingyun.security.audit import record as audit_record

        # the host only: a URL's path or query may carry a provider token
        audit_record(store, actor=actor or "system", action="endpoint_change", target=f"endpoint:{name}", session=ses,
                     detail={"op": "replace" if replaced else "add", "kind": kind, "host": parts.netloc.rsplit("@", 1)[-1],
                             "idempotent": idempotent})
        return _view(row), secret


def listing(store: Store) -> list[Endpoint]:
    with store.session() as ses:
        return [_view(r) for r in ses.scalars(select(MessageEndpoint).order_by(MessageEndpoint.name))]


def resolve(store: Store, settings: Settings, name: str) -> tuple[Endpoint, str] | None:
    """The active endpoint of this name with its secret, or None."""
    with store.session() as ses:
        row = ses.scalar(select(MessageEndpoint).where(MessageEndpoint.name == name, MessageEndpoint.active))
        if row is None:
            return None
        return _view(row), _cipher(settings).decrypt(row.secret_enc, "message_endpoints.secret_enc") or ""
