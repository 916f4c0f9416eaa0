"""The filters shared by every page: a date range, a comparison and an optional dimension filter.

They travel in the query string (``range``, ``from``, ``to``, ``compare``, ``dim``, ``val``) so a
page, each of its panels, a download and a pinned dashboard item all describe the same numbers.

A range is a *preset* (``range=last_month``: 今天, 昨天, 近7天, 近30天, 本月, 上月, 本季度) resolved
in the workspace time zone from today's date on every request, so a link or a pin made on 近30天
moves on with the calendar; or ``range=custom`` with ``from``/``to`` (fixed days, also what a URL
with only ``from``/``to`` means). Without any of them the range is the last 30 days that have data
(ending at the last order or event, not "today": a demo or a paused source would otherwise show an
empty month); that default is relative too. "Today" comes from :func:`today`, whose clock tests and
demos replace with :func:`use_clock`.

The comparison (``compare``) is ``previous`` (环比, the default: the period just before — the whole
previous month for 上月, the same days of the previous month or quarter for 本月/本季度, otherwise the
same number of days before) or ``last_year`` (同比: the same days one year earlier).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jingyun.errors import JingyunError
from jingyun.warehouse.sqltext import local_date
from jingyun.web.context import TEMPLATES, ConsoleCtx

DEFAULT_DAYS = 30
MAX_DAYS = 1100
# Dimensions the cockpit can filter and break down by: user attributes apply to every
# metric whose source has a person (metrics.sqlgen joins users on person_id).
DIMENSIONS: tuple[str, ...] = ("users.channel", "users.member_level", "users.province", "users.gender")
# Relative ranges, resolved from today in the workspace time zone (labels: ``range.<key>`` in the catalogs).
PRESETS: tuple[str, ...] = ("today", "yesterday", "last_7_days", "last_30_days", "this_month", "last_month",
                            "this_quarter")
LATEST = "latest_30"  # the default: the 30 days ending on the last day with data
RANGES: tuple[str, ...] = (*PRESETS, LATEST, "custom")
COMPARES: tuple[str, ...] = ("previous", "last_year")
TEMPLATES.env.globals.update(DATE_RANGES=RANGES, DATE_COMPARES=COMPARES)  # the picker (parts/daterange.html)

Clock = Callable[[str], dt.date]  # time zone name -> today's local date
_clock: Clock | None = None


def today(timezone: str) -> dt.date:
    """Today's date in ``timezone`` (the injected clock's, under :func:`use_clock`)."""
    if _clock is not None:
        return _clock(timezone)
    return dt.datetime.now(ZoneInfo(timezone)).date()


@contextmanager
def use_clock(clock: Clock | dt.date) -> Iterator[None]:
    """Resolve presets from another "today" (a fixed date, or a function of the time zone) within the block."""
    global _clock
    before = _clock
    _clock = (lambda _tz: clock) if isinstance(clock, dt.date) else clock
    try:
        yield
    finally:
        _clock = before


def _month_start(day: dt.date, back: int = 0) -> dt.date:
    n = day.year * 12 + day.month - 1 - back
    return dt.date(n // 12, n % 12 + 1, 1)


def _month_end(day: dt.date) -> dt.date:
    return _month_start(day, -1) - dt.timedelta(days=1)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def resolve(preset: str, now: dt.date) -> tuple[dt.date, dt.date]:
    """The local days [from, to] a preset covers when today is ``now``."""
    day = dt.timedelta(days=1)
    match preset:
        case "today":
            return now, now
        case "yesterday":
            return now - day, now - day
        case "last_7_days":
            return now - 6 * day, now
        case "last_30_days":
            return now - 29 * day, now
        case "this_month":
            return _month_start(now), now
        case "last_month":
            start = _month_start(now, 1)
            return start, _month_end(start)
        case "this_quarter":
            return _quarter_start(now), now
    raise JingyunError("bad_range", f"range must be one of {', '.join(RANGES)}", "range")


def _year_back(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _shift_months(lo: dt.date, hi: dt.date, months: int, whole: bool) -> tuple[dt.date, dt.date]:
    """The period starting ``months`` calendar months before ``lo``: whole months, or as many days (clipped)."""
    start = _month_start(lo, months)
    if whole:
        return start, _month_end(_month_start(hi, months))
    period_end = _month_start(start, -months) - dt.timedelta(days=1)
    return start, min(start + (hi - lo), period_end)


@dataclass(frozen=True)
class Filters:
    date_from: dt.date
    date_to: dt.date
    dim: str | None = None
    value: str | None = None
    range: str = "custom"  # a preset of RANGES; "custom" for fixed days
    compare: str = "previous"

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    @property
    def relative(self) -> bool:
        return self.range != "custom"

    def previous(self) -> Filters:
        """The period just before (环比): the previous calendar month for 上月, the same days of the previous
        month or quarter for 本月 / 本季度, otherwise the same number of days just before."""
        if self.range == "last_month":
            lo, hi = _shift_months(self.date_from, self.date_to, 1, whole=True)
        elif self.range == "this_month":
            lo, hi = _shift_months(self.date_from, self.date_to, 1, whole=False)
        elif self.range == "this_quarter":
            lo, hi = _shift_months(self.date_from, self.date_to, 3, whole=False)
        else:
            hi = self.date_from - dt.timedelta(days=1)
            lo = hi - dt.timedelta(days=self.days - 1)
        return replace(self, date_from=lo, date_to=hi, range="custom")

    def last_year(self) -> Filters:
        """The same days one year earlier (同比); a whole month stays the whole month (February of a leap year)."""
        lo, hi = _year_back(self.date_from), _year_back(self.date_to)
        if self.range == "last_month":
            hi = _month_end(lo)
        return replace(self, date_from=lo, date_to=hi, range="custom")

    def comparison(self) -> Filters:
        """The period the page compares with, by the comparison toggle."""
        return self.last_year() if self.compare == "last_year" else self.previous()

    def query(self, **extra: str | int | None) -> str:
        """The filters as a query string: a relative range by its name (``range=last_month``), never as the
        days it covers today; fixed days as ``from``/``to``."""
        return urlencode(self.params(**extra))

    def params(self, **extra: str | int | None) -> dict[str, str]:
        """The filters as query parameters (what :meth:`query` encodes; hidden inputs of a form)."""
        data: dict[str, str] = {}
        if self.range in PRESETS:
            data["range"] = self.range
        elif self.range == "custom":
            data.update({"from": self.date_from.isoformat(), "to": self.date_to.isoformat()})
        if self.compare != "previous":
            data["compare"] = self.compare
        if self.dim:
            data["dim"] = self.dim
            if self.value:
                data["val"] = self.value
        data.update({k: str(v) for k, v in extra.items() if v is not None and v != ""})
        return data


def last_data_day(ctx: ConsoleCtx) -> dt.date:
    # the local day of the latest fact (a local day only grows with the instant): max(ts) reads the column's
    # statistics, where max(local day of every row) converted ~3M event times (850 ms a panel on 50,000 users)
    with ctx.reader() as wh:
        day = wh.scalar(f"SELECT {local_date('m', ctx.timezone)} FROM (SELECT max(m) AS m FROM "
                        "(SELECT max(ts) AS m FROM orders UNION ALL SELECT max(ts) FROM events) x) y")
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
    kind = params.get("range") or ""
    if kind and kind not in RANGES:
        raise JingyunError("bad_range", f"range must be one of {', '.join(RANGES)}", "range")
    compare = params.get("compare") or "previous"
    if compare not in COMPARES:
        raise JingyunError("bad_compare", f"compare must be one of {', '.join(COMPARES)}", "compare")
    if kind in PRESETS:
        lo, hi = resolve(kind, today(ctx.timezone))
    else:
        first, last = _date(params.get("from"), "from"), _date(params.get("to"), "to")
        if kind == LATEST or (kind == "" and first is None and last is None):
            kind, first, last = LATEST, None, None
        else:
            kind = "custom"
        hi = last if last is not None else last_data_day(ctx)
        lo = first if first is not None else hi - dt.timedelta(days=DEFAULT_DAYS - 1)
    if lo > hi:
        raise JingyunError("bad_range", f"from ({lo}) is after to ({hi})", "from")
    if (hi - lo).days + 1 > MAX_DAYS:
        raise JingyunError("bad_range", f"choose at most {MAX_DAYS} days", "from")
    dim = params.get("dim") or None
    if dim is not None and dim not in DIMENSIONS:
        raise JingyunError("bad_dimension", f"dimension must be one of {', '.join(DIMENSIONS)}", "dim")
    value = (params.get("val") or "").strip() or None
    return Filters(lo, hi, dim, value if dim else None, kind, compare)


def dimension_values(ctx: ConsoleCtx, dim: str) -> list[str]:
    """The values a dimension takes (for the filter's drop-down), most common first."""
    if dim not in DIMENSIONS:
        return []
    col = dim.partition(".")[2]
    with ctx.reader() as wh:
        rows = wh.rows(f"SELECT CAST({col} AS VARCHAR) v, count(*) n FROM users WHERE {col} IS NOT NULL "
                       "GROUP BY 1 ORDER BY n DESC, v LIMIT 50")
    return [str(r[0]) for r in rows]
