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
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from jingyun.errors import JingyunError

if TYPE_CHECKING:
    from jingyun.config import Settings

_SECRETS = ("db_url", "secret_key", "old_secret_keys", "mask_salt")


class ServiceConfig(BaseSettings):
    """The service section of the settings: ``JINGYUN_<FIELD>`` from the environment only.

    Each description is the help text; :data:`SERVICE_SETTINGS_HELP` is generated from them.
    """

    # an empty variable counts as unset, as it always has (JINGYUN_SECRET_KEY= falls back to the file)
    model_config = SettingsConfigDict(env_prefix="JINGYUN_", frozen=True, extra="ignore", env_ignore_empty=True)

    db_url: SecretStr | None = Field(default=None, description="Metadata database URL (default sqlite:///$JINGYUN_HOME/meta.sqlite; e.g. postgresql://user@host/db).")
    secret_key: SecretStr | None = Field(default=None, description="Master secret: field encryption, token signing, masking salt (default: generated into $JINGYUN_HOME/secret.key).")
    old_secret_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(default=(), description="Comma-separated previous secrets, still accepted for decryption until `jingyun admin rotate-key` has run.")
    mask_salt: SecretStr | None = Field(default=None, description="Salt of the SHA-256 pseudonyms of phone/email/ID (default derived from the secret; keep it stable so joins keep working).")
    token_audience: str = Field(default="jingyun-api", description="The `aud` claim bearer tokens must carry (default jingyun-api).")
    ingest_rate: float = Field(default=200.0, description="Ingestion requests per second per credential (default 200; burst 2x).")
    login_rate: float = Field(default=20.0, description="Login attempts per minute per client address, a flood guard in front of the throttle (default 20).")
    login_free_failures: int = Field(default=5, gt=0, description="Failed sign-ins from one client address before each next attempt from it must wait (default 5).")
    login_account_failures: int = Field(default=10, gt=0, description="Failed sign-ins on one username, from any address, before attempts on it from unfamiliar addresses must wait (default 10).")
    login_delay: float = Field(default=1.0, gt=0, description="Seconds of the first wait; each further failure doubles it (default 1).")
    login_max_delay: float = Field(default=900.0, gt=0, description="Longest wait per client address, in seconds (default 900).")
    login_account_max_delay: float = Field(default=60.0, gt=0, description="Longest wait per username, in seconds (default 60): an outsider can slow an account, never lock it.")
    session_hours: float = Field(default=12.0, gt=0, description="Lifetime of a sign-in: the console cookie and the refresh token (default 12); access tokens live 1 hour at most.")
    cookie_secure: bool = Field(default=False, description="true: always mark the session cookie Secure (default false: Secure only when the request came over HTTPS).")
    trust_proxy: bool = Field(default=False, description="true: believe X-Forwarded-Proto from a reverse proxy that terminates TLS (default false; enable only behind such a proxy).")
    min_count: int = Field(default=10, gt=0, description="Small-count threshold: audience estimates and segment sizes below it read \"<N\" for roles without raw access (default 10).")
    export_alert_rows: int = Field(default=10_000, description="An export of more rows than this raises a bulk_export alert (default 10000).")
    encrypt_personal: bool = Field(default=True, description="Encrypt users' personal columns (name, phone, email, birth date, address, personal attributes) at rest under a per-workspace data key wrapped by the secret (default 1; 0 stores them in clear).")
    password_hash_memory_kib: int = Field(default=65_536, ge=1_024, description="Argon2id memory per password hash in KiB (default 65536 = 64 MiB, with time cost 3: RFC 9106's second recommended profile). Each hash records its own cost, so a change applies to new passwords and old ones still verify; lower it only for test suites.")
    password_hash_time_cost: int = Field(default=3, ge=1, description="Argon2id passes per password hash (default 3).")
    work_hours: Annotated[tuple[int, int], NoDecode] = Field(default=(8, 20), description="Working hours in the workspace time zone, e.g. 8-20 (default); reads of personal data outside them raise off_hours alerts.")

    @field_validator("old_secret_keys", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value

    @field_validator("work_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = value.split("-")
            if len(parts) != 2:
                raise ValueError("write working hours as start-end, e.g. 8-20")
            return tuple(p.strip() for p in parts)
        return value


#: environment variable → help, generated from the field descriptions (docs/api.md lists each).
SERVICE_SETTINGS_HELP: dict[str, str] = {
    f"JINGYUN_{name.upper()}": info.description or "" for name, info in ServiceConfig.model_fields.items()
}


def refusal(exc: ValidationError, origin: dict[str, str] | None = None, model: type[BaseModel] | None = None) -> JingyunError:
    """One line naming the setting at fault (the env var or the toml key it came from)."""
    error = exc.errors(include_url=False)[0]
    name = str(error["loc"][0]) if error["loc"] else "settings"
    where = (origin or {}).get(name, name)
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    hidden = name in _SECRETS or not isinstance(value, str | int | float) or repr(value) in message
    shown = "" if hidden else f", got {str(value)[:40]!r}"
    return JingyunError("bad_setting", f"{where}: {message}{shown}", where)


def read_service_config() -> ServiceConfig:
    """The service section from the current environment; a bad value is refused naming its variable."""
    try:
        return ServiceConfig()
    except ValidationError as exc:
        raise refusal(exc, {name: f"JINGYUN_{name.upper()}" for name in ServiceConfig.model_fields}) from None


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


def _secret_from_file(settings: Settings) -> bytes:
    path = settings.home / "secret.key"
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    return path.read_text().strip().encode()


def load_service_settings(settings: Settings) -> ServiceSettings:
    """The service's runtime settings: the environment read now, the secret resolved (file if unset)."""
    cfg = read_service_config()
    secret = cfg.secret_key.get_secret_value().encode() if cfg.secret_key else _secret_from_file(settings)
    if len(secret) < 16:
        raise JingyunError("bad_setting", "JINGYUN_SECRET_KEY must be at least 16 characters", "JINGYUN_SECRET_KEY")
    salt = cfg.mask_salt.get_secret_value().encode() if cfg.mask_salt else hmac.new(secret, b"mask-salt", hashlib.sha256).digest()
    return ServiceSettings(
        secret=secret, old_secrets=tuple(s.get_secret_value().encode() for s in cfg.old_secret_keys), mask_salt=salt,
        token_audience=cfg.token_audience, ingest_rate=cfg.ingest_rate, login_rate_per_minute=cfg.login_rate,
        export_alert_rows=cfg.export_alert_rows, min_count=cfg.min_count, work_hours=cfg.work_hours,
        session_hours=cfg.session_hours, login_free_failures=cfg.login_free_failures,
        login_account_failures=cfg.login_account_failures, login_delay=cfg.login_delay,
        login_max_delay=cfg.login_max_delay, login_account_max_delay=cfg.login_account_max_delay,
        cookie_secure=cfg.cookie_secure, trust_proxy=cfg.trust_proxy, encrypt_personal=cfg.encrypt_personal,
    )
