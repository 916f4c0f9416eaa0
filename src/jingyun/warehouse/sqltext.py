"""SQL text helpers shared by every capability that writes portable SQL."""

from __future__ import annotations

from typing import Any


def quote(value: Any) -> str:
    """A SQL literal: strings single-quoted with quotes doubled, numbers as written, booleans as TRUE/FALSE."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
