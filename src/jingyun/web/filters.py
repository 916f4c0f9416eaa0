"""The filters shared by every page: a date range and an optional dimension filter.

They travel in the query string (``from``, ``to``, ``dim``, ``val``) so a page,
each of its panels, a download and a pinned dashboard item all describe the
same numbers. Without dates the range is the last 30 days that have data
(ending at the last order or event, not "today": a demo or a paused source
would otherwise show an empty month).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from jingyun.errors import JingyunError
from jingyun.warehouse.sqltext import local_date
from jingyun.web.context import ConsoleCtx

DEFAULT_DAYS = 30
MAX_DAYS = 1100
# Dimensions the cockpit can filter and break down by: user attributes apply to every
# metric whose source has a person (metrics.sqlgen joins users on person_id).
DIMENSIONS: tuple[str, ...] = ("users.channel", "users.member_level", "users.province", "users.gender")


@dataclass(frozen=True)
class Filters:
    date_from: dt.date
    date_to: dt.date
    dim: str | None = None
    value: str | None = None

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def previous(self) -> Filters:
        """The same number of days just before (环比)."""
        end = self.date_from - dt.timedelta(days=1)
        return Filters(end - dt.timedelta(days=self.days - 1), end, self.dim, self.value)

    def query(self, **extra: str | int | None) -> str:
        data: dict[str, str] = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        if self.dim:
            data["dim"] = self.dim
            if self.value:
                data["val"] = self.value
        data.update({k: str(v) for k, v in extra.items() if v is not None and v != ""})
        return urlencode(data)


def last_data_day(ctx: ConsoleCtx) -> dt.date:
    with ctx.reader() as wh:
        day = wh.scalar(f"SELECT max(d) FROM (SELECT max({local_date('ts', ctx.timezone)}) AS d FROM orders "
                        f"UNION ALL SELECT max({local_date('ts', ctx.timezone)}) FROM events) x")
    if day is None:
        from jingyun.web.context import today_local

        return today_local(ctx)
    return day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])


def _date(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise JingyunError("bad_date", f"cannot read date {value!r}; write YYYY-MM-DD", field) from None


def parse_filters(ctx: ConsoleCtx, params: Mapping[str, str]) -> Filters:
    lo, hi = _date(params.get("from"), "from"), _date(params.get("to"), "to")
    if hi is None:
        hi = last_data_day(ctx)
    if lo is None:
        lo = hi - dt.timedelta(days=DEFAULT_DAYS - 1)
    if lo > hi:
        raise JingyunError("bad_range", f"from ({lo}) is after to ({hi})", "from")
    if (hi - lo).days + 1 > MAX_DAYS:
        raise JingyunError("bad_range", f"choose at most {MAX_DAYS} days", "from")
    dim = params.get("dim") or None
    if dim is not None and dim not in DIMENSIONS:
        raise JingyunError("bad_dimension", f"dimension must be one of {', '.join(DIMENSIONS)}", "dim")
    value = (params.get("val") or "").strip() or None
    return Filters(lo, hi, dim, value if dim else None)


def dimension_values(ctx: ConsoleCtx, dim: str) -> list[str]:
    """The values a dimension takes (for the filter's drop-down), most common first."""
    if dim not in DIMENSIONS:
        return []
    col = dim.partition(".")[2]
    with ctx.reader() as wh:
        rows = wh.rows(f"SELECT CAST({col} AS VARCHAR) v, count(*) n FROM users WHERE {col} IS NOT NULL "
                       "GROUP BY 1 ORDER BY n DESC, v LIMIT 50")
    return [str(r[0]) for r in rows]
