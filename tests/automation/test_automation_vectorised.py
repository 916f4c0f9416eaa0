"""The simulation's vectorised guard and trigger paths give the answers of their step-by-step references:
caps by a sorted pass vs the heap (one send at a time through the ledger), the inactivity rule on sorted
arrays vs the window query in DuckDB, hashing once per person vs once per entry."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import numpy as np
import pandas as pd

from jingyun.automation import guards
from jingyun.automation.entries import inactive
from jingyun.automation.guards import GuardRules


def _sends(seed: int, n: int) -> pd.DataFrame:
    rng = random.Random(seed)
    base = dt.datetime(2026, 3, 1)
    users = [f"u{k}" for k in range(12)]
    return pd.DataFrame({
        "user_id": [rng.choice(users) for _ in range(n)],
        "due": pd.Series([base + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 20, 30)) for _ in range(n)],
                         dtype="datetime64[us]"),
        "priority": [rng.choice([20, 50, 80]) for _ in range(n)],
        "journey": [rng.choice(["a", "b", "c"]) for _ in range(n)],
        "channel": "push",
        "purpose": [rng.choice(["marketing"] * 9 + ["service"]) for _ in range(n)],
        "on_cap": "drop", "on_quiet": [rng.choice(["wait", "drop"]) for _ in range(n)]})


def test_caps_sorted_pass_equals_heap() -> None:
    rules = GuardRules(timezone="Asia/Shanghai", cap_day=2, cap_week=5)
    for seed in range(6):
        sends = _sends(seed, 1500)
        zones = {"u0": "America/New_York", "u1": "Europe/London", "u2": "Asia/Tokyo"}
        sends["tz"] = sends["user_id"].map(zones).fillna("Asia/Shanghai")
        fast = guards.arbitrate(sends, rules)  # no journey waits on caps: the sorted pass
        slow = guards.arbitrate(sends, rules, ledger=guards.CapLedger(rules))  # a ledger given: the heap
        assert (fast["outcome"] == "cap").sum() > 50  # the caps bind
        assert fast["outcome"].tolist() == slow["outcome"].tolist()
        assert fast["sent_at"].equals(slow["sent_at"])


def _window(rows: pd.DataFrame, lo: dt.datetime, hi: dt.datetime, w: int) -> pd.DataFrame:
    """The absence rule as the SQL has it (trigger and cancel rows in one stream ordered by (ts, k))."""
    con = duckdb.connect()
    con.register("r", rows)
    found = con.execute(
        f"SELECT u, ts + INTERVAL '{w}' SECOND AS fire FROM (SELECT u, ts, k, min(CASE WHEN k = 0 THEN ts END) OVER ("
        f"PARTITION BY u ORDER BY ts, k ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS nc FROM (SELECT u, ts, "
        f"1 AS k FROM r WHERE ts >= ? AND ts < ? UNION ALL SELECT u, ts, 0 FROM r) a) n WHERE k = 1 AND "
        f"(nc IS NULL OR nc > ts + INTERVAL '{w}' SECOND)", [lo, hi]).df()
    return found.assign(fire=found["fire"].astype("datetime64[us]"))


def test_inactivity_on_sorted_arrays_equals_the_window_query() -> None:
    rng = random.Random(3)
    base = dt.datetime(2026, 1, 1)
    ts = [base + dt.timedelta(hours=rng.randrange(0, 24 * 90)) for _ in range(1200)]
    rows = pd.DataFrame({"u": [f"u{rng.randrange(40)}" for _ in ts], "ts": pd.Series(ts, dtype="datetime64[us]")})
    rows = pd.concat([rows, rows.iloc[:200]], ignore_index=True)  # events at the same instant: each a candidate
    w = 2 * 86400
    lo, hi = base + dt.timedelta(days=10), base + dt.timedelta(days=70)
    got = inactive(rows, lo, hi, w).sort_values(["u", "fire"]).reset_index(drop=True)
    want = _window(rows, lo, hi, w).sort_values(["u", "fire"]).reset_index(drop=True)
    assert len(want) > 60
    assert got["u"].tolist() == want["u"].tolist()
    assert got["fire"].tolist() == want["fire"].tolist()
    # exactly W later cancels (the row is in (t, t + W]); one microsecond later does not
    edge = pd.DataFrame({"u": ["x", "x", "y", "y"], "ts": pd.Series(
        [base, base + dt.timedelta(seconds=w), base, base + dt.timedelta(seconds=w, microseconds=1)],
        dtype="datetime64[us]")})
    fired = inactive(edge, base, base + dt.timedelta(seconds=1), w)
    assert fired["u"].tolist() == ["y"]


def test_hashing_once_per_person_equals_per_entry() -> None:
    ids = np.array([f"p{k % 700}" for k in range(5000)], dtype=object)
    mask = guards.holdout_mask("browse", ids, 0.1)
    assert mask.tolist() == [guards.in_holdout("browse", u, 0.1) for u in ids]
    assert 0.05 < mask.mean() < 0.15
    weights = [("a", 1.0), ("b", 2.0)]
    chosen = guards.variants_of("care", "split", ids, weights)
    assert chosen.tolist() == [guards.variant("care", "split", u, weights) for u in ids]
