"""Shared output helpers: exact JSON with --json, Rich tables otherwise.

Times are shown where people read them: a datetime (stored naive UTC) prints in the workspace time zone with
its offset, in JSON as ``2026-10-01T09:00:00+08:00`` and in tables as ``2026-10-01 09:00:00+08:00``
(:mod:`jingyun.localtime`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from jingyun.localtime import local_iso, local_text

console = Console()


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dt.datetime):
        return local_iso(value, workspace_zone())
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if hasattr(value, "model_dump"):
        return value.model_dump()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def workspace_zone() -> str:
    """The workspace time zone of this command (its ``JINGYUN_*`` environment, also inside the service)."""
    from jingyun.config import load_settings

    return load_settings().timezone


def _cell(value: Any, tz: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return local_text(value, tz)
    return str(value)


def to_json(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, indent=2)


def print_json(value: Any) -> None:
    print(to_json(value))


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False)
    for header in headers:
        table.add_column(str(header))
    tz = workspace_zone() if any(isinstance(v, dt.datetime) for row in rows for v in row) else ""
    for row in rows:
        table.add_row(*(_cell(v, tz) for v in row))
    console.print(table)
