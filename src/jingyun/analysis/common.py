"""What the analyses share: property filters, steps, dimensions, time helpers.

All values that reach SQL pass through here: identifiers are checked against a
pattern and literals are quoted, so parameter objects can be turned into SQL
text safely (the portable layer has no bind parameters on Spark).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jingyun.errors import JingyunError
from jingyun.schema.tables import USERS
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import quote as quote  # re-exported: callers import it from here

FilterOp = Literal["eq", "neq", "in", "gt", "gte", "lt", "lte", "is_set", "is_not_set"]
_OPS: tuple[str, ...] = ("eq", "neq", "in", "gt", "gte", "lt", "lte", "is_set", "is_not_set")
_NUMERIC_SQL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EVENT = re.compile(r"^[^'\\\x00-\x1f]{1,128}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$")
_UNIT_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def ts_literal(value: dt.datetime) -> str:
    return f"TIMESTAMP '{value.strftime('%Y-%m-%d %H:%M:%S')}'"


def local_ts(column: str, timezone: str) -> str:
    """Local wall-clock time of a naive-UTC column, written so both engines agree."""
    return f"(({column} AT TIME ZONE 'UTC') AT TIME ZONE {quote(timezone)})"


def local_date(column: str, timezone: str) -> str:
    return f"CAST({local_ts(column, timezone)} AS DATE)"


# Fixed offsets are trusted up to here only: tzdata may still change any zone's rules later on.
_FAST_UNTIL = dt.datetime(2100, 1, 1)


@functools.lru_cache(maxsize=64)
def constant_offset(timezone: str) -> tuple[dt.datetime, int] | None:
    """(T, seconds): the zone's UTC offset is ``seconds`` at every instant from naive-UTC T up to 2100, or None.

    Found by walking back from 2100 one day at a time until the offset differs (rule changes are never
    undone within a day). Asia/Shanghai: +08:00 since 1991; zones with daylight saving get a T in 2099."""
    zone = ZoneInfo(timezone)
    end = _FAST_UNTIL.replace(tzinfo=dt.UTC)
    offset = end.astimezone(zone).utcoffset()
    if offset is None:
        return None
    t = end
    while t.year > 1900:
        prev = t - dt.timedelta(days=1)
        if prev.astimezone(zone).utcoffset() != offset:
            break
        t = prev
    return t.replace(tzinfo=None), int(offset.total_seconds())


def local_day(column: str, timezone: str) -> str:
    """Local calendar date of a naive-UTC column, as :func:`local_date`, but cheap where the zone has kept one
    offset: a shift instead of a time-zone conversion per row (about a sixth of a retention query's CPU)."""
    full = local_date(column, timezone)
    fixed = constant_offset(timezone)
    if fixed is None or fixed[0] >= _FAST_UNTIL - dt.timedelta(days=366):
        return full
    since, seconds = fixed
    return (f"CASE WHEN {column} >= {ts_literal(since)} AND {column} < {ts_literal(_FAST_UNTIL)} "
            f"THEN CAST({column} + INTERVAL '{seconds}' SECOND AS DATE) ELSE {full} END")


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


def utc_start(day: dt.date, timezone: str) -> dt.datetime:
    """The naive-UTC instant at which local ``day`` begins (bounds computed once, in Python)."""
    local = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def check_event(name: str, field: str) -> str:
    if not isinstance(name, str) or not _EVENT.match(name) or name != name.strip():
        raise JingyunError("bad_event", f"event name {name!r} is empty or has quotes/control characters", field)
    return name


@dataclass(frozen=True)
class PropertyFilter:
    """A condition on one key of the ``properties`` JSON (or a users ``attributes`` JSON)."""

    key: str
    op: FilterOp = "eq"
    value: Any = None

    def validate(self, field: str) -> None:
        if not _KEY.match(self.key):
            raise JingyunError("bad_filter", f"property key {self.key!r} must be letters, digits or _", f"{field}.key")
        if self.op not in _OPS:
            raise JingyunError("bad_filter", f"unknown operator {self.op!r}; use one of {', '.join(_OPS)}", f"{field}.op")
        if self.op in _NUMERIC_SQL and (isinstance(self.value, bool) or not isinstance(self.value, int | float)):
            raise JingyunError("bad_filter", f"operator {self.op} needs a number, got {self.value!r}", f"{field}.value")
        if self.op == "in" and (not isinstance(self.value, list | tuple) or not self.value):
            raise JingyunError("bad_filter", "operator in needs a non-empty list of values", f"{field}.value")
        if self.op in ("eq", "neq") and self.value is None:
            raise JingyunError("bad_filter", f"operator {self.op} needs a value", f"{field}.value")

    def sql(self, column: str = "properties") -> str:
        # JSON values are compared as text (numbers as DOUBLE), the same on both engines.
        text = f"json_extract_string({column}, '$.{self.key}')"
        if self.op == "is_set":
            return f"{text} IS NOT NULL"
        if self.op == "is_not_set":
            return f"{text} IS NULL"
        if self.op == "in":
            return f"{text} IN ({', '.join(quote(_as_text(v)) for v in self.value)})"
        if self.op in _NUMERIC_SQL:
            return f"CAST({text} AS DOUBLE) {_NUMERIC_SQL[self.op]} {float(self.value)!r}"
        if self.op == "neq":
            return f"({text} IS NULL OR {text} <> {quote(_as_text(self.value))})"
        return f"{text} = {quote(_as_text(self.value))}"


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Step:
    """An event name with optional property filters (all must hold)."""

    event: str
    filters: tuple[PropertyFilter, ...] = ()

    def validate(self, field: str) -> None:
        check_event(self.event, f"{field}.event")
        for i, flt in enumerate(self.filters):
            flt.validate(f"{field}.filters[{i}]")

    def sql(self, column: str = "event", properties: str = "properties") -> str:
        parts = [f"{column} = {quote(self.event)}", *(f.sql(properties) for f in self.filters)]
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
