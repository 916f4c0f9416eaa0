"""Field encryption at rest (AES-256-GCM) with key rotation.

A value is stored as ``v1:<key id>:<base64(nonce | ciphertext+tag)>``; the key
id (8 hex of the key's hash) says which key decrypts it, so after a rotation
old values still decrypt with ``JINGYUN_OLD_SECRET_KEYS`` until
:func:`rotate_store` has re-encrypted them with the current key. The column
name is bound as associated data, so a ciphertext copied into another column
does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from jingyun.errors import JingyunError
from jingyun.security.config import ServiceSettings


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class FieldCipher:
    def __init__(self, service: ServiceSettings | None = None, *, key: bytes | None = None):
        """Keys derived from the service secrets (current first), or one given ``key`` (a data key)."""
        if key is not None:
            self.current_id = _key_id(key)
            self.keys = {self.current_id: key}
            return
        assert service is not None
        current = service.derive("field-encryption")
        self.current_id = _key_id(current)
        self.keys = {self.current_id: current}
        for old in service.old_secrets:
            key = service.derive("field-encryption", old)
            self.keys.setdefault(_key_id(key), key)

    def encrypt(self, value: str | None, column: str) -> str | None:
        if value is None:
            return None
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.current_id]).encrypt(nonce, value.encode(), column.encode())
        return f"v1:{self.current_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str | None, column: str) -> str | None:
        if token is None:
            return None
        try:
            version, kid, payload = token.split(":", 2)
            raw = base64.b64decode(payload)
        except ValueError:
            raise JingyunError("bad_ciphertext", f"{column} is not an encrypted value", column) from None
        key = self.keys.get(kid)
        if version != "v1" or key is None:
            raise JingyunError("unknown_key", f"{column} was encrypted with key {kid}, which is not configured; "
                               "add the old secret to JINGYUN_OLD_SECRET_KEYS", column)
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], column.encode()).decode()
        except InvalidTag:
            raise JingyunError("bad_ciphertext", f"{column} failed authentication (tampered or wrong key)", column) from None

    def encrypt_many(self, values: Sequence[str | None], column: str, context: Sequence[str]) -> list[str | None]:
        """Encrypt a batch (one Arrow column): one AESGCM object and one ``urandom`` call for the batch.
        Each value's associated data is ``column`` and its row's ``context`` (the user id), so a
        ciphertext moved to another column or another row does not decrypt."""
        aead = AESGCM(self.keys[self.current_id])
        nonces = os.urandom(12 * len(values))
        prefix = f"v1:{self.current_id}:"
        col = column.encode() + b"\x1f"
        b64 = base64.b64encode
        out: list[str | None] = []
        for i, (value, ctx) in enumerate(zip(values, context, strict=True)):
            if value is None:
                out.append(None)
                continue
            nonce = nonces[12 * i: 12 * i + 12]
            out.append(prefix + b64(nonce + aead.encrypt(nonce, value.encode(), col + ctx.encode())).decode())
        return out

    def decrypt_many(self, tokens: Sequence[str | None], column: str, context: Sequence[str]) -> list[str | None]:
        """The inverse of :meth:`encrypt_many`; a wrong key or a tampered value is a ``JingyunError`` naming ``column``."""
        aeads = {kid: AESGCM(key) for kid, key in self.keys.items()}
        col = column.encode() + b"\x1f"
        out: list[str | None] = []
        for token, ctx in zip(tokens, context, strict=True):
            if token is None:
                out.append(None)
                continue
            try:
                version, kid, payload = token.split(":", 2)
                raw = base64.b64decode(payload)
            except ValueError:
                raise JingyunError("bad_ciphertext", f"{column} is not an encrypted value", column) from None
            aead = aeads.get(kid)
            if version != "v1" or aead is None:
                raise JingyunError("unknown_key", f"{column} was encrypted with data key {kid}, which is not this "
                                   "workspace's personal-data key", column)
            try:
                out.append(aead.decrypt(raw[:12], raw[12:], col + ctx.encode()).decode())
            except InvalidTag:
                raise JingyunError("bad_ciphertext", f"{column} failed authentication (tampered or wrong key)",
                                   column) from None
        return out

    def needs_rotation(self, token: str | None) -> bool:
        return token is not None and token.split(":", 2)[1] != self.current_id


ENCRYPTED_COLUMNS = ("email_enc", "phone_enc")


def rotate_store(store: object, service: ServiceSettings) -> int:
    """Re-encrypt every encrypted field with the current key; returns the number of values rewritten."""
    from jingyun.store import Person, Store

    assert isinstance(store, Store)
    cipher = FieldCipher(service)
    changed = 0
    with store.session() as ses:
        for person in ses.scalars(select(Person)):
            for col in ENCRYPTED_COLUMNS:
                token = getattr(person, col)
                if cipher.needs_rotation(token):
                    setattr(person, col, cipher.encrypt(cipher.decrypt(token, col), col))
                    changed += 1
    return changed
