"""Guard rails (护栏): one module for the simulation and the live runtime alike.

- **Test accounts** never enter: entry queries carry :func:`jingyun.metrics.definitions.real_people`.
- **Entry limit** per user and journey: an entry at *t* is accepted when the user's last *accepted*
  entry is at least ``entry_limit`` before it (default 24 h; ``once``: never again).
- **Holdout**: ``bucket(journey_key, "holdout", user_id) < share`` through the experiments module's
  hashing, so membership is stable, reproducible and independent of the random splits.
- **Consent**: marketing messages go only where ``jingyun.messaging.consent.allowed`` says so (when
  the messaging capability is installed; without it every recipient counts as allowed).
- **Quiet hours** (default 22:00–08:00) in the recipient's own time zone: a marketing message due
  inside them waits to their end (``on_quiet_hours: wait``, default) or is dropped.
- **Frequency caps** across all journeys (default 2 marketing messages per local day, 5 per local
  ISO week, Monday to Sunday, in the recipient's time zone). Sends are decided in time order; sends
  due at the same instant go in journey priority order (higher first), so when a slot is scarce —
  typically at 08:00, when the night's waiting sends are released — the higher priority wins. A send
  over the cap is dropped (``on_cap: drop``, default) or waits to the next local morning
  (``on_cap: wait``, at most :data:`MAX_CAP_WAITS` times).

Service and alert messages skip caps and quiet hours; coupons, tags, segments and tasks are not
messages and pass every message rule (holdout and entry limits still apply to them).
"""

from __future__ import annotations

import datetime as dt
import heapq
import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from jingyun import localtime
from jingyun.automation.entries import wall_to_utc
from jingyun.experiments.assignment import bucket
from jingyun.metrics.definitions import real_people

MAX_CAP_WAITS = 7
Outcome = str  # sent | cap | quiet_hours | unsubscribed
ConsentCheck = Callable[[str, str, str], bool]
__all__ = [
    "CapLedger",
    "GuardRules",
    "arbitrate",
    "consent_checker",
    "entry_limit_mask",
    "holdout_mask",
    "in_holdout",
    "in_quiet_hours",
    "quiet_end_after",
    "real_people",
    "variant",
    "variants_of",
]


@dataclass(frozen=True)
class GuardRules:
    timezone: str  # the workspace's: recipients without their own zone are read in it
    cap_day: int = 2
    cap_week: int = 5
    quiet_start: dt.time = dt.time(22, 0)
    quiet_end: dt.time = dt.time(8, 0)

    @classmethod
    def from_settings(cls, settings: Any) -> GuardRules:
        return cls(cap_day=settings.automation_cap_day, cap_week=settings.automation_cap_week,
                   quiet_start=dt.time.fromisoformat(settings.automation_quiet_start),
                   quiet_end=dt.time.fromisoformat(settings.automation_quiet_end), timezone=settings.timezone)


def in_holdout(journey_key: str, user_id: str, share: float) -> bool:
    """Whether the user is in the journey's control group (receives nothing)."""
    return share > 0 and bucket(journey_key, "holdout", str(user_id)) < share


def holdout_mask(journey_key: str, user_ids: Iterable[str], share: float) -> np.ndarray:
    """:func:`in_holdout` for many entries: one hash per distinct person, not per entry."""
    ids = np.asarray(list(user_ids) if not isinstance(user_ids, (np.ndarray, pd.Series)) else user_ids, dtype=object)
    if share <= 0 or len(ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    inverse, uniq = pd.factorize(ids.astype(str))
    held = np.fromiter((in_holdout(journey_key, u, share) for u in uniq.tolist()), dtype=bool, count=len(uniq))
    return held[inverse]


def variants_of(journey_key: str, step_id: str, user_ids: np.ndarray, variants: Sequence[tuple[str, float]]
                ) -> np.ndarray:
    """:func:`variant` for many entries: one hash per distinct person."""
    ids = np.asarray(user_ids, dtype=object).astype(str)
    if len(ids) == 0:
        return np.array([], dtype=object)
    inverse, uniq = pd.factorize(ids)
    chosen = np.array([variant(journey_key, step_id, u, variants) for u in uniq.tolist()], dtype=object)
    return chosen[inverse]


def variant(journey_key: str, step_id: str, user_id: str, variants: Sequence[tuple[str, float]]) -> str:
    """The variant of a random split: the split's own salt, weights in list order."""
    x = bucket(journey_key, f"split/{step_id}", str(user_id)) * sum(w for _, w in variants)
    for name, weight in variants:
        if x < weight:
            return name
        x -= weight
    return variants[-1][0]


def entry_limit_mask(users: np.ndarray, at_us: np.ndarray, limit_s: int | None) -> np.ndarray:
    """Which candidate entries are accepted (in the input order); ``at_us`` in microseconds.

    Greedy per user, vectorised over users: each round finds, for every user still going, the first
    candidate at least ``limit`` after the last accepted one (one ``searchsorted`` per round; the
    rounds are the most entries one user makes, not the number of candidates)."""
    n = len(users)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    codes = pd.factorize(np.asarray(users, dtype=object))[0].astype(np.int64)
    at = np.asarray(at_us, dtype=np.int64) - int(np.min(at_us))
    order = np.lexsort((at, codes))
    codes, at = codes[order], at[order]
    taken = np.zeros(n, dtype=bool)
    first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    taken[first] = True
    if limit_s is not None:
        limit = limit_s * 1_000_000
        keys = codes * (int(at.max()) + limit + 1) + at
        pos = first
        while len(pos):
            nxt = np.searchsorted(keys, keys[pos] + limit, side="left")
            ok = nxt < n
            nxt, pos = nxt[ok], pos[ok]
            pos = nxt[codes[nxt] == codes[pos]]
            taken[pos] = True
    keep[order] = taken
    return keep


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(at: dt.datetime, tz: str) -> dt.datetime:
    """Naive UTC → naive local wall clock in ``tz``."""
    return localtime.aware(at, tz).replace(tzinfo=None)


def to_utc(wall: dt.datetime, tz: str) -> dt.datetime:
    return wall.replace(tzinfo=_zone(tz)).astimezone(dt.UTC).replace(tzinfo=None)


def _walls(due: pd.Series, tz: pd.Series) -> pd.Series:
    """Naive UTC → naive local wall clocks, one conversion per zone."""
    out = pd.Series(pd.NaT, index=due.index, dtype="datetime64[us]")
    for zone, idx in due.groupby(tz).groups.items():
        part = due.loc[idx].astype("datetime64[us]").dt.tz_localize("UTC").dt.tz_convert(_zone(str(zone)))
        out.loc[idx] = part.dt.tz_localize(None).astype("datetime64[us]")
    return out


def in_quiet_hours(wall: dt.datetime, rules: GuardRules) -> bool:
    """Local wall-clock time inside [quiet_start, quiet_end) (the span may cross midnight)."""
    t = wall.time()
    if rules.quiet_start <= rules.quiet_end:
        return rules.quiet_start <= t < rules.quiet_end
    return t >= rules.quiet_start or t < rules.quiet_end


def quiet_end_after(at: dt.datetime, tz: str, rules: GuardRules) -> dt.datetime:
    """The first end of quiet hours after naive-UTC ``at``, as naive UTC."""
    wall = local(at, tz)
    end = dt.datetime.combine(wall.date(), rules.quiet_end)
    if end <= wall:
        end += dt.timedelta(days=1)
    return to_utc(end, tz)


class CapLedger:
    """Marketing messages per user per local day and local ISO week (the runtime persists the same counts)."""

    def __init__(self, rules: GuardRules):
        self.rules = rules
        self.day: dict[tuple[str, dt.date], int] = {}
        self.week: dict[tuple[str, int, int], int] = {}

    def take(self, user: str, wall: dt.datetime) -> bool:
        return self.take_day(user, wall.date())

    def take_day(self, user: str, day: dt.date) -> bool:
        iso = day.isocalendar()
        dk, wk = (user, day), (user, iso[0], iso[1])
        if self.day.get(dk, 0) >= self.rules.cap_day or self.week.get(wk, 0) >= self.rules.cap_week:
            return False
        self.day[dk] = self.day.get(dk, 0) + 1
        self.week[wk] = self.week.get(wk, 0) + 1
        return True


def consent_checker(store: Any) -> tuple[ConsentCheck | None, str | None]:
    """``(check, note)``: the messaging capability's consent rule, or ``(None, why)`` where it is not installed
    or no store is given (then everyone counts as allowed).

    The rule is the messaging capability's own (``consent.allowed``), asked once per person, channel and
    purpose; people with no consent record at all get the rule's answer for "no record", asked once per
    channel and purpose, so a simulation over 50,000 people makes one query per person who has a record."""
    try:
        consent = importlib.import_module("jingyun.messaging.consent")
        from jingyun.store.messages import MessageConsent
    except ImportError:
        return None, "consent not checked: jingyun.messaging.consent is not installed"
    allowed = getattr(consent, "allowed", None)
    if allowed is None or store is None:
        return None, "consent not checked: no metadata store given"
    from sqlalchemy import select

    with store.session() as ses:
        recorded = set(ses.scalars(select(MessageConsent.subject).distinct()))
    cache: dict[tuple[str, str, str], bool] = {}
    nobody = "~no-consent-record~"

    def check(user: str, channel: str, purpose: str) -> bool:
        key = (user if user in recorded else nobody, channel, purpose)
        if key not in cache:
            cache[key] = bool(allowed(store, key[0], channel=channel, purpose=purpose))
        return cache[key]

    return check, None


def _clock_s(t: dt.time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def arbitrate(sends: pd.DataFrame, rules: GuardRules, consent: ConsentCheck | None = None,
              ledger: CapLedger | None = None) -> pd.DataFrame:
    """Decide every candidate message: ``sends`` has user_id, due (naive UTC), priority, journey, channel,
    purpose, tz, on_cap, on_quiet; returns it with ``outcome`` and ``sent_at`` (NaT unless sent).

    Consent and quiet hours depend on nothing but the send itself, so they are decided for all sends at
    once (a send due in quiet hours that waits is moved to their end in its zone). Caps depend on what
    was sent before: one pass in time order over the candidate *sends* (far fewer than events), a heap
    ordered by (due, -priority, journey, row), so a send that waits for the next morning re-enters at
    its new time and competes there."""
    out = sends.reset_index(drop=True)
    n = len(out)
    outcome = np.array(["sent"] * n, dtype=object)
    users = out["user_id"].astype(str)
    if consent is not None and n:  # asked once per (person, channel, purpose), not per send
        combos = pd.DataFrame({"u": users, "c": out["channel"].astype(str), "p": out["purpose"].astype(str)})
        codes, uniq = pd.MultiIndex.from_frame(combos).factorize()
        ok = np.array([bool(consent(u, c, p)) for u, c, p in uniq], dtype=bool)
        outcome[~ok[codes]] = "unsubscribed"
    due = out["due"].astype("datetime64[us]")
    walls = _walls(due, out["tz"]) if n else due
    secs = (walls - walls.dt.normalize()).dt.total_seconds().to_numpy() if n else np.array([])
    qs, qe = _clock_s(rules.quiet_start), _clock_s(rules.quiet_end)
    quiet = ((secs >= qs) & (secs < qe)) if qs <= qe else ((secs >= qs) | (secs < qe))
    marketing = (out["purpose"] == "marketing").to_numpy() & (outcome == "sent")
    held = quiet & marketing
    drop = held & (out["on_quiet"] == "drop").to_numpy()
    outcome[drop] = "quiet_hours"
    wait = held & ~drop
    if wait.any():  # the first end of quiet hours after the due time, in the recipient's zone
        end = walls[wait].dt.normalize() + pd.Timedelta(seconds=qe)
        end = end.where(end > walls[wait], end + pd.Timedelta(days=1))
        due = due.copy()
        due[wait] = wall_to_utc(end.astype("datetime64[us]"), out["tz"][wait]).to_numpy()
        walls = walls.copy()
        walls[wait] = end.astype("datetime64[us]").to_numpy()
    nat = np.datetime64("NaT", "us")
    due_np = due.to_numpy(dtype="datetime64[us]") if n else np.array([], dtype="datetime64[us]")
    sent_np = np.full(n, nat, dtype="datetime64[us]")
    nonmarketing = ~(out["purpose"] == "marketing").to_numpy() & (outcome == "sent")
    sent_np[nonmarketing] = due_np[nonmarketing]
    candidates = np.flatnonzero(marketing & (outcome == "sent"))
    ranks = {j: k for k, j in enumerate(sorted(set(out["journey"].tolist())))}
    jr = out["journey"].map(ranks).to_numpy(dtype=np.int64) if n else np.array([], dtype=np.int64)
    prio = out["priority"].to_numpy(dtype=np.int64) if n else np.array([], dtype=np.int64)
    due_us = due_np.astype(np.int64)
    waits_on_cap = bool(n) and bool((out["on_cap"].to_numpy()[candidates] == "wait").any())
    if ledger is None and not waits_on_cap:
        taken = _caps_sorted(users.to_numpy()[candidates], walls.to_numpy(dtype="datetime64[us]")[candidates],
                             due_us[candidates], prio[candidates], jr[candidates], candidates, rules)
        sent_np[candidates[taken]] = due_np[candidates[taken]]
        outcome[candidates[~taken]] = "cap"
    else:
        _caps_heap(out, rules, ledger or CapLedger(rules), candidates, users.tolist(), walls, due_us, prio, jr,
                   outcome, sent_np)
    out["outcome"] = outcome
    out["sent_at"] = pd.Series(sent_np, index=out.index, dtype="datetime64[us]")
    return out


def _caps_sorted(users: np.ndarray, walls: np.ndarray, due_us: np.ndarray, prio: np.ndarray, jr: np.ndarray,
                 rows: np.ndarray, rules: GuardRules) -> np.ndarray:
    """Caps without waits, vectorised: which candidate sends are taken (in the input order).

    In (due, -priority, journey, row) order per person, the greedy rule "taken while fewer than
    ``cap_day`` taken that local day and fewer than ``cap_week`` that ISO week" takes exactly the sends
    ranked below ``cap_day`` within their day, up to the first ``cap_week`` of those within their week
    (days nest in weeks, and a dropped send takes nothing)."""
    k = len(users)
    taken = np.zeros(k, dtype=bool)
    if k == 0:
        return taken
    ucode = pd.factorize(users)[0]
    order = np.lexsort((rows, jr, -prio, due_us, ucode))
    day = walls[order].astype("datetime64[D]")
    days = day.astype(np.int64)
    # ISO week key: the Monday of the local day (1970-01-01 was a Thursday)
    monday = days - ((days + 3) % 7)
    frame = pd.DataFrame({"u": ucode[order], "d": days, "w": monday})
    day_rank = frame.groupby(["u", "d"], sort=False).cumcount().to_numpy()
    ok = day_rank < rules.cap_day
    week_rank = np.full(k, rules.cap_week, dtype=np.int64)
    week_rank[ok] = frame[ok].groupby(["u", "w"], sort=False).cumcount().to_numpy()
    taken[order] = ok & (week_rank < rules.cap_week)
    return taken


def _caps_heap(out: pd.DataFrame, rules: GuardRules, ledger: CapLedger, candidates: np.ndarray, users: list[str],
               walls: pd.Series, due_us: np.ndarray, prio: np.ndarray, jr: np.ndarray, outcome: np.ndarray,
               sent_np: np.ndarray) -> None:
    """Caps when some journey waits on them (or a ledger is given): one pass in time order, a heap ordered
    by (due, -priority, journey, row), so a send that waits for the next morning re-enters at its new time."""
    tzs = out["tz"].tolist()
    days = walls.dt.date.tolist() if len(out) else []
    heap: list[tuple[int, int, int, int, int]] = [(int(due_us[k]), -int(prio[k]), int(jr[k]), int(k), 0)
                                                  for k in candidates.tolist()]
    heapq.heapify(heap)
    on_cap = out["on_cap"].tolist()
    while heap:
        at_us, p, j, i, waits = heapq.heappop(heap)
        day = days[i] if waits == 0 else local(_from_us(at_us), tzs[i]).date()
        if ledger.take_day(users[i], day):
            sent_np[i] = np.datetime64(at_us, "us")
            continue
        if on_cap[i] == "wait" and waits < MAX_CAP_WAITS:
            morning = to_utc(dt.datetime.combine(day + dt.timedelta(days=1), rules.quiet_end), tzs[i])
            heapq.heappush(heap, (_to_us(morning), p, j, i, waits + 1))
        else:
            outcome[i] = "cap"


_EPOCH = dt.datetime(1970, 1, 1)


def _from_us(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


def _to_us(at: dt.datetime) -> int:
    return (at - _EPOCH) // dt.timedelta(microseconds=1)
