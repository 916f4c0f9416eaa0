"""Settings, from the environment and ``$JINGYUN_HOME/jingyun.toml``.

One pydantic-settings model: each field's ``description`` is its only help text
(:data:`SETTINGS_HELP` and the docs table are generated from it, and the docs
test fails when one is undocumented), and pydantic converts the types.
Precedence: explicit overrides > environment (``JINGYUN_<NAME>``) > jingyun.toml > default.

The service settings (:class:`jingyun.security.config.ServiceConfig`) are the
nested ``service`` section. They are read from the environment only, so no
secret ever sits in ``jingyun.toml``; a ``[service]`` table there is refused.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from jingyun.errors import JingyunError
from jingyun.security.config import ServiceConfig, read_service_config, refusal

#: The workspace time zone when none is set. Parameter objects default to it;
#: the edges pass ``settings.timezone``, so a workspace setting reaches every analysis.
DEFAULT_TIMEZONE = "Asia/Shanghai"

_DEFAULT_HOME = Path.home() / ".jingyun"


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JINGYUN_", frozen=True, extra="forbid")

    home: Path = Field(default=_DEFAULT_HOME, description="Workspace folder (env JINGYUN_HOME, default ~/.jingyun); holds the warehouse, config and demo data.")
    timezone: str = Field(default=DEFAULT_TIMEZONE, description="Workspace time zone (env JINGYUN_TIMEZONE, default Asia/Shanghai): naive timestamps are read in it, calendar days are counted in it. Storage is UTC.")
    engine: Literal["duckdb", "spark"] = Field(default="duckdb", description="Analytic engine (env JINGYUN_ENGINE): duckdb (default, the file warehouse.duckdb in home) or spark (local Spark over the Parquet lake).")
    max_future_hours: float = Field(default=24.0, ge=0, description="Records timestamped more than this many hours in the future are quarantined (default 24).")
    min_timestamp: str = Field(default="1971-01-01", description="Records timestamped before this date are quarantined as absurd (default 1971-01-01; older history such as 1997 orders is valid).")
    tracking_mode: Literal["flag", "quarantine", "off"] = Field(default="flag", description="What happens to events that break the tracking plan: flag (store with tracking_issue set, default), quarantine, or off.")
    test_user_prefixes: Annotated[tuple[str, ...], NoDecode] = Field(default=("test_", "qa_"), description="user_id prefixes that mark test accounts (default ['test_', 'qa_']; env: comma-separated).")
    test_email_domains: Annotated[tuple[str, ...], NoDecode] = Field(default=("test.jingyun.dev", "example.com"), description="Email domains that mark test accounts (default ['test.jingyun.dev', 'example.com']; env: comma-separated).")
    test_phones: Annotated[tuple[str, ...], NoDecode] = Field(default=(), description="Phone numbers that mark test accounts (default []; env: comma-separated).")
    consent_required: Annotated[tuple[str, ...], NoDecode] = Field(default=("marketing",), description="Purposes whose recorded consent (jingyun.messaging.consent, channel *) a person needs to enter an export or a training set for that purpose: segment exports need marketing, model training personalisation (default ['marketing']; add analytics, personalisation; env: comma-separated; see docs/privacy.md).")
    fx_rates: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=lambda: {"CNY": 1.0, "RMB": 1.0, "USD": 7.1, "EUR": 7.7, "HKD": 0.91},
        description="Currency → CNY rates used when a source has a currency column (default CNY 1, USD 7.1, EUR 7.7, HKD 0.91). "
                    "jingyun.toml: a [fx_rates] table; env: USD=7.2,EUR=7.8 or JSON. The given rates replace the defaults.")
    memory_limit: str = Field(default="1GB", description="DuckDB memory limit (default 1GB) so ingestion stays bounded whatever the file size.")
    chunk_rows: int = Field(default=1_000_000, ge=1, description="Rows per ingestion chunk (default 1,000,000); each chunk commits atomically.")
    max_field_bytes: int = Field(default=1_048_576, ge=1, description="Largest accepted value of a single field in bytes (default 1,048,576); larger values are quarantined.")
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server that sends email messages (default 127.0.0.1).")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port (default 25; 587 with smtp_starttls).")
    smtp_user: str = Field(default="", description="SMTP login user (default empty: no login).")
    smtp_password: str = Field(default="", description="SMTP login password (default empty; prefer the environment variable to jingyun.toml).")
    smtp_from: str = Field(default="jingyun@localhost", description="From address of email messages (default jingyun@localhost).")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS before login (default false).")
    messages_public_url: str = Field(default="http://127.0.0.1:8000", description="Public base URL of the service used in message links: unsubscribe, open pixel, click redirect (default http://127.0.0.1:8000).")
    messages_key_days: int = Field(default=90, ge=30, description="Days a delivery row (and its send key) is kept before `jingyun messages purge` may remove it (default 90, at least 30).")
    automation_cap_day: int = Field(default=2, ge=0, description="Marketing messages one person may get per local day across all journeys (default 2).")
    automation_cap_week: int = Field(default=5, ge=0, description="Marketing messages one person may get per local ISO week across all journeys (default 5).")
    automation_quiet_start: str = Field(default="22:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Start of quiet hours in the recipient's time zone, HH:MM (default 22:00); equal to the end turns them off.")
    automation_live: bool = Field(default=True, description="Run active journeys live inside the service (triggers on each ingest commit, timers, schedules); off: journeys only simulate.")
    console_warm: bool = Field(default=True, description="Inside the service, recompute the cockpit's and the funnel page's default views in one background thread after new data is ingested (at most every 30 s, after a file ingest's last chunk), so the first view after an ingest is not computed while you wait; off: computed on the first view.")
    automation_quiet_end: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="End of quiet hours in the recipient's time zone, HH:MM (default 08:00); a waiting message goes then.")
    calendar: str = Field(default="CN", pattern=r"^[A-Z]{2,3}$", description="Workspace holiday calendar (default CN: public holidays and 调休 make-up working days; any country code of the holidays package); company holidays and working days are added from calendar.yaml in the home.")
    service: ServiceConfig = Field(default_factory=lambda: ServiceConfig(), description="The service section (environment only): see the JINGYUN_* service settings.")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings gathers env and toml itself, so it knows which one a bad value came from;
        # constructing Settings(...) directly is therefore pure: what it is given, and defaults.
        return (init_settings,)

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        return Path(value).expanduser() if isinstance(value, str | Path) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("test_user_prefixes", "test_email_domains", "test_phones", "consent_required", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("fx_rates", mode="before")
    @classmethod
    def _rates(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                value = json.loads(text)
            else:
                pairs = [p.split("=", 1) for p in _comma_list(text)]
                if any(len(p) != 2 for p in pairs):
                    raise ValueError("write rates as CUR=rate,CUR=rate (e.g. USD=7.2,EUR=7.8) or as JSON")
                value = {k.strip(): v.strip() for k, v in pairs}
        if isinstance(value, dict):
            value = {str(k).strip().upper(): v for k, v in value.items()}
            if any(not isinstance(v, int | float | str) for v in value.values()):
                raise ValueError("each rate must be a number")
        return value

    @field_validator("fx_rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not v > 0]
        if bad:
            raise ValueError(f"rates must be greater than 0 ({', '.join(bad)})")
        return value

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def tracking_plan_path(self) -> Path:
        return self.home / "tracking_plan.yaml"

    @property
    def lake_path(self) -> Path:
        return self.home / "lake"


#: setting name → help, generated from the field descriptions (the docs test reads it).
SETTINGS_HELP: dict[str, str] = {
    name: info.description or "" for name, info in Settings.model_fields.items() if name != "service"
}


def env_name(name: str) -> str:
    return f"JINGYUN_{name.upper()}"


def settings_table() -> str:
    """The settings table of docs/guide.md, generated from the field descriptions."""
    rows = ["| setting | environment | meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | `{env_name(name)}` | {text} |" for name, text in SETTINGS_HELP.items()]
    return "\n".join(rows)


def _read_toml(toml_file: Path) -> dict[str, Any]:
    if not toml_file.exists():
        return {}
    try:
        data = tomllib.loads(toml_file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise JingyunError("bad_config", f"{toml_file}: {exc}", "jingyun.toml") from None
    for key in data:
        if key == "service":
            raise JingyunError("bad_config", f"service settings are read from the environment only, never from {toml_file} "
                               "(set the JINGYUN_* variables)", key)
        if key not in SETTINGS_HELP or key == "home":
            raise JingyunError("bad_config", f"unknown setting {key!r} in {toml_file}", key)
    return data


def load_settings(home: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings for a workspace: overrides > env > ``jingyun.toml`` in the home > defaults."""
    from jingyun.security.files import private_home

    home_path = Path(home or os.environ.get("JINGYUN_HOME") or _DEFAULT_HOME).expanduser()
    private_home(home_path)  # owner-only files under the home (0600/0700), whoever creates them
    values: dict[str, Any] = _read_toml(home_path / "jingyun.toml")
    origin = {key: key for key in values}  # where each value came from, so a refusal names it
    for name in SETTINGS_HELP:
        env = os.environ.get(env_name(name))
        if env is not None and name != "home":
            values[name], origin[name] = env, env_name(name)
    for key, value in overrides.items():
        values[key], origin[key] = value, key
    values["home"] = home_path
    values["service"] = read_service_config()
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise refusal(exc, origin) from None
