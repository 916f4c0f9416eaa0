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
from collections.abc import Mapping
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
    "JINGYUN_LOGIN_RATE": "Login attempts per minute per client address, a flood guard in front of the throttle (default 20).",
    "JINGYUN_LOGIN_FREE_FAILURES": "Failed sign-ins from one client address before each next attempt from it must wait (default 5).",
    "JINGYUN_LOGIN_ACCOUNT_FAILURES": "Failed sign-ins on one username, from any address, before attempts on it from unfamiliar addresses must wait (default 10).",
    "JINGYUN_LOGIN_DELAY": "Seconds of the first wait; each further failure doubles it (default 1).",
    "JINGYUN_LOGIN_MAX_DELAY": "Longest wait per client address, in seconds (default 900).",
    "JINGYUN_LOGIN_ACCOUNT_MAX_DELAY": "Longest wait per username, in seconds (default 60): an outsider can slow an account, never lock it.",
    "JINGYUN_SESSION_HOURS": "Lifetime of a sign-in: the console cookie and the refresh token (default 12); access tokens live 1 hour at most.",
    "JINGYUN_COOKIE_SECURE": "true: always mark the session cookie Secure (default false: Secure only when the request came over HTTPS).",
    "JINGYUN_TRUST_PROXY": "true: believe X-Forwarded-Proto from a reverse proxy that terminates TLS (default false; enable only behind such a proxy).",
    "JINGYUN_MIN_COUNT": "Small-count threshold: audience estimates and segment sizes below it read \"<N\" for roles without raw access (default 10).",
    "JINGYUN_EXPORT_ALERT_ROWS": "An export of more rows than this raises a bulk_export alert (default 10000).",
    "JINGYUN_ENCRYPT_PERSONAL": "Encrypt users' personal columns (name, phone, email, birth date, address, personal attributes) at rest under a per-workspace data key wrapped by the secret (default 1; 0 stores them in clear).",
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
    min_count: int = 10
    work_hours: tuple[int, int] = (8, 20)
    session_hours: float = 12.0
    login_free_failures: int = 5
    login_account_failures: int = 10
    login_delay: float = 1.0
    login_max_delay: float = 900.0
    login_account_max_delay: float = 60.0
    cookie_secure: bool = False
    trust_proxy: bool = False
    encrypt_personal: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    def derive(self, purpose: str, secret: bytes | None = None) -> bytes:
        """A 32-byte sub-key per purpose, so one leaked use does not expose the others."""
        return hmac.new(secret or self.secret, purpose.encode(), hashlib.sha256).digest()


def over_tls(service: ServiceSettings, scheme: str, forwarded_proto: str | None) -> bool:
    """Whether a request reached us over HTTPS: its own scheme, or the proxy's word when we trust the proxy."""
    if scheme == "https":
        return True
    if service.trust_proxy and forwarded_proto:
        # a chain of proxies appends: the first value is what the client used
        return forwarded_proto.split(",")[0].strip().lower() == "https"
    return False


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise JingyunError("bad_setting", f"{name} must be true or false, got {value[:20]!r}", name)


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
        min_count = int(env.get("JINGYUN_MIN_COUNT", "10"))
        session_hours = float(env.get("JINGYUN_SESSION_HOURS", "12"))
        free_failures = int(env.get("JINGYUN_LOGIN_FREE_FAILURES", "5"))
        account_failures = int(env.get("JINGYUN_LOGIN_ACCOUNT_FAILURES", "10"))
        delay = float(env.get("JINGYUN_LOGIN_DELAY", "1"))
        max_delay = float(env.get("JINGYUN_LOGIN_MAX_DELAY", "900"))
        account_max_delay = float(env.get("JINGYUN_LOGIN_ACCOUNT_MAX_DELAY", "60"))
    except ValueError:
        raise JingyunError("bad_setting", "a JINGYUN_* service setting is not a number", "environment") from None
    positive = {"JINGYUN_MIN_COUNT": min_count, "JINGYUN_SESSION_HOURS": session_hours, "JINGYUN_LOGIN_FREE_FAILURES": free_failures,
                "JINGYUN_LOGIN_ACCOUNT_FAILURES": account_failures, "JINGYUN_LOGIN_DELAY": delay,
                "JINGYUN_LOGIN_MAX_DELAY": max_delay, "JINGYUN_LOGIN_ACCOUNT_MAX_DELAY": account_max_delay}
    for name, value in positive.items():
        if not value > 0:
            raise JingyunError("bad_setting", f"{name} must be greater than 0", name)
    encrypt = env.get("JINGYUN_ENCRYPT_PERSONAL", "1").strip().lower()
    if encrypt not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise JingyunError("bad_setting", "JINGYUN_ENCRYPT_PERSONAL must be 1 or 0", "JINGYUN_ENCRYPT_PERSONAL")
    return ServiceSettings(
        secret=secret, old_secrets=old, mask_salt=salt,
        token_audience=env.get("JINGYUN_TOKEN_AUDIENCE", "jingyun-api"),
        ingest_rate=ingest_rate, login_rate_per_minute=login_rate, export_alert_rows=export_rows, min_count=min_count,
        work_hours=(start, end), session_hours=session_hours,
        login_free_failures=free_failures, login_account_failures=account_failures, login_delay=delay,
        login_max_delay=max_delay, login_account_max_delay=account_max_delay,
        cookie_secure=_flag(env, "JINGYUN_COOKIE_SECURE"), trust_proxy=_flag(env, "JINGYUN_TRUST_PROXY"),
        encrypt_personal=encrypt in ("1", "true", "yes", "on"),
    )
