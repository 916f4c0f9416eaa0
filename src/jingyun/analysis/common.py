"""What the analyses share: steps, dimensions, parsing of durations and dates.

Identifiers are checked against a pattern here and literals are written by
:mod:`jingyun.warehouse.sqltext`; step filters are the one
:class:`jingyun.warehouse.filters.Filter`. Parameter objects are turned into SQL
text safely (the portable layer has no bind parameters on Spark).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jingyun.errors import JingyunError
from jingyun.schema.tables import USERS
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.filters import Filter, check_value, parse_op
from jingyun.warehouse.sqltext import quote

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EVENT = re.compile(r"^[^'\\\x00-\x1f]{1,128}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$")
_UNIT_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float, field: str = "window") -> int:
    """Seconds in ``"24h"``, ``"30m"``, ``"7d"``, ``"90s"`` or a bare number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise JingyunError("bad_duration", f"cannot read duration {text!r}; write e.g. 30m, 24h or 7d", field)
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0 or seconds != int(seconds):
        raise JingyunError("bad_duration", f"{field} must be a positive whole number of seconds, got {text!r}", field)
    return int(seconds)


def parse_date(value: str | dt.date | None, field: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise JingyunError("bad_date", f"cannot read date {value!r}; write YYYY-MM-DD", field) from None


def check_range(date_from: dt.date | None, date_to: dt.date | None) -> None:
    if date_from and date_to and date_from > date_to:
        raise JingyunError("bad_range", f"from ({date_from}) is after to ({date_to})", "from")


def check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (KeyError, ValueError):
        raise JingyunError("bad_timezone", f"unknown time zone {timezone!r}", "timezone") from None


def check_event(name: str, field: str) -> str:
    if not isinstance(name, str) or not _EVENT.match(name) or name != name.strip():
        raise JingyunError("bad_event", f"event name {name!r} is empty or has quotes/control characters", field)
    return name


@dataclass(frozen=True)
class Step:
    """An event name with optional property filters (all must hold)."""

    event: str
    filters: tuple[Filter, ...] = ()

    def validate(self, field: str) -> None:
        check_event(self.event, f"{field}.event")
        for i, flt in enumerate(self.filters):
            path = f"{field}.filters[{i}]"
            if not _KEY.match(flt.field):
                raise JingyunError("bad_filter", f"property key {flt.field!r} must be letters, digits or _", f"{path}.key")
            check_value(parse_op(flt.op, f"{path}.op", "bad_filter"), flt.value, path, "bad_filter")

    def filter_sql(self, properties: str = "properties") -> list[str]:
        # JSON values are compared as text (numbers as DOUBLE), the same on both engines.
        return [f.json_sql(f"json_extract_string({properties}, '$.{f.field}')") for f in self.filters]

    def sql(self, column: str = "event", properties: str = "properties") -> str:
        parts = [f"{column} = {quote(self.event)}", *self.filter_sql(properties)]
        return "(" + " AND ".join(parts) + ")"


def as_step(value: Step | str) -> Step:
    return value if isinstance(value, Step) else Step(str(value))


_EVENT_COLUMNS = ("platform",)
_USER_COLUMNS = tuple(c.name for c in USERS.columns if c.classification != "sensitive" and c.kind in ("text", "enum", "bool"))


@dataclass(frozen=True)
class Dimension:
    """A breakdown: ``platform``, ``users.<column>`` or ``properties.<key>`` (of the event)."""

    kind: Literal["event", "user", "property"]
    name: str

    @classmethod
    def parse(cls, text: str, field: str = "by") -> Dimension:
        text = text.strip()
        if text in _EVENT_COLUMNS:
            return cls("event", text)
        head, _, rest = text.partition(".")
        if head == "users" and rest in _USER_COLUMNS:
            return cls("user", rest)
        if head in ("properties", "prop") and _KEY.match(rest):
            return cls("property", rest)
        raise JingyunError(
            "bad_dimension",
            f"cannot break down by {text!r}; use platform, users.<{'|'.join(_USER_COLUMNS)}> or properties.<key>",
            field,
        )

    @property
    def label(self) -> str:
        return {"event": self.name, "user": f"users.{self.name}", "property": f"properties.{self.name}"}[self.kind]

    def event_sql(self) -> str:
        """The value on an events row (user dimensions are joined separately)."""
        if self.kind == "event":
            return f"CAST({self.name} AS VARCHAR)"
        if self.kind == "property":
            return f"json_extract_string(properties, '$.{self.name}')"
        return "CAST(NULL AS VARCHAR)"

    def user_cte(self) -> str:
        # A person can own several users rows after identity merges: take the smallest value, deterministically.
        return f"SELECT person_id, min(CAST({self.name} AS VARCHAR)) AS bvalue FROM users GROUP BY person_id"


def rows(backend: Backend, sql: str) -> list[dict[str, Any]]:
    """Run a query (small, aggregated result) and return its rows as dicts."""
    result: list[dict[str, Any]] = backend.run(sql).to_pylist()
    return result


def ratio(num: float, den: float) -> float:
    return round(num / den, 6) if den else 0.0
