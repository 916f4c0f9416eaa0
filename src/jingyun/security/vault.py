"""The workspace's personal-data key: envelope encryption over the master secret.

A random 32-byte data key (DEK) encrypts the personal columns of the warehouse
(:mod:`jingyun.warehouse.personal`). It is stored only wrapped — AES-256-GCM
under a key-encryption key derived from the master secret
(``ServiceSettings.derive("personal-kek")``) — in ``$JINGYUN_HOME/personal.key``,
mode 0600, beside ``secret.key``, and never in the metadata store.

Rotating the master secret therefore re-wraps 32 bytes (:func:`rewrap`, run by
``jingyun admin rotate-key``) instead of re-encrypting every stored value: the
old secret, in ``JINGYUN_OLD_SECRET_KEYS``, unwraps it one last time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jingyun.errors import JingyunError
from jingyun.security.config import ServiceSettings

KEY_FILE = "personal.key"
_PURPOSE = "personal-kek"
_AAD = b"jingyun personal-data key v1"


def _kid(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def key_path(home: Path) -> Path:
    return home / KEY_FILE


def _keks(service: ServiceSettings) -> dict[str, bytes]:
    """Key-encryption keys by id: the current secret's first, then the old ones'."""
    keys: dict[str, bytes] = {}
    for secret in (service.secret, *service.old_secrets):
        kek = service.derive(_PURPOSE, secret)
        keys.setdefault(_kid(kek), kek)
    return keys


def _write(path: Path, dek: bytes, service: ServiceSettings) -> None:
    kek = service.derive(_PURPOSE)
    nonce = os.urandom(12)
    body = {"version": 1, "kek": _kid(kek), "dek_id": _kid(dek),
            "wrapped": base64.b64encode(nonce + AESGCM(kek).encrypt(nonce, dek, _AAD)).decode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)  # atomic: a crash leaves the old wrapping or the new one, never half a file


def _unwrap(path: Path, service: ServiceSettings) -> tuple[bytes, str]:
    """(data key, id of the key-encryption key that wrapped it)."""
    try:
        body = json.loads(path.read_text())
        kek_id, raw = str(body["kek"]), base64.b64decode(body["wrapped"])
    except (OSError, ValueError, KeyError, TypeError):
        raise JingyunError("bad_key_file", f"$JINGYUN_HOME/{KEY_FILE} is not a personal-data key file; restore it "
                           "from a backup", "JINGYUN_SECRET_KEY") from None
    kek = _keks(service).get(kek_id)
    if kek is None:
        raise JingyunError("unknown_key", f"the personal-data key ($JINGYUN_HOME/{KEY_FILE}) was wrapped with a "
                           "secret that is not configured: set JINGYUN_SECRET_KEY to that secret, or add it to "
                           "JINGYUN_OLD_SECRET_KEYS and run `jingyun admin rotate-key`", "JINGYUN_SECRET_KEY")
    try:
        return AESGCM(kek).decrypt(raw[:12], raw[12:], _AAD), kek_id
    except InvalidTag:
        raise JingyunError("bad_ciphertext", f"$JINGYUN_HOME/{KEY_FILE} failed authentication (tampered with); "
                           "restore it from a backup", "JINGYUN_SECRET_KEY") from None


def data_key(home: Path, service: ServiceSettings, *, create: bool) -> bytes | None:
    """The workspace's data key; created (random) when ``create`` and there is none yet, else None."""
    path = key_path(home)
    if path.exists():
        return _unwrap(path, service)[0]
    if not create:
        return None
    dek = secrets.token_bytes(32)
    _write(path, dek, service)
    return dek


def rewrap(home: Path, service: ServiceSettings) -> bool:
    """Wrap the data key under the current secret; True when it was wrapped under an old one."""
    path = key_path(home)
    if not path.exists():
        return False
    dek, kek_id = _unwrap(path, service)
    if kek_id == _kid(service.derive(_PURPOSE)):
        return False
    _write(path, dek, service)
    return True
