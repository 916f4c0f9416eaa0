"""Shared output helpers: exact JSON with --json, Rich tables otherwise."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if hasattr(value, "model_dump"):
        return value.model_dump()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, indent=2)


def print_json(value: Any) -> None:
    print(to_json(value))


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False)
    for header in headers:
        table.add_column(str(header))
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
