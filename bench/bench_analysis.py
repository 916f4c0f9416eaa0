"""Funnels and retention: Jingyun's portable SQL on DuckDB vs ClickHouse (chdb) vs naive pandas.

Generated events (seeded): a 4-step funnel (24 h window) with a platform
breakdown, and a 30-day retention matrix (cohort = first view, return = pay).
Each figure is measured in its own subprocess (median of 3 warm runs; peak RSS
of that process from /proc VmHWM, interpreter and libraries included). The
machine is shared, so Jingyun, chdb and pandas are measured in alternating
rounds (3 at full size, the order rotated each round) and the row gives the
median of the rounds, the range, and the 1-minute load average before and
after. Jingyun opens its warehouse read-only with the default settings a
deployment gets (DuckDB `memory_limit` 1GB, threads = cores); chdb reads the
same events from Parquet with its defaults. pandas runs on a slice of the
people (at most 300k events) and its time is scaled linearly to the full
size — said in the row, with the range over the rounds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

STEPS = ["view", "add_to_cart", "checkout", "pay"]
EVENTS = np.array(["view", "add_to_cart", "checkout", "pay", "search", "home"])
PLATFORMS = np.array(["app", "web", "miniprogram"])
START = dt.datetime(2024, 1, 1)
DAYS = 60
RET_DAYS = 30
PANDAS_MAX_EVENTS = 300_000


def events_table(n_events: int, seed: int = 7) -> pa.Table:
    """Roughly funnel-shaped events from n/25 people over 60 days."""
    rng = np.random.default_rng(seed)
    n_users = max(10, n_events // 25)
    user = rng.integers(0, n_users, n_events)
    kind = rng.choice(len(EVENTS), n_events, p=[0.45, 0.15, 0.07, 0.04, 0.17, 0.12])
    secs = rng.integers(0, DAYS * 86400, n_events)
    ts = np.datetime64(START, "s") + secs.astype("timedelta64[s]")
    person = np.char.add("u", user.astype(str))
    return pa.table({
        "event_id": pa.array(np.char.add("e", np.arange(n_events).astype(str))),
        "user_id": pa.array(person),
        "event": pa.array(EVENTS[kind]),
        "ts": pa.array(ts.astype("datetime64[us]")),
        "platform": pa.array(PLATFORMS[rng.integers(0, 3, n_events)]),
        "person_id": pa.array(person),
        "is_test": pa.array(np.zeros(n_events, dtype=bool)),
    })


# -- the measured workloads (run in a child process) --------------------------------------------------
def _timed(fn: Any, runs: int = 3) -> tuple[float, Any]:
    """Median of ``runs`` timed calls; with more than one run, after one untimed warm-up call (the
    docstring's "warm runs": DuckDB's buffer pool and chdb's caches filled alike). pandas runs once,
    on frames already in memory."""
    times, out = [], None
    if runs > 1:
        fn()
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _jingyun(home: str, what: str) -> tuple[float, Any]:
    from jingyun.analysis.funnel import FunnelParams, run_funnel
    from jingyun.analysis.retention import RetentionParams, run_retention
    from jingyun.config import load_settings
    from jingyun.warehouse import Warehouse
    from jingyun.warehouse.backends.duckdb import DuckDBBackend

    backend = DuckDBBackend(Warehouse.open(load_settings(home), read_only=True))
    if what == "funnel":
        p = FunnelParams.create(STEPS, "24h", by="platform")
        seconds, r = _timed(lambda: run_funnel(backend, p, compare=False, ttc=False, validate_steps=False))
        return seconds, [s.users for s in r.steps]
    rp = RetentionParams.create("view", "pay", RET_DAYS)
    seconds, rr = _timed(lambda: run_retention(backend, rp))
    return seconds, [sum(c.size for c in rr.cohorts), *(sum(c.retained[k] for c in rr.cohorts) for k in (0, 1, 7, 30))]


def _chdb(parquet: str, what: str) -> tuple[float, Any]:
    import chdb

    src = f"file('{parquet}', Parquet)"
    conds = ", ".join(f"event = '{s}'" for s in STEPS)
    if what == "funnel":
        q = (f"SELECT platform, level, count() FROM (SELECT person_id, argMinIf(platform, ts, event = 'view') AS platform, "
             f"windowFunnel(86400)(toDateTime(ts, 'UTC'), {conds}) AS level FROM {src} GROUP BY person_id) "
             "GROUP BY platform, level FORMAT CSV")
        seconds, out = _timed(lambda: str(chdb.query(q, "CSV")))
        levels: dict[int, int] = {}
        for line in out.strip().splitlines():
            _, lv, c = line.split(",")
            levels[int(lv)] = levels.get(int(lv), 0) + int(c)
        return seconds, [sum(c for lv, c in levels.items() if lv >= k) for k in range(1, 5)]
    local = "toDate(toTimeZone(ts, 'Asia/Shanghai'))"
    ret = ", ".join(f"e.d = c.d0 + {k} AND e.event = 'pay'" for k in range(RET_DAYS + 1))
    q = (f"WITH c AS (SELECT person_id, min({local}) AS d0 FROM {src} WHERE event = 'view' GROUP BY person_id), "
         f"e AS (SELECT person_id, event, {local} AS d FROM {src} WHERE event = 'pay') "
         f"SELECT d0, sumForEach(r) FROM (SELECT c.person_id AS pid, c.d0 AS d0, retention(1, {ret}) AS r "
         "FROM c LEFT JOIN e ON e.person_id = c.person_id GROUP BY c.person_id, c.d0) GROUP BY d0")
    seconds, out = _timed(lambda: str(chdb.query(q, "CSV")))
    total = [0] * (RET_DAYS + 2)
    for line in out.strip().splitlines():
        arr = [int(x) for x in line.split(",", 1)[1].strip('"[]').split(",")]
        total = [a + b for a, b in zip(total, arr, strict=False)]
    return seconds, [total[0], *(total[1 + k] for k in (0, 1, 7, 30))]


def _pandas(parquet: str, what: str) -> tuple[float, Any]:
    """Naive pandas: per-person Python loops (the funnel is windowFunnel's greedy scan)."""
    import pandas as pd

    df = pd.read_parquet(parquet)
    if what == "funnel":
        def funnel() -> list[int]:
            steps = df[df["event"].isin(STEPS)].copy()
            steps["k"] = steps["event"].map({s: i for i, s in enumerate(STEPS)})
            steps = steps.sort_values(["person_id", "ts", "k"])
            counts = [0] * len(STEPS)
            window = pd.Timedelta(hours=24)
            for _, g in steps.groupby("person_id", sort=False):
                starts: list[Any] = [None] * len(STEPS)
                for t, k in zip(g["ts"], g["k"], strict=True):
                    if k == 0:
                        starts[0] = t
                    elif starts[k - 1] is not None and t <= starts[k - 1] + window:
                        starts[k] = starts[k - 1]
                level = max((i + 1 for i, s in enumerate(starts) if s is not None), default=0)
                for i in range(level):
                    counts[i] += 1
            return counts
        return _timed(funnel, runs=1)

    def retention() -> list[int]:
        d = df.assign(day=df["ts"].dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai").dt.date)
        cohort = d[d["event"] == "view"].groupby("person_id")["day"].min().rename("d0").reset_index()
        pays = d[d["event"] == "pay"][["person_id", "day"]].drop_duplicates()
        m = pays.merge(cohort, on="person_id")
        m["k"] = [(a - b).days for a, b in zip(m["day"], m["d0"], strict=True)]
        per_k = m[(m["k"] >= 0) & (m["k"] <= RET_DAYS)].groupby("k")["person_id"].nunique()
        return [len(cohort), *(int(per_k.get(k, 0)) for k in (0, 1, 7, 30))]
    return _timed(retention, runs=1)


def _child(engine: str, what: str, home: str, parquet: str) -> None:
    seconds, result = {"jingyun": lambda: _jingyun(home, what), "chdb": lambda: _chdb(parquet, what),
                       "pandas": lambda: _pandas(parquet, what)}[engine]()
    # VmHWM belongs to this process image (ru_maxrss would carry the parent's peak across exec).
    status = Path("/proc/self/status").read_text().splitlines()
    peak_mb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "result": result}))


def _measure(engine: str, what: str, home: Path, parquet: Path) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    code = f"import bench.bench_analysis as b; b._child({engine!r}, {what!r}, {str(home)!r}, {str(parquet)!r})"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(root)})
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool) -> list[dict[str, Any]]:
    from jingyun.config import load_settings
    from jingyun.warehouse import Warehouse

    n = 200_000 if quick else 10_000_000
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home, parquet, sliced = Path(tmp) / "ws", Path(tmp) / "events.parquet", Path(tmp) / "slice.parquet"
        home.mkdir()
        with Warehouse.open(load_settings(home)) as wh:
            wh.con.register("gen", events_table(n))
            wh.con.execute("INSERT INTO events (event_id, user_id, event, ts, platform, person_id, is_test) SELECT * FROM gen")
            wh.con.unregister("gen")
            cols = "person_id, event, ts, platform"
            wh.con.execute(f"COPY (SELECT {cols} FROM events) TO '{parquet}' (FORMAT parquet)")
            # The pandas slice keeps whole people (a hash bucket of person ids), so its answers scale.
            share = min(1.0, PANDAS_MAX_EVENTS / n)
            buckets = max(1, round(1 / share))
            wh.con.execute(f"COPY (SELECT {cols} FROM events WHERE CAST(substr(person_id, 2) AS BIGINT) % {buckets} = 0) "
                           f"TO '{sliced}' (FORMAT parquet)")
            slice_events = int(wh.rows(f"SELECT count(*) FROM read_parquet('{sliced}')")[0][0])
        rounds = 1 if quick else 3
        for what, label in (("funnel", "4-step funnel, 24 h, by platform"), ("retention", f"{RET_DAYS}-day retention matrix")):
            load_before = os.getloadavg()[0]
            runs: dict[str, list[dict[str, Any]]] = {"jingyun": [], "chdb": [], "pandas": []}
            engines = list(runs)
            for r in range(rounds):
                # Rotate who goes first: a load spike then hurts every side alike over the rounds.
                for engine in engines[r % 3:] + engines[:r % 3]:
                    src = sliced if engine == "pandas" else parquet
                    runs[engine].append(_measure(engine, what, home, src))
            ours_runs, ch_runs, pd_runs = runs["jingyun"], runs["chdb"], runs["pandas"]
            ours_s = statistics.median(x["seconds"] for x in ours_runs)
            ch_s = statistics.median(x["seconds"] for x in ch_runs)
            ratios = [a["seconds"] / b["seconds"] for a, b in zip(ours_runs, ch_runs, strict=True)]
            pd_all = sorted(x["seconds"] * n / slice_events for x in pd_runs)
            pd_seconds = statistics.median(pd_all)
            spread = f"{pd_all[0]:.1f}-{pd_all[-1]:.1f}; " if len(pd_all) > 1 else ""
            rows.append({
                "analysis": label, "events": n,
                "jingyun_s": round(ours_s, 3), "chdb_s": round(ch_s, 3),
                "pandas_s": f"{pd_seconds:.2f} ({spread}scaled from {slice_events:,} events)" if slice_events < n
                else round(pd_seconds, 2),
                "jingyun_vs_chdb": round(ours_s / ch_s, 2),
                "per_round_ratio": " ".join(f"{x:.2f}" for x in ratios),
                "jingyun_vs_pandas": round(ours_s / pd_seconds, 3),
                "jingyun_peak_mb": round(max(x["peak_mb"] for x in ours_runs)),
                "chdb_peak_mb": round(min(x["peak_mb"] for x in ch_runs)),
                "pandas_peak_mb": f"{max(x['peak_mb'] for x in pd_runs):.0f} (slice)" if slice_events < n
                else round(max(x["peak_mb"] for x in pd_runs)),
                "agrees_with_chdb": all(x["result"] == ch_runs[0]["result"] for x in (*ours_runs, *ch_runs)),
                "load_1m": f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}",
            })
    return rows
