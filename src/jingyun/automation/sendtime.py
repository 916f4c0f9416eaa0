"""Send-time optimisation (最佳发送时间): each person's best local hour from past engagement.

- **Engagement**: the person's events (all events, or the names given) in the ``days`` before ``as_of``,
  by real people (test accounts left out), counted per **local hour** in the person's own time zone
  (``users.attributes.timezone`` when it names a zone, else the workspace's). The warehouse counts per
  person, UTC year, month and hour (one portable query); the local hour is that hour shifted by the
  zone's UTC offset in the middle of the month (a DST change moves at most the days of that month
  between the change and the middle by one hour).
- **Shrinkage**: the workspace's overall curve ``p_h`` (every counted event's local hour) is the prior;
  a person with ``n`` events and ``c_h`` of them at hour ``h`` gets ``(c_h + k·p_h) / (n + k)``, ``k`` =
  ``prior_weight`` (default 10 events). With no or few events the overall curve decides; with many,
  their own.
- **Quiet hours**: the best hour is the best one whose whole hour lies outside quiet hours in the
  recipient's zone (default 22:00–08:00), so a send at it is never held.
- :func:`next_best` is the next such hour at or after a moment: what a step with ``at: best_time`` waits for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from jingyun.automation.guards import GuardRules, in_quiet_hours, to_utc
from jingyun.errors import JingyunError
from jingyun.localtime import aware
from jingyun.metrics.definitions import real_people
from jingyun.warehouse.backends import Backend
from jingyun.warehouse.sqltext import quote, ts_literal

DEFAULT_DAYS = 90
DEFAULT_PRIOR = 10.0


@dataclass(frozen=True)
class BestHours:
    """Best local hour per person, and the workspace curve people with little data lean on."""

    timezone: str
    overall: tuple[float, ...]  # 24 shares of engagement by local hour, summing to 1 (uniform without data)
    overall_best: int
    hours: dict[str, int] = field(default_factory=dict)  # person -> best local hour (people with events)
    events: dict[str, int] = field(default_factory=dict)  # person -> events counted
    zones: dict[str, str] = field(default_factory=dict)  # person -> their time zone (when not the workspace's)

    def hour(self, user: str) -> int:
        """The person's best hour; the workspace's best for people without events."""
        return self.hours.get(str(user), self.overall_best)

    def zone(self, user: str) -> str:
        return self.zones.get(str(user), self.timezone)


def allowed_hours(rules: GuardRules) -> list[int]:
    """Hours whose whole hour lies outside quiet hours (every hour when none does)."""
    base = dt.datetime(2000, 1, 1)
    ok = [h for h in range(24)
          if not any(in_quiet_hours(base + dt.timedelta(hours=h, minutes=m), rules) for m in (0, 59))]
    return ok or list(range(24))


def shrink(counts: np.ndarray, overall: np.ndarray, prior_weight: float) -> np.ndarray:
    """Rows of per-hour counts shrunk toward the overall shares: ``(c_h + k·p_h) / (n + k)``."""
    n = counts.sum(axis=1, keepdims=True)
    return (counts + prior_weight * overall[None, :]) / (n + prior_weight)


def _offset_hours(zone: str, year: int, month: int) -> int:
    mid = dt.datetime(year, month, 15, 12, tzinfo=dt.UTC).astimezone(ZoneInfo(zone))
    off = mid.utcoffset() or dt.timedelta(0)
    return int(off.total_seconds() // 3600)


def _zones(backend: Backend) -> dict[str, str]:
    rows = backend.run(
        "SELECT person_id AS u, max(json_extract_string(attributes, '$.timezone')) AS tz FROM users "
        "WHERE person_id IS NOT NULL GROUP BY person_id").to_pylist()
    out = {}
    for r in rows:
        if r["tz"]:
            try:
                ZoneInfo(str(r["tz"]))
            except (ValueError, KeyError, OSError):
                continue
            out[str(r["u"])] = str(r["tz"])
    return out


def local_hour_counts(backend: Backend, *, timezone: str, start: dt.datetime, end: dt.datetime,
                      events: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per person and local hour, the events counted in ``[start, end)`` (naive UTC): columns u, hour, n."""
    names = f" AND event IN ({', '.join(quote(e) for e in events)})" if events else ""
    sql = (f"SELECT person_id AS u, year(ts) AS y, month(ts) AS m, hour(ts) AS h, count(*) AS n FROM events "
           f"WHERE {real_people()} AND person_id IS NOT NULL AND ts >= {ts_literal(start)} AND ts < {ts_literal(end)}"
           f"{names} GROUP BY person_id, year(ts), month(ts), hour(ts)")
    frame = backend.run(sql).to_pandas()
    zones = _zones(backend)
    if frame.empty:
        return pd.DataFrame({"u": pd.Series(dtype=str), "hour": pd.Series(dtype=int), "n": pd.Series(dtype=int)}), zones
    frame["u"] = frame["u"].astype(str)
    frame["tz"] = [zones.get(u, timezone) for u in frame["u"].tolist()]
    keys = frame[["tz", "y", "m"]].drop_duplicates()
    offsets = {(z, int(y), int(m)): _offset_hours(z, int(y), int(m)) for z, y, m in keys.itertuples(index=False)}
    shift = [offsets[(z, int(y), int(m))] for z, y, m in zip(frame["tz"], frame["y"], frame["m"], strict=True)]
    frame["hour"] = (frame["h"].astype(int) + np.asarray(shift, dtype=int)) % 24
    out = frame.groupby(["u", "hour"], as_index=False)["n"].sum()
    return out, zones


def best_hours(backend: Backend, *, timezone: str, as_of: dt.datetime | None = None, days: int = DEFAULT_DAYS,
               events: Sequence[str] | None = None, prior_weight: float = DEFAULT_PRIOR,
               rules: GuardRules | None = None) -> BestHours:
    """Each person's best local hour from the ``days`` before ``as_of`` (naive UTC; default the latest event)."""
    if days < 1 or days > 3660:
        raise JingyunError("bad_days", "days of engagement history must be between 1 and 3660", "days")
    if prior_weight < 0:
        raise JingyunError("bad_prior", "prior_weight is a number of events, 0 or more (e.g. 10)", "prior_weight")
    rules = rules or GuardRules(timezone=timezone)
    if as_of is None:
        latest = backend.run("SELECT max(ts) AS t FROM events").to_pylist()[0]["t"]
        as_of = (latest or dt.datetime.now(dt.UTC).replace(tzinfo=None)) + dt.timedelta(microseconds=1)
    counts, zones = local_hour_counts(backend, timezone=timezone, start=as_of - dt.timedelta(days=days), end=as_of,
                                      events=events)
    ok = np.array(allowed_hours(rules))
    total = np.bincount(counts["hour"].to_numpy(dtype=int), weights=counts["n"].to_numpy(dtype=float), minlength=24)
    overall = total / total.sum() if total.sum() else np.full(24, 1 / 24)
    overall_best = int(ok[np.argmax(overall[ok])])
    if counts.empty:
        return BestHours(timezone, tuple(float(x) for x in overall), overall_best, zones=zones)
    people = np.sort(counts["u"].unique())
    idx = np.searchsorted(people, counts["u"].to_numpy())
    matrix = np.zeros((len(people), 24))
    np.add.at(matrix, (idx, counts["hour"].to_numpy(dtype=int)), counts["n"].to_numpy(dtype=float))
    score = shrink(matrix, overall, prior_weight)[:, ok]
    best = ok[np.argmax(score, axis=1)]  # ties: the earliest allowed hour
    n = matrix.sum(axis=1)
    return BestHours(timezone, tuple(float(x) for x in overall), overall_best,
                     {str(u): int(h) for u, h in zip(people, best, strict=True)},
                     {str(u): int(k) for u, k in zip(people, n, strict=True)}, zones)


def next_best(at: dt.datetime, user: str, best: BestHours) -> dt.datetime:
    """The next start of the person's best local hour at or after naive-UTC ``at``, as naive UTC."""
    zone = best.zone(user)
    wall = aware(at, zone).replace(tzinfo=None)
    target = dt.datetime.combine(wall.date(), dt.time(best.hour(user)))
    if target < wall:
        target += dt.timedelta(days=1)
    return to_utc(target, zone)


def schedule(sends: pd.DataFrame, best: BestHours, steps: Sequence[str]) -> pd.DataFrame:
    """Candidate sends (``u``, ``step``, ``due`` naive UTC) with the listed steps' due times moved to each
    person's next best hour: the rule for an action step with ``at: best_time``."""
    out = sends.copy()
    mask = out["step"].isin(list(steps)).to_numpy()
    if mask.any():
        moved = [next_best(pd.Timestamp(d).to_pydatetime(), str(u), best)
                 for u, d in zip(out.loc[mask, "u"], out.loc[mask, "due"], strict=True)]
        out.loc[mask, "due"] = pd.Series(moved, index=out.index[mask], dtype="datetime64[us]")
    return out


__all__ = ["BestHours", "allowed_hours", "best_hours", "local_hour_counts", "next_best", "schedule", "shrink"]
