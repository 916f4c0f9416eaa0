"""Sales forecast by category and channel, with rolling-origin backtests.

* Series: daily GMV (sum of order-line amounts, before order-level discounts)
  or order counts per (category, channel) — or any subset of the two, or the
  total — aggregated in the warehouse (portable SQL); weeks (Monday start) are
  sums of days. Cancelled orders and test accounts are left out; days without
  sales are zeros.
* Model: an autoregression with exogenous regressors (statsmodels ``AutoReg``,
  fitted by least squares): AR(``ar_lags``) on the series plus day-of-week
  dummies, Chinese public holidays and the 618 / 双11 / 双12 / 春节 windows
  (:mod:`jingyun.models.holidays_cn`) and optional external regressors from a
  CSV (promotions, weather: one row per date, planned values for the future).
  A regressor that is constant over a training window (a festival the window
  never saw) is dropped for that fit: its effect cannot be estimated, and we
  say so rather than guess. Prediction intervals come from the model's
  forecast variance. We chose ``AutoReg`` over ``SARIMAX`` after measuring
  ~0.02 s versus ~2 s per fit on this machine: backtests fit many series.
* Validation: rolling origins ``origin_step`` apart, each forecasting
  ``horizon`` steps from the data before it; WAPE = Σ|y−ŷ| / Σ|y|, MAPE over
  points with y > 0, interval coverage, and the operations "accuracy" as
  1 − WAPE. The baseline is seasonal naive (last week's same weekday for days;
  the same week a year earlier for weeks, or the last week without a year of
  history).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from statsmodels.tsa.ar_model import AutoReg

from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED, real_people
from jingyun.models.holidays_cn import calendar_regressors, weekly_regressors
from jingyun.warehouse.backends import Source, engine_of
from jingyun.warehouse.portable import check
from jingyun.warehouse.sqltext import local_date, ts_literal, utc_start

FloatArray = NDArray[np.float64]
Grain = Literal["day", "week"]
Metric = Literal["gmv", "orders"]
DIMENSIONS = ("category", "channel")
MAX_HORIZON = {"day": 56, "week": 8}


@dataclass(frozen=True)
class ForecastParams:
    by: tuple[str, ...] = ("category", "channel")
    metric: Metric = "gmv"
    grain: Grain = "day"
    horizon: int = 28  # steps of the grain; at most 8 weeks
    end: dt.date | None = None  # first day not in the data (default: the day after the last order)
    history_days: int = 365
    backtest_origins: int = 3
    origin_step: int = 14  # steps between backtest origins
    ar_lags: int = 1
    interval: float = 0.8
    exog_csv: Path | None = None

    def validate(self) -> ForecastParams:
        if any(d not in DIMENSIONS for d in self.by) or len(set(self.by)) != len(self.by):
            raise JingyunError("bad_param", "by must be a subset of category, channel", "by")
        if self.metric not in ("gmv", "orders"):
            raise JingyunError("bad_param", "metric must be gmv or orders", "metric")
        if self.grain not in MAX_HORIZON:
            raise JingyunError("bad_param", "grain must be day or week", "grain")
        if not 1 <= self.horizon <= MAX_HORIZON[self.grain]:
            raise JingyunError("bad_param", f"horizon must be 1..{MAX_HORIZON[self.grain]} {self.grain}s (8 weeks)",
                               "horizon")
        if not 0 <= self.backtest_origins <= 12:
            raise JingyunError("bad_param", "backtest_origins must be between 0 and 12", "backtest_origins")
        if self.origin_step < 1:
            raise JingyunError("bad_param", "origin_step must be at least 1", "origin_step")
        if not 1 <= self.ar_lags <= 14:
            raise JingyunError("bad_param", "ar_lags must be between 1 and 14", "ar_lags")
        if not 0.5 <= self.interval < 1:
            raise JingyunError("bad_param", "interval must be in [0.5, 1)", "interval")
        min_steps = 8 * (7 if self.grain == "day" else 1) + self.ar_lags
        steps = self.history_days // (1 if self.grain == "day" else 7)
        if steps < min_steps:
            raise JingyunError("bad_param", f"history_days too short for a {self.grain} model", "history_days")
        return self

    @property
    def step_days(self) -> int:
        return 1 if self.grain == "day" else 7


def series_query(params: ForecastParams, timezone: str, start: dt.date, end: dt.date) -> str:
    """Daily sales per series key on [start, end) local days (runs nothing). Portable SQL."""
    lo, hi = utc_start(start, timezone), utc_start(end, timezone)
    keys = {"category": "COALESCE(p.category, 'unknown')", "channel": "COALESCE(o.channel, 'unknown')"}
    dims = [f"{keys[d]} AS {d}" for d in params.by]
    select = ", ".join([*dims, f"{local_date('o.ts', timezone)} AS day"])
    group = ", ".join(str(k + 1) for k in range(len(params.by) + 1))
    sql = f"""
SELECT {select},
       CAST(SUM(i.amount) AS DOUBLE) AS gmv,
       COUNT(DISTINCT o.order_id) AS orders
FROM orders o
JOIN order_items i ON i.order_id = o.order_id
LEFT JOIN products p ON p.product_id = i.product_id
WHERE o.ts >= {ts_literal(lo)} AND o.ts < {ts_literal(hi)}
  AND {SHIPPED.order_rows('paid_orders', 'o')}
GROUP BY {group}
ORDER BY {group}
"""
    return check(sql)


@dataclass(frozen=True)
class SeriesData:
    """Dense series: ``values[k]`` is the series ``keys[k]`` on each step of ``periods``."""

    keys: list[str]
    periods: list[dt.date]  # day, or Monday of the week
    values: FloatArray  # (series, periods)
    query: str


def load_series(source: Source, params: ForecastParams, end: dt.date) -> SeriesData:
    start = end - dt.timedelta(days=params.history_days)
    if params.grain == "week":  # whole weeks only: start on a Monday, end before one
        end = end - dt.timedelta(days=end.weekday())
        start = end - dt.timedelta(days=(params.history_days // 7) * 7)
    engine = engine_of(source)
    sql = series_query(params, engine.settings.timezone, start, end)
    rows = engine.rows(sql)
    n_days = (end - start).days
    days = [start + dt.timedelta(days=k) for k in range(n_days)]
    index: dict[str, int] = {}
    for row in rows:
        index.setdefault(" / ".join(str(x) for x in row[: len(params.by)]) or "total", len(index))
    keys = sorted(index)
    pos = {k: i for i, k in enumerate(keys)}
    col = 1 + len(params.by) + (0 if params.metric == "gmv" else 1)
    daily = np.zeros((len(keys), n_days))
    for row in rows:
        key = " / ".join(str(x) for x in row[: len(params.by)]) or "total"
        day = row[len(params.by)]
        daily[pos[key], (day - start).days] += float(row[col])
    if params.grain == "day":
        return SeriesData(keys, days, daily, sql)
    weeks = days[::7]
    return SeriesData(keys, weeks, daily.reshape(len(keys), len(weeks), 7).sum(axis=2), sql)


def read_exog(path: Path) -> dict[dt.date, dict[str, float]]:
    """External regressors: a CSV with a ``date`` column (YYYY-MM-DD) and numeric columns."""
    if not path.exists():
        raise JingyunError("not_found", f"no external regressor file at {path}", "exog_csv")
    out: dict[dt.date, dict[str, float]] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "date" not in reader.fieldnames:
            raise JingyunError("bad_file", f"{path} needs a 'date' column", "exog_csv")
        for line, row in enumerate(reader, start=2):
            try:
                day = dt.date.fromisoformat(row["date"].strip())
                out[day] = {k: float(v) for k, v in row.items() if k != "date"}
            except ValueError as exc:
                raise JingyunError("bad_file", f"{path} line {line}: {exc}", "exog_csv") from None
    return out


def design(params: ForecastParams, periods: list[dt.date], exog: dict[dt.date, dict[str, float]] | None) -> tuple[list[str], FloatArray]:
    cols = weekly_regressors(periods) if params.grain == "week" else calendar_regressors(periods)
    names = list(cols)
    mats = [cols[n] for n in names]
    if exog:
        ext_names = sorted({k for v in exog.values() for k in v})
        for name in ext_names:
            vals = []
            for p in periods:
                span = [p + dt.timedelta(days=k) for k in range(params.step_days)]
                missing = [d for d in span if d not in exog or name not in exog[d]]
                if missing:
                    raise JingyunError("exog_missing", f"external regressor {name!r} has no value for {missing[0]}",
                                       "exog_csv")
                vals.append(sum(exog[d][name] for d in span))
            names.append(name)
            mats.append(np.asarray(vals))
    return names, np.column_stack(mats)


def seasonal_naive(history: FloatArray, horizon: int, season: int) -> FloatArray:
    if len(history) < season:
        return np.full(horizon, history[-1] if len(history) else 0.0)
    last = history[-season:]
    return np.asarray([last[k % season] for k in range(horizon)], dtype=np.float64)


def _season(params: ForecastParams, n_history: int) -> int:
    if params.grain == "day":
        return 7
    return 52 if n_history >= 52 else 1


@dataclass(frozen=True)
class PointForecast:
    mean: FloatArray
    lower: FloatArray
    upper: FloatArray
    dropped: list[str]  # regressors left out of the fit (constant in its window)


def fit_forecast(y: FloatArray, X: FloatArray, X_future: FloatArray, names: list[str], params: ForecastParams) -> PointForecast:
    """One series: AR(p) with regressors; forecasts clipped at zero (sales are never negative)."""
    keep = np.ptp(X, axis=0) > 0
    dropped = [n for n, k in zip(names, keep, strict=True) if not k]
    h = X_future.shape[0]
    if np.ptp(y) == 0:  # a flat series (e.g. all zeros) has nothing to learn
        flat = np.full(h, float(y[-1]))
        return PointForecast(flat, flat, flat, dropped)
    res = AutoReg(y, lags=params.ar_lags, trend="c", exog=X[:, keep]).fit()
    n = len(y)
    pred = res.get_prediction(start=n, end=n + h - 1, exog_oos=X_future[:, keep])
    ci = np.asarray(pred.conf_int(alpha=1 - params.interval))
    mean = np.asarray(pred.predicted_mean)
    return PointForecast(np.maximum(mean, 0), np.maximum(ci[:, 0], 0), np.maximum(ci[:, 1], 0), dropped)


def wape(actual: FloatArray, predicted: FloatArray) -> float:
    total = float(np.abs(actual).sum())
    return float(np.abs(actual - predicted).sum() / total) if total else float("nan")


def mape(actual: FloatArray, predicted: FloatArray) -> float:
    pos = actual > 0
    return float(np.mean(np.abs(actual[pos] - predicted[pos]) / actual[pos])) if pos.any() else float("nan")


@dataclass(frozen=True)
class SeriesBacktest:
    key: str
    actual_total: float
    wape: float
    mape: float
    baseline_wape: float
    coverage: float  # share of actuals inside the prediction interval
    accuracy: float  # 1 − WAPE


@dataclass(frozen=True)
class SeriesForecast:
    key: str
    periods: list[dt.date]
    mean: list[float]
    lower: list[float]
    upper: list[float]
    dropped_regressors: list[str]


@dataclass(frozen=True)
class ForecastResult:
    params: ForecastParams
    end: dt.date
    origins: list[dt.date]
    series: list[SeriesBacktest]
    wape: float
    baseline_wape: float
    accuracy: float
    coverage: float
    forecasts: list[SeriesForecast] = field(default_factory=list)
    query: str = ""

    def to_dict(self) -> dict[str, object]:
        p = self.params
        return {
            "metric": p.metric, "grain": p.grain, "by": list(p.by), "horizon": p.horizon,
            "end": self.end.isoformat(), "interval": p.interval,
            "backtest": {
                "origins": [o.isoformat() for o in self.origins],
                "wape": self.wape, "baseline_wape": self.baseline_wape, "baseline": "seasonal_naive",
                "accuracy": self.accuracy, "coverage": self.coverage,
                "series": [vars(s) for s in self.series],
            },
            "forecasts": [
                {"key": f.key, "dropped_regressors": f.dropped_regressors,
                 "points": [{"period": d.isoformat(), "mean": m, "lower": lo, "upper": hi}
                            for d, m, lo, hi in zip(f.periods, f.mean, f.lower, f.upper, strict=True)]}
                for f in self.forecasts
            ],
        }


def last_order_end(source: Source) -> dt.date:
    engine = engine_of(source)
    day = engine.scalar(f"SELECT MAX({local_date('ts', engine.settings.timezone)}) FROM orders "
                    f"WHERE {real_people()}")
    if day is None:
        raise JingyunError("no_data", "the orders table is empty; ingest orders first", "orders")
    return (day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))) + dt.timedelta(days=1)


def run_forecast(source: Source, params: ForecastParams) -> ForecastResult:
    """Backtest on rolling origins, then forecast ``horizon`` steps after ``end``."""
    params.validate()
    engine = engine_of(source)
    end = params.end or last_order_end(engine)
    exog = read_exog(params.exog_csv) if params.exog_csv else None
    # One load covers every backtest window: history before the earliest origin plus the rest.
    span_steps = params.horizon + (params.backtest_origins - 1) * params.origin_step if params.backtest_origins else 0
    history_steps = params.history_days // params.step_days
    load = ForecastParams(**{**vars(params), "history_days": (history_steps + span_steps) * params.step_days})
    data = load_series(engine, load, end)
    if not data.keys:
        raise JingyunError("no_data", f"no sales in the {load.history_days} days before {end}", "end")
    T = len(data.periods)
    step = params.step_days
    future = [data.periods[-1] + dt.timedelta(days=step * (k + 1)) for k in range(params.horizon)]
    names, X_all = design(params, [*data.periods, *future], exog)
    origins = [T - params.horizon - k * params.origin_step for k in range(params.backtest_origins)]
    origins = sorted(o for o in origins if o - history_steps >= 0)
    err, tot, base_err, inside, npts = {}, {}, {}, {}, 0
    mape_parts: dict[str, list[float]] = {k: [] for k in data.keys}
    for s, key in enumerate(data.keys):
        err[key] = tot[key] = base_err[key] = inside[key] = 0.0
        for o in origins:
            lo = o - history_steps
            y, yt = data.values[s, lo:o], data.values[s, o:o + params.horizon]
            fc = fit_forecast(y, X_all[lo:o], X_all[o:o + params.horizon], names, params)
            base = seasonal_naive(y, params.horizon, _season(params, len(y)))
            err[key] += float(np.abs(yt - fc.mean).sum())
            base_err[key] += float(np.abs(yt - base).sum())
            tot[key] += float(np.abs(yt).sum())
            inside[key] += float(((yt >= fc.lower) & (yt <= fc.upper)).sum())
            mape_parts[key].append(mape(yt, fc.mean))
        npts = len(origins) * params.horizon
    series = [
        SeriesBacktest(
            k, tot[k], err[k] / tot[k] if tot[k] else float("nan"),
            float(np.nanmean(mape_parts[k])) if any(np.isfinite(mape_parts[k])) else float("nan"),
            base_err[k] / tot[k] if tot[k] else float("nan"),
            inside[k] / npts if npts else float("nan"),
            1 - err[k] / tot[k] if tot[k] else float("nan"),
        )
        for k in data.keys
    ] if origins else []
    all_tot = sum(tot.values()) if origins else 0.0
    overall = sum(err.values()) / all_tot if all_tot else float("nan")
    baseline = sum(base_err.values()) / all_tot if all_tot else float("nan")
    coverage = sum(inside.values()) / (npts * len(data.keys)) if npts else float("nan")
    forecasts = []
    for s, key in enumerate(data.keys):
        y = data.values[s, T - history_steps:]
        fc = fit_forecast(y, X_all[T - history_steps:T], X_all[T:], names, params)
        forecasts.append(SeriesForecast(key, future, fc.mean.tolist(), fc.lower.tolist(), fc.upper.tolist(),
                                        fc.dropped))
    return ForecastResult(
        params, end, [data.periods[o] for o in origins], series, overall, baseline, 1 - overall, coverage,
        forecasts, data.query,
    )
