"""Service settings: secrets, token audience, limits, working hours.

They extend :class:`jingyun.config.Settings` from the environment only, so no
secret ever sits in ``jingyun.toml``. Without ``JINGYUN_SECRET_KEY`` a random
key is created once in ``$JINGYUN_HOME/secret.key`` (mode 0600) — fine for one
machine; set the variable in production so every process shares it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field

from jingyun.config import Settings
from jingyun.errors import JingyunError

SERVICE_SETTINGS_HELP: dict[str, str] = {
    "JINGYUN_DB_URL": "Metadata database URL (default sqlite:///$JINGYUN_HOME/meta.sqlite; e.g. postgresql://user@host/db).",
    "JINGYUN_SECRET_KEY": "Master secret: field encryption, token signing, masking salt (default: generated into $JINGYUN_HOME/secret.key).",
    "JINGYUN_OLD_SECRET_KEYS": "Comma-separated previous secrets, still accepted for decryption until `jingyun admin rotate-key` has run.",
    "JINGYUN_MASK_SALT": "Salt of the SHA-256 pseudonyms of phone/email/ID (default derived from the secret; keep it stable so joins keep working).",
    "JINGYUN_TOKEN_AUDIENCE": "The `aud` claim bearer tokens must carry (default jingyun-api).",
    "JINGYUN_INGEST_RATE": "Ingestion requests per second per credential (default 200; burst 2x).",
    "JINGYUN_LOGIN_RATE": "Login attempts per minute per client address (default 20).",
    "JINGYUN_EXPORT_ALERT_ROWS": "An export of more rows than this raises a bulk_export alert (default 10000).",
    "JINGYUN_WORK_HOURS": "Working hours in the workspace time zone, e.g. 8-20 (default); reads of personal data outside them raise off_hours alerts.",
}


@dataclass(frozen=True)
class ServiceSettings:
    secret: bytes
    old_secrets: tuple[bytes, ...] = ()
    mask_salt: bytes = b""
    token_audience: str = "jingyun-api"
    ingest_rate: float = 200.0
    login_rate_per_minute: float = 20.0
    export_alert_rows: int = 10_000
    work_hours: tuple[int, int] = (8, 20)
    session_hours: float = 12.0
    lockout_failures: int = 5
    lockout_minutes: float = 15.0
    cookie_secure: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def derive(self, purpose: str, secret: bytes | None = None) -> bytes:
        """A 32-byte sub-key per purpose, so one leaked use does not expose the others."""
        return hmac.new(secret or self.secret, purpose.encode(), hashlib.sha256).digest()


def _secret_from_file(settings: Settings) -> bytes:
    path = settings.home / "secret.key"
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    return path.read_text().strip().encode()


def load_service_settings(settings: Settings) -> ServiceSettings:
    env = os.environ
    secret = env.get("JINGYUN_SECRET_KEY", "").encode() or _secret_from_file(settings)
    if len(secret) < 16:
        raise JingyunError("bad_setting", "JINGYUN_SECRET_KEY must be at least 16 characters", "JINGYUN_SECRET_KEY")
    old = tuple(s.strip().encode() for s in env.get("JINGYUN_OLD_SECRET_KEYS", "").split(",") if s.strip())
    salt = env.get("JINGYUN_MASK_SALT", "").encode() or hmac.new(secret, b"mask-salt", hashlib.sha256).digest()
    try:
        start, end = (int(x) for x in env.get("JINGYUN_WORK_HOURS", "8-20").split("-"))
        ingest_rate = float(env.get("JINGYUN_INGEST_RATE", "200"))
        login_rate = float(env.get("JINGYUN_LOGIN_RATE", "20"))
        export_rows = int(env.get("JINGYUN_EXPORT_ALERT_ROWS", "10000"))
    except ValueError:
        raise JingyunError("bad_setting", "a JINGYUN_* service setting is not a number", "environment") from None
    return ServiceSettings(
        secret=secret, old_secrets=old, mask_salt=salt,
        token_audience=env.get("JINGYUN_TOKEN_AUDIENCE", "jingyun-api"),
        ingest_rate=ingest_rate, login_rate_per_minute=login_rate, export_alert_rows=export_rows,
        work_hours=(start, end),
    )
