"""Planted channel response curves: each paid channel's platform-reported conversion value follows a
known Hill-with-adstock curve of its spend, so the budget optimiser can be checked against the truth.

The ad platforms report, per day and campaign, the order value they attribute to the ads
(``attributes.conversion_value`` of ``marketing_spend``). Spend itself is left exactly as
:mod:`jingyun.demo.marketing` draws it (every other truth stays intact); only the reported value is
added, from the planted curve of the channel's daily spend, times a lognormal noise of 6 %.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jingyun.budgets.allocate import Bounds, allocate
from jingyun.budgets.response import Curve

# channel: (beta = most value per day, K = half-saturation adstock, alpha, theta = daily carry-over)
PLANTED: dict[str, Curve] = {
    "feed_ads": Curve(beta=3500.0, k=600 / 0.7, alpha=1.0, theta=0.3),
    "search": Curve(beta=3000.0, k=400 / 0.9, alpha=0.8, theta=0.1),
    "short_video": Curve(beta=6000.0, k=1000 / 0.6, alpha=1.2, theta=0.4),
    "kol": Curve(beta=2500.0, k=500 / 0.5, alpha=1.5, theta=0.5),
    "referral": Curve(beta=900.0, k=150 / 0.8, alpha=1.0, theta=0.2),
}
NOISE = 0.06
SEED = 19


def conversion_value(curve: Curve, daily_spend: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The value the platform reports for each day of a channel's spend series (consecutive days)."""
    return np.round(curve.series(daily_spend) * rng.lognormal(0.0, NOISE, len(daily_spend)), 2)


def planted_best_split(total_per_day: float) -> dict[str, float]:
    """The daily split of ``total_per_day`` that maximises the planted curves' summed value."""
    chans = list(PLANTED)
    x = allocate([PLANTED[c] for c in chans], total_per_day, [Bounds() for _ in chans])
    return {c: float(v) for c, v in zip(chans, x, strict=True)}


def plant_channel_response(sources: Path) -> dict[str, Any]:
    """Add ``attributes.conversion_value`` to the written ``marketing_spend`` source (same rows) and
    return the planted truth. Campaign rows of one channel and day share that day's value by spend."""
    path = sources / "marketing" / "marketing_spend.parquet"
    t = pq.read_table(path)
    day = np.array(t.column("date").cast(pa.int32()).to_numpy())
    chan = np.array(t.column("channel").to_pylist(), dtype=object)
    spend = np.array([float(v) for v in t.column("spend").to_pylist()])
    value = np.zeros(len(spend))
    rng = np.random.default_rng(SEED)
    medians: dict[str, float] = {}
    for ch, curve in PLANTED.items():
        rows = np.flatnonzero(chan == ch)
        if not len(rows):
            continue
        first = int(day[rows].min())
        daily = np.bincount(day[rows] - first, weights=spend[rows])
        medians[ch] = float(np.median(daily))
        v = conversion_value(curve, daily, rng)
        share = spend[rows] / np.maximum(daily[day[rows] - first], 1e-9)
        value[rows] = np.round(v[day[rows] - first] * share, 2)
    attrs = [json.dumps({"conversion_value": round(float(v), 2)}) if c in PLANTED else None
             for v, c in zip(value, chan, strict=True)]
    t = t.append_column("attributes", pa.array(attrs, pa.string())) if "attributes" not in t.column_names else t
    pq.write_table(t, path, compression="zstd")
    total = round(sum(medians.values()), 2)
    return {
        "curves": {c: {"beta": k.beta, "k": round(k.k, 4), "alpha": k.alpha, "theta": k.theta}
                   for c, k in PLANTED.items()},
        "noise": NOISE,
        "reported_as": "marketing_spend.attributes.conversion_value",
        "daily_total": total,
        "best_split": {c: round(v, 2) for c, v in planted_best_split(total).items()},
    }
