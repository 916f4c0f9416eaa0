"""Local time at every edge (本地时间): the one place a stored time becomes a time someone reads.

Storage stays naive UTC (the warehouse's ``TIMESTAMP`` columns, the metadata store's ``utcnow()``).
Everything shown or sent — API JSON, CLI tables and ``--json``, console pages, CSV/Excel exports,
message bodies — is in the workspace time zone (``settings.timezone``, default Asia/Shanghai) and
carries its offset: ``2026-10-01T09:00:00+08:00``. The conversion is written once, here:

- :func:`aware` — a stored time (naive means UTC) as an aware datetime in a zone;
- :func:`local_iso` — the same as ISO 8601 text with the offset (API, ``--json``, CSV);
- :func:`local_text` — the same for a human table: ``2026-10-01 09:00:00+08:00``;
- :func:`localize` — every datetime inside a result (dicts, lists, dataclasses) converted, for
  writers that print whatever a library returned;
- :data:`LocalTime` — the API's response type: a naive value is read as UTC and turned into the zone of
  the request (:func:`use_zone`, set by the app per request), and its OpenAPI schema says, with a
  pattern, that the text ends in an offset — so schemathesis checks every answer carries one.

Calendar days (a local ``date``) are not instants and pass through unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import typing
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BeforeValidator, WithJsonSchema

__all__ = ["OFFSET_PATTERN", "LocalTime", "aware", "current_zone", "local_iso", "local_text", "localize",
           "use_zone"]

DEFAULT_ZONE = "Asia/Shanghai"  # the settings' default; the app sets the workspace's per request
#: RFC 3339 date-time with a mandatory offset (``Z`` or ``±hh:mm``).
OFFSET_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"

_zone: ContextVar[str | None] = ContextVar("jingyun_zone", default=None)


@functools.lru_cache(maxsize=32)
def _zoneinfo(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def current_zone() -> str:
    """The zone times are shown in now: the request's (the workspace's, or the viewer's), else the default."""
    return _zone.get() or DEFAULT_ZONE


@contextlib.contextmanager
def use_zone(tz: str) -> Iterator[None]:
    """Show times in ``tz`` inside the block (the API sets it for each request)."""
    token = _zone.set(tz)
    try:
        yield
    finally:
        _zone.reset(token)


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T", 1))


@typing.overload
def aware(t: dt.datetime | str, tz: str | None = None) -> dt.datetime: ...
@typing.overload
def aware(t: None, tz: str | None = None) -> None: ...
@typing.overload
def aware(t: dt.datetime | str | None, tz: str | None = None) -> dt.datetime | None: ...


def aware(t: dt.datetime | str | None, tz: str | None = None) -> dt.datetime | None:
    """A stored time in zone ``tz`` (default :func:`current_zone`), with its offset. Naive means UTC (the
    store's convention); ISO text is parsed first. Microseconds are kept."""
    if t is None:
        return None
    if isinstance(t, str):
        t = _parse(t)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(_zoneinfo(tz or current_zone()))


def local_iso(t: dt.datetime | str | None, tz: str | None = None) -> str | None:
    """A stored time as local ISO 8601 text with its offset: ``2025-01-02T05:00:00+08:00``."""
    value = aware(t, tz)
    return value.isoformat() if value is not None else None


def local_text(t: dt.datetime | str | None, tz: str | None = None) -> str:
    """A stored time for a table a person reads: ``2026-10-01 09:00:00+08:00`` (seconds; empty for None)."""
    value = aware(t, tz)
    return value.isoformat(sep=" ", timespec="seconds") if value is not None else ""


def localize(value: Any, tz: str | None = None) -> Any:
    """Every datetime inside ``value`` (dicts, lists, tuples, dataclasses) as an aware local datetime;
    dates and everything else unchanged. For writers that print library results as they come."""
    if isinstance(value, dt.datetime):
        return aware(value, tz)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: localize(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [localize(v, tz) for v in value]
    return value


def _to_zone(value: Any) -> Any:
    if isinstance(value, dt.datetime | str) and value != "":
        try:
            return aware(value)
        except ValueError:
            return value  # not a time: the AwareDatetime check names it
    return value


#: A time in a response: stored naive UTC in, the request's zone with its offset out.
LocalTime = Annotated[
    AwareDatetime,
    BeforeValidator(_to_zone),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": OFFSET_PATTERN,
                    "description": "Local time with its UTC offset 本地时间（含时区偏移）"}),
]


class ZoneMiddleware:
    """Pure ASGI: every request of the app shows times in the workspace zone (:func:`use_zone`).

    A per-person zone would be set here from the caller's preference; people have none yet."""

    def __init__(self, app: Any, timezone: str):
        self.app = app
        self.timezone = timezone

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        with use_zone(self.timezone):
            await self.app(scope, receive, send)
