"""The allocation optimiser: fit each channel's response curve from the warehouse history, then propose
the split of a total that maximises expected return, with per-channel floors and caps.

History: daily spend per channel from ``marketing_spend`` and the return the ad platforms report for it
(``attributes.conversion_value``, attributed order value in yuan). The proposal is a daily spend per
channel (held steady, so adstock sits at its steady state) times the days of the period; expected ROI is
expected return / spend, with a 90 % interval from the fit's parameter draws (one joint draw per
channel per simulation, so the total's interval is the distribution of the sum).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import numpy as np

from jingyun.budgets.allocate import Bounds, allocate
from jingyun.budgets.response import Curve, Fit, fit_curve
from jingyun.errors import JingyunError
from jingyun.warehouse.backends import Engine
from jingyun.warehouse.sqltext import date_literal

FEN = Decimal("0.01")


@dataclass(frozen=True)
class ChannelProposal:
    channel: str
    historical_daily: float
    proposed: Decimal  # for the whole period
    daily: float
    expected_return: float
    roi: float
    roi_low: float  # 5th percentile
    roi_high: float  # 95th percentile
    marginal_roi: float  # return of the next yuan at the proposed spend
    fit_r2: float | None
    curve: Curve


@dataclass(frozen=True)
class Proposal:
    total: Decimal
    days: int
    history: tuple[dt.date, dt.date]
    channels: tuple[ChannelProposal, ...]
    expected_return: float
    return_low: float
    return_high: float
    current_split_return: float  # the historical split scaled to the same total
    skipped: dict[str, str]  # channel -> why it has no curve

    @property
    def roi(self) -> float:
        return self.expected_return / float(self.total) if self.total else 0.0


def history(engine: Engine, start: dt.date, end: dt.date) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Daily (spend, reported value) per channel over consecutive local days [start, end]; missing days are 0."""
    sql = ("SELECT channel, date, SUM(spend) AS spend, "
           "SUM(CAST(json_extract_string(attributes, '$.conversion_value') AS DOUBLE)) AS value "
           f"FROM marketing_spend WHERE date >= {date_literal(start)} AND date <= {date_literal(end)} "
           "GROUP BY channel, date ORDER BY channel, date")
    n = (end - start).days + 1
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for chan, day, spend, value in engine.rows(sql):
        d = _day(day)
        s, v = out.setdefault(str(chan), (np.zeros(n), np.zeros(n)))
        s[(d - start).days] = float(spend or 0)
        v[(d - start).days] = float(value or 0)
    return out


def history_span(engine: Engine) -> tuple[dt.date, dt.date] | None:
    row = engine.rows("SELECT MIN(date), MAX(date) FROM marketing_spend")
    if not row or row[0][0] is None:
        return None
    a, b = row[0]
    return _day(a), _day(b)


def _day(x: object) -> dt.date:
    return x if isinstance(x, dt.date) else dt.date.fromisoformat(str(x))


def _split_exact(total: Decimal, weights: np.ndarray) -> list[Decimal]:
    """Money that sums to ``total`` exactly: floor each share to the fen, the leftover fen to the largest."""
    raw = [(total * Decimal(str(w / weights.sum()))).quantize(FEN, rounding=ROUND_DOWN) for w in weights]
    left = total - sum(raw, Decimal("0.00"))
    order = np.argsort(-weights)
    i = 0
    while left > 0:
        raw[int(order[i % len(order)])] += FEN
        left -= FEN
        i += 1
    return raw


def propose(fits: list[Fit], *, total: Decimal, days: int, bounds: dict[str, Bounds] | None = None,
            historical_daily: dict[str, float] | None = None, span: tuple[dt.date, dt.date] | None = None,
            seed: int = 0) -> Proposal:
    """The best split of ``total`` over ``days`` among the channels whose curve fitted (pure; for tests)."""
    if days < 1:
        raise JingyunError("bad_days", "the period has at least one day", "days", status=422)
    if total <= 0:
        raise JingyunError("bad_total", "the total to split is a positive amount", "total", status=422)
    usable = [f for f in fits if f.ok]
    skipped = {f.channel: f.message or "" for f in fits if not f.ok}
    if not usable:
        raise JingyunError("no_history", "no channel has enough spend history with reported conversion value to fit "
                           "a response curve", "channels", status=422)
    bounds = bounds or {}
    unknown = sorted(set(bounds) - {f.channel for f in fits})
    if unknown:
        raise JingyunError("unknown_channel", f"no history for channel {unknown[0]}", "floor", status=422)
    per_day = float(total) / days
    curves = [f.curve for f in usable if f.curve is not None]
    bnd = [Bounds(bounds[f.channel].floor / days, bounds[f.channel].cap / days) if f.channel in bounds else Bounds()
           for f in usable]
    hist = historical_daily or {}
    start = [hist.get(f.channel, 0.0) for f in usable]
    x = allocate(curves, per_day, bnd, start=start)
    money = _split_exact(total, np.maximum(x, 0) + 1e-12)
    rng = np.random.default_rng(seed)
    draws = min((len(f.samples) for f in usable), default=0)
    sims = np.zeros((max(draws, 1), len(usable)))
    rows = []
    for j, f in enumerate(usable):
        c = f.curve
        assert c is not None
        spend = float(money[j])
        ret = float(c.daily(spend / days)) * days
        if draws:
            picks = rng.permutation(len(f.samples))[:draws]
            sims[:, j] = [float(f.samples[k].daily(spend / days)) * days for k in picks]
        else:
            sims[:, j] = ret
        roi_s = sims[:, j] / spend if spend > 0 else np.zeros(len(sims))
        eps = max(per_day * 1e-4, 0.01)
        marginal = float(c.daily(spend / days + eps) - c.daily(spend / days)) / eps
        rows.append(ChannelProposal(
            f.channel, hist.get(f.channel, 0.0), money[j], spend / days, ret, ret / spend if spend > 0 else 0.0,
            float(np.percentile(roi_s, 5)), float(np.percentile(roi_s, 95)), marginal, f.r2, c))
    totals = sims.sum(axis=1)
    hs = np.array(start, dtype=float)
    current = (float(sum(float(c.daily(v)) for c, v in zip(curves, hs * per_day / hs.sum(), strict=True))) * days
               if hs.sum() > 0 else float("nan"))
    return Proposal(total, days, span or (dt.date.min, dt.date.min), tuple(rows), sum(r.expected_return for r in rows),
                    float(np.percentile(totals, 5)), float(np.percentile(totals, 95)), current, skipped)


def optimize(engine: Engine, *, total: Decimal, days: int, bounds: dict[str, Bounds] | None = None,
             start: dt.date | None = None, end: dt.date | None = None, channels: list[str] | None = None) -> Proposal:
    """Fit on the warehouse history (default: its last 365 days) and propose the split."""
    span = history_span(engine)
    if span is None:
        raise JingyunError("no_history", "marketing_spend is empty: load spend first (jingyun ingest)", "from",
                           status=422)
    end = end or span[1]
    start = start or max(span[0], end - dt.timedelta(days=364))
    if end < start:
        raise JingyunError("bad_period", f"the history ends ({end}) before it starts ({start})", "to", status=422)
    hist = history(engine, start, end)
    if channels:
        missing = [c for c in channels if c not in hist]
        if missing:
            raise JingyunError("unknown_channel", f"no spend for channel {missing[0]} in {start}..{end}", "channels",
                               status=422)
        hist = {c: hist[c] for c in channels}
    fits = []
    for chan, (s, v) in sorted(hist.items()):
        active = np.flatnonzero(s > 0)
        if not len(active):
            continue
        s, v = s[active[0]:active[-1] + 1], v[active[0]:active[-1] + 1]
        fits.append(fit_curve(chan, s, v))
    daily = {c: float(s[s > 0].mean()) if (s > 0).any() else 0.0 for c, (s, _v) in hist.items()}
    return propose(fits, total=total, days=days, bounds=bounds, historical_daily=daily, span=(start, end))
