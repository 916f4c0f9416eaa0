"""Anomaly detection on a metric's daily series (异常检测).

SQL computes the metric per local calendar day; every day of the range is
present (days without data are 0 for counts and amounts; for ratios a day
with a zero denominator has no value, is interpolated for the fit and never
flagged). Python then separates the expected level from the residual:

* ``stl`` (default): seasonal-trend decomposition by Loess with a weekly period
  (statsmodels ``STL(period=7, seasonal=35)``). Gross outliers (beyond twice the
  threshold against the median-based weekday fit) are masked first; then days STL
  finds out of line are replaced by its expected value and the series refitted
  (up to ``REFITS`` times), so outliers do not bend the trend or the weekly profile.
* ``weekday``: a centred rolling median (one period wide) as the trend plus the
  median residual of each weekday as the weekly profile.

A day is out of line when its robust z-score, (residual − median) / (1.4826 · MAD),
exceeds ``threshold`` in absolute value (3.5 by default, the Iglewicz-Hoaglin cut).
Weekends and promotions that recur every week are thus expected, not anomalies.

Festivals and holidays are expected effects (:mod:`jingyun.calendar`): the shopping
festival windows (年货节, 618, 双11, 双12), public holiday breaks and 调休 make-up working
days. They recur yearly, not weekly, and a year of history holds one of each, too few to
learn a lift per festival, so they are *excluded from the residual test*: the fit never sees
them (they are masked and the baseline is interpolated across them, so a ten-day 双11
run-up bends neither the trend nor the weekly profile), the noise scale is measured on
ordinary days only, and they are reported with the effect's name and never flagged. The
cost is stated plainly: a real failure on a festival day (a checkout outage on 双11) is
not caught here; the alert rules on the day's target catch it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from jingyun.analysis.attribution import not_test, time_range
from jingyun.analysis.common import check_range, check_timezone, parse_date, rows
from jingyun.calendar import WorkCalendar, workspace_calendar
from jingyun.config import DEFAULT_TIMEZONE
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED, Definitions
from jingyun.metrics.dictionary import dictionary_for
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import local_date

Method = Literal["stl", "weekday"]
SERIES: dict[str, tuple[str, bool]] = {  # metric → (中文, is a ratio)
    "gmv": ("成交额", False),
    "orders": ("订单数", False),
    "aov": ("客单价", True),
    "visitors": ("访客数", False),
    "conversion_rate": ("转化率", True),
    "new_users": ("新增用户", False),
}
REFITS = 5
PREMASK = 1.5  # of the threshold, against the weekday fit (false alarms: docs/architecture.md, "Measured choices")
MAD_SCALE = 1.4826  # makes the MAD a consistent estimate of the standard deviation for normal noise


@dataclass(frozen=True)
class AnomalyParams:
    metric: str = "gmv"
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    method: Method = "stl"
    threshold: float = 3.5
    period: int = 7
    timezone: str = DEFAULT_TIMEZONE
    include_test: bool = False

    def __post_init__(self) -> None:
        if self.metric not in SERIES:
            raise JingyunError("bad_metric", f"unknown metric {self.metric!r}; use one of {', '.join(SERIES)}", "metric")
        if self.method not in ("stl", "weekday"):
            raise JingyunError("bad_method", "method must be stl or weekday", "method")
        if not self.threshold > 0:
            raise JingyunError("bad_threshold", "threshold must be a positive number of robust standard deviations",
                               "threshold")
        if not isinstance(self.period, int) or not 2 <= self.period <= 366:
            raise JingyunError("bad_period", "period must be between 2 and 366 days", "period")
        check_range(self.date_from, self.date_to)
        check_timezone(self.timezone)

    @classmethod
    def create(cls, metric: str = "gmv", date_from: str | dt.date | None = None, date_to: str | dt.date | None = None,
               *, method: str = "stl", threshold: float = 3.5, period: int = 7, timezone: str = DEFAULT_TIMEZONE,
               include_test: bool = False) -> AnomalyParams:
        return cls(metric.lower(), parse_date(date_from, "from"), parse_date(date_to, "to"), method,  # type: ignore[arg-type]
                   float(threshold), period, timezone, include_test)


def build_series_sql(p: AnomalyParams, defs: Definitions = SHIPPED) -> str:
    """Rows (day, num, den) per local day; den is NULL for non-ratio metrics."""
    rng = time_range("ts", p.date_from, p.date_to, p.timezone)
    day = local_date("ts", p.timezone)
    # the gmv/orders/aov metrics' rows: paid orders (definitions.paid_orders), as the dictionary counts them
    orders = (f"FROM orders WHERE {not_test(p.include_test)} AND {defs.paid_orders.where()} AND {rng} "
              f"GROUP BY {day}")
    if p.metric == "gmv":
        return f"SELECT {day} AS day, sum(CAST(amount AS DOUBLE)) AS num, CAST(NULL AS DOUBLE) AS den {orders} ORDER BY day"
    if p.metric == "orders":
        return f"SELECT {day} AS day, CAST(count(*) AS DOUBLE) AS num, CAST(NULL AS DOUBLE) AS den {orders} ORDER BY day"
    if p.metric == "aov":
        return f"SELECT {day} AS day, sum(CAST(amount AS DOUBLE)) AS num, CAST(count(*) AS DOUBLE) AS den {orders} ORDER BY day"
    visitors = (f"SELECT {day} AS day, CAST(count(DISTINCT person_id) AS DOUBLE) AS v FROM events "
                f"WHERE person_id IS NOT NULL AND {not_test(p.include_test)} AND {rng} GROUP BY {day}")
    if p.metric == "visitors":
        return f"SELECT day, v AS num, CAST(NULL AS DOUBLE) AS den FROM ({visitors}) x ORDER BY day"
    if p.metric == "new_users":
        reg = time_range("registered_at", p.date_from, p.date_to, p.timezone)
        rday = local_date("registered_at", p.timezone)
        return (f"SELECT {rday} AS day, CAST(count(*) AS DOUBLE) AS num, CAST(NULL AS DOUBLE) AS den FROM users "
                f"WHERE registered_at IS NOT NULL AND {not_test(p.include_test)} AND {reg} GROUP BY {rday} ORDER BY day")
    # conversion_rate: orders / visitors per day
    return (f"SELECT day, sum(num) AS num, sum(den) AS den FROM ("
            f"SELECT {day} AS day, CAST(count(*) AS DOUBLE) AS num, CAST(0 AS DOUBLE) AS den {orders} "
            f"UNION ALL SELECT day, CAST(0 AS DOUBLE) AS num, v AS den FROM ({visitors}) v) x GROUP BY day ORDER BY day")


@dataclass(frozen=True)
class Fit:
    expected: np.ndarray
    residual: np.ndarray
    z: np.ndarray


def robust_z(residual: np.ndarray) -> np.ndarray:
    """(r − median) / (1.4826 · MAD); falls back to the mean absolute deviation when MAD is 0."""
    med = float(np.median(residual))
    dev = np.abs(residual - med)
    scale = MAD_SCALE * float(np.median(dev))
    if scale == 0:
        scale = 1.2533 * float(np.mean(dev))  # sqrt(pi/2): mean absolute deviation → sigma
    if scale == 0:
        return np.zeros_like(residual)
    out: np.ndarray = (residual - med) / scale
    return out


def _expected(y: np.ndarray, method: Method, period: int) -> np.ndarray:
    if method == "stl":
        from statsmodels.tsa.seasonal import STL

        # A seasonal smoother five periods long: the default (one period) soaks up noise and
        # shrinks the residuals, which inflates every z-score.
        seasonal = 5 * period if (5 * period) % 2 else 5 * period + 1
        res = STL(y, period=period, seasonal=seasonal).fit()
        return np.asarray(res.trend) + np.asarray(res.seasonal)
    n = len(y)
    width = min(3 * period, n)  # whole periods, so the weekly pattern cancels out of the rolling median
    # At the edges the window slides inward instead of padding, so it still spans whole periods.
    lo = np.clip(np.arange(n) - width // 2, 0, n - width)
    trend = np.array([np.median(y[i:i + width]) for i in lo])
    detr = y - trend
    profile = np.array([np.median(detr[k::period]) for k in range(period)])
    out: np.ndarray = trend + profile[np.arange(n) % period]
    return out


def fit(values: np.ndarray, method: Method = "stl", period: int = 7, threshold: float = 3.5,
        expected_effect: np.ndarray | None = None) -> Fit:
    """Expected values, residuals and robust z-scores of a daily series (NaN = no value that day).

    ``expected_effect`` marks days with a known calendar effect (festivals, holidays): they are
    left out of the fit and of the noise scale, like missing days, and their z-score is 0.
    """
    y = np.asarray(values, dtype=float)
    n = len(y)
    effect = np.zeros(n, dtype=bool) if expected_effect is None else np.asarray(expected_effect, dtype=bool)
    if effect.shape != (n,):
        raise JingyunError("bad_effects", "one expected-effect flag per day", "expected_effect")
    if (~effect).sum() < 2 * period + 1:
        raise JingyunError("short_series", f"need at least {2 * period + 1} ordinary (non-festival) days; the "
                           f"range holds {int((~effect).sum())}", "from")
    if n < 2 * period + 1:
        raise JingyunError("short_series", f"need at least {2 * period + 1} days to learn a {period}-day "
                           f"seasonality; got {n}", "from")
    missing = np.isnan(y)
    if missing.all():
        raise JingyunError("empty_series", "the metric has no value on any day of the range", "metric")
    actual = y
    skip = missing | effect
    if skip.all():
        raise JingyunError("empty_series", "the metric has no value on an ordinary day of the range", "metric")
    idx = np.arange(n)
    if effect.any():
        # Festival days are filled from the same weekday's ordinary days either side: a straight line
        # from a Sunday to a Monday across a 17-day 618 run-up would lift the baseline around it.
        y = y.copy()
        for k in range(period):
            phase = idx % period == k
            known, fill = phase & ~skip, phase & effect
            if known.any() and fill.any():
                y[fill] = np.interp(idx[fill], idx[known], y[known])
    if missing.any() or (effect & np.isnan(y)).any():
        gaps = np.isnan(y) | missing
        y = y.copy()
        y[gaps] = np.interp(idx[gaps], idx[~skip], actual[~skip])
    expected = _expected(y, "weekday", period)
    if method == "stl":
        # Loess is not robust to outliers, and statsmodels' robust mode mis-scales the residuals of
        # normal days (more false alarms on clean series: docs/architecture.md, "Measured choices"). So
        # gross outliers are first masked against the median-based weekday fit (which they cannot
        # bend), then STL is refitted with the days it finds out of line replaced by its expected values.
        masked = (np.abs(robust_z(y - expected)) > PREMASK * threshold) | effect
        expected = _expected(np.where(masked, expected, y), "stl", period)
        for _ in range(REFITS):
            new = (np.abs(robust_z(y - expected)) > threshold) & ~masked
            if not new.any():
                break
            masked |= new
            expected = _expected(np.where(masked, expected, y), "stl", period)
    residual = np.where(missing, y, actual) - expected
    z = _scaled(residual, ~effect)
    z[skip] = 0.0
    return Fit(expected, residual, z)


def _scaled(residual: np.ndarray, ordinary: np.ndarray) -> np.ndarray:
    """Robust z-scores with the centre and scale of the ordinary days only."""
    if ordinary.all():
        return robust_z(residual)
    base = residual[ordinary]
    med = float(np.median(base))
    scale = MAD_SCALE * float(np.median(np.abs(base - med)))
    if scale == 0:
        scale = 1.2533 * float(np.mean(np.abs(base - med)))
    if scale == 0:
        return np.zeros_like(residual)
    out: np.ndarray = (residual - med) / scale
    return out


@dataclass
class AnomalyDay:
    date: str
    value: float | None
    expected: float
    residual: float
    z: float
    anomaly: bool
    direction: str | None = None  # high | low
    effect: str | None = None  # the calendar effect that explains the day (双11, 国庆节), never flagged


@dataclass
class AnomalyResult:
    metric: str
    metric_zh: str
    method: str
    threshold: float
    days: list[AnomalyDay]
    anomalies: list[AnomalyDay]
    sql: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def detect(dates: list[dt.date], values: np.ndarray, method: Method = "stl", threshold: float = 3.5,
           period: int = 7, effects: Mapping[dt.date, str] | None = None) -> list[AnomalyDay]:
    """Flags per day; ``effects`` (day → name, e.g. from ``WorkCalendar.expected_effects``) are expected."""
    effects = effects or {}
    mask = np.array([d in effects for d in dates], dtype=bool)
    f = fit(values, method, period, threshold, mask)
    out = []
    for i, d in enumerate(dates):
        v = values[i]
        flag = bool(abs(f.z[i]) > threshold) and not np.isnan(v) and not mask[i]
        out.append(AnomalyDay(d.isoformat(), None if np.isnan(v) else float(v), round(float(f.expected[i]), 6),
                              round(float(f.residual[i]), 6), round(float(f.z[i]), 4), flag,
                              ("high" if f.z[i] > 0 else "low") if flag else None, effects.get(d)))
    return out


def run_anomalies(backend: Backend, p: AnomalyParams, *, calendar: WorkCalendar | None = None,
                  festivals: bool = True) -> AnomalyResult:
    """The metric's daily series over [from, to] (default: the days with data), with out-of-line days flagged.

    Festival and holiday days of the workspace calendar are expected effects (``festivals=False``
    tests them like ordinary days)."""
    sql = build_series_sql(p, dictionary_for(backend).definitions)  # the workspace's paid_orders
    got = {r["day"]: r for r in rows(backend, sql)}
    if not got and (p.date_from is None or p.date_to is None):
        raise JingyunError("empty_series", f"no {p.metric} data; give --from and --to or load data", "metric")
    first = p.date_from or min(got)
    last = p.date_to or max(got)
    dates = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    ratio = SERIES[p.metric][1]
    values = np.zeros(len(dates))
    for i, d in enumerate(dates):
        r = got.get(d)
        if ratio:
            values[i] = (r["num"] or 0) / r["den"] if r is not None and r["den"] else np.nan
        else:
            values[i] = float(r["num"] or 0) if r is not None else 0.0
    effects = (calendar or workspace_calendar(backend.settings)).expected_effects(dates) if festivals else None
    days = detect(dates, values, p.method, p.threshold, p.period, effects)
    return AnomalyResult(p.metric, SERIES[p.metric][0], p.method, p.threshold, days,
                         [d for d in days if d.anomaly], [sql])
