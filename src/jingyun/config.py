"""Settings, from the environment and ``$JINGYUN_HOME/jingyun.toml``.

Every setting lives in :data:`SETTINGS_HELP` with its help text; the docs test
fails when one is undocumented. Precedence: environment > jingyun.toml > default.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jingyun.errors import JingyunError

SETTINGS_HELP: dict[str, str] = {
    "home": "Workspace folder (env JINGYUN_HOME, default ~/.jingyun); holds the warehouse, config and demo data.",
    "timezone": "Workspace time zone (env JINGYUN_TIMEZONE, default Asia/Shanghai): naive timestamps are read in it, calendar days are counted in it. Storage is UTC.",
    "engine": "Analytic engine (env JINGYUN_ENGINE): duckdb (default, the file warehouse.duckdb in home) or spark (local Spark over the Parquet lake).",
    "max_future_hours": "Records timestamped more than this many hours in the future are quarantined (default 24).",
    "min_timestamp": "Records timestamped before this date are quarantined as absurd (default 1971-01-01; older history such as 1997 orders is valid).",
    "tracking_mode": "What happens to events that break the tracking plan: flag (store with tracking_issue set, default), quarantine, or off.",
    "test_user_prefixes": "user_id prefixes that mark test accounts (default ['test_', 'qa_']).",
    "test_email_domains": "Email domains that mark test accounts (default ['test.jingyun.dev', 'example.com']).",
    "test_phones": "Phone numbers that mark test accounts (default []).",
    "fx_rates": "Currency → CNY rates used when a source has a currency column (default CNY 1, USD 7.1, EUR 7.7, HKD 0.91).",
    "memory_limit": "DuckDB memory limit (default 1GB) so ingestion stays bounded whatever the file size.",
    "chunk_rows": "Rows per ingestion chunk (default 1,000,000); each chunk commits atomically.",
    "max_field_bytes": "Largest accepted value of a single field in bytes (default 1,048,576); larger values are quarantined.",
}

_DEFAULT_HOME = Path.home() / ".jingyun"


@dataclass(frozen=True)
class Settings:
    home: Path = _DEFAULT_HOME
    timezone: str = "Asia/Shanghai"
    engine: str = "duckdb"
    max_future_hours: float = 24.0
    min_timestamp: str = "1971-01-01"
    tracking_mode: str = "flag"
    test_user_prefixes: tuple[str, ...] = ("test_", "qa_")
    test_email_domains: tuple[str, ...] = ("test.jingyun.dev", "example.com")
    test_phones: tuple[str, ...] = ()
    fx_rates: dict[str, float] = field(
        default_factory=lambda: {"CNY": 1.0, "RMB": 1.0, "USD": 7.1, "EUR": 7.7, "HKD": 0.91}
    )
    memory_limit: str = "1GB"
    chunk_rows: int = 1_000_000
    max_field_bytes: int = 1_048_576

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def tracking_plan_path(self) -> Path:
        return self.home / "tracking_plan.yaml"

    @property
    def lake_path(self) -> Path:
        return self.home / "lake"

    def validate(self) -> Settings:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise JingyunError("bad_setting", f"unknown time zone {self.timezone!r}", "timezone") from None
        if self.tracking_mode not in ("flag", "quarantine", "off"):
            raise JingyunError(
                "bad_setting", "tracking_mode must be flag, quarantine or off", "tracking_mode"
            )
        if self.engine not in ("duckdb", "spark"):
            raise JingyunError("bad_setting", "engine must be duckdb or spark", "engine")
        if self.max_future_hours < 0:
            raise JingyunError("bad_setting", "max_future_hours must be >= 0", "max_future_hours")
        if self.chunk_rows < 1:
            raise JingyunError("bad_setting", "chunk_rows must be >= 1", "chunk_rows")
        return self


def _coerce(name: str, value: Any) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    kind = str(kinds[name])
    try:
        if name == "home":
            return Path(value).expanduser()
        if "float" in kind:
            return float(value)
        if "int" in kind:
            return int(value)
        if "tuple" in kind:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            return tuple(str(v) for v in value)
        if "dict" in kind:
            return {str(k).upper(): float(v) for k, v in dict(value).items()}
        return str(value)
    except (TypeError, ValueError):
        raise JingyunError("bad_setting", f"cannot read setting {name}={value!r}", name) from None


def load_settings(home: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings for a workspace: env > ``jingyun.toml`` in the home > defaults."""
    from jingyun.security.files import private_home

    home_path = Path(home or os.environ.get("JINGYUN_HOME") or _DEFAULT_HOME).expanduser()
    private_home(home_path)  # owner-only files under the home (0600/0700), whoever creates them
    values: dict[str, Any] = {"home": home_path}
    toml_file = home_path / "jingyun.toml"
    if toml_file.exists():
        try:
            data = tomllib.loads(toml_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise JingyunError("bad_config", f"{toml_file}: {exc}", "jingyun.toml") from None
        for key, value in data.items():
            if key not in SETTINGS_HELP or key == "home":
                raise JingyunError("bad_config", f"unknown setting {key!r} in {toml_file}", key)
            values[key] = _coerce(key, value)
    for name in SETTINGS_HELP:
        env = os.environ.get(f"JINGYUN_{name.upper()}")
        if env is not None and name != "home":
            values[name] = _coerce(name, env)
    for key, value in overrides.items():
        values[key] = _coerce(key, value)
    return replace(Settings(), **values).validate()
