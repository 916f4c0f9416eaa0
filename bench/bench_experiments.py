"""Experiments: in-process assignment throughput and warehouse analysis time.

Assignment (`assign(user_id, experiment)`, SHA-256 bucketing, range lookup,
result object) is set against a bare `hashlib.sha256` loop over the same
strings in the same run — the floor any SHA-based assignment can reach in
Python. Analysis runs `analyze_experiment` (first exposure per person,
conversion and revenue in the 7-day window, pre-period covariates for CUPED,
per-day aggregates, inference, verdict) on synthetic users in an in-memory
DuckDB warehouse, against a plain scan that only counts exposures per
variation.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from jingyun.config import load_settings
from jingyun.experiments.analyze import AnalysisOptions, analyze_experiment
from jingyun.experiments.assignment import assign, evaluate_flag
from jingyun.experiments.definition import Experiment, Flag, Variation
from jingyun.warehouse import Warehouse

KEY = "checkout_copy_v2"


def _best(fn: Any, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _assignment_rows(n: int) -> list[dict[str, Any]]:
    ids = [f"user-{i}" for i in range(n)]
    exp = Experiment(KEY, (Variation("control", 0.9), Variation("treatment", 0.1))).validate()
    flag = Flag("new_checkout", rollout=0.1)
    keys = [f"{KEY}/variation/{u}" for u in ids]

    def reference() -> None:
        sha = hashlib.sha256
        for k in keys:
            sha(k.encode()).digest()

    ref = _best(reference)
    t_assign = _best(lambda: [assign(u, exp) for u in ids])
    t_flag = _best(lambda: [evaluate_flag(u, flag) for u in ids])
    return [
        {"measure": f"assign() in-process, {n:,} ids", "per_s": f"{n / t_assign:,.0f}",
         "reference": "bare hashlib.sha256 loop", "reference_per_s": f"{n / ref:,.0f}",
         "ratio": f"{t_assign / ref:.1f}× the bare hash"},
        {"measure": f"evaluate_flag() in-process, {n:,} ids", "per_s": f"{n / t_flag:,.0f}",
         "reference": "bare hashlib.sha256 loop", "reference_per_s": f"{n / ref:,.0f}",
         "ratio": f"{t_flag / ref:.1f}× the bare hash"},
    ]


def _plant(wh: Warehouse, users: int) -> None:
    """Exposures over 14 days, ~10% pay (11% in treatment), a pre-period pay for ~8%, orders."""
    wh.con.execute(f"""
        CREATE TEMP TABLE u AS
        SELECT i, 'u' || i AS uid,
               CASE WHEN hash(i) % 2 = 0 THEN 'control' ELSE 'treatment' END AS variation,
               TIMESTAMP '2026-03-01' + to_seconds(CAST(hash(i * 7) % 1209600 AS BIGINT)) AS t0,
               (hash(i * 13) % 10000) / 10000.0 AS r1, (hash(i * 17) % 10000) / 10000.0 AS r2
        FROM range({users}) t(i)""")
    wh.con.execute("""
        INSERT INTO events (event_id, user_id, event, ts, properties, person_id, is_test)
        SELECT 'x' || i, uid, 'exp_exposure', t0,
               CAST(json_object('experiment', 'checkout_copy_v2', 'variation', variation) AS JSON), uid, false FROM u
        UNION ALL
        SELECT 'p' || i, uid, 'pay', t0 + INTERVAL 2 DAY, CAST('{}' AS JSON), uid, false FROM u
        WHERE r1 < CASE WHEN variation = 'treatment' THEN 0.11 ELSE 0.10 END
        UNION ALL
        SELECT 'q' || i, uid, 'pay', t0 - INTERVAL 3 DAY, CAST('{}' AS JSON), uid, false FROM u WHERE r2 < 0.08
        UNION ALL
        SELECT 'v' || i, uid, 'view_product', t0 + INTERVAL 1 HOUR, CAST('{}' AS JSON), uid, false FROM u""")
    wh.con.execute("""
        INSERT INTO orders (order_id, user_id, ts, amount, status, person_id, is_test)
        SELECT 'o' || i, uid, t0 + INTERVAL 2 DAY, CAST(50 + (hash(i * 19) % 20000) / 100.0 AS DECIMAL(18,2)),
               'paid', uid, false FROM u
        WHERE r1 < CASE WHEN variation = 'treatment' THEN 0.11 ELSE 0.10 END""")
    wh.con.execute("DROP TABLE u")


def _analysis_rows(users: int) -> list[dict[str, Any]]:
    settings = load_settings()
    with Warehouse.open(settings, memory=True) as wh:
        wh.con.execute("SET memory_limit = '3GB'")
        t = time.perf_counter()
        _plant(wh, users)
        t_plant = time.perf_counter() - t
        exp = Experiment(KEY, secondary_metrics=("revenue", "aov")).validate()
        scan_sql = (
            "SELECT json_extract_string(properties, '$.variation') AS v, count(DISTINCT person_id) FROM events "
            "WHERE event = 'exp_exposure' AND json_extract_string(properties, '$.experiment') = 'checkout_copy_v2' GROUP BY v"
        )
        t_scan = _best(lambda: wh.con.execute(scan_sql).fetchall(), 2)
        res = analyze_experiment(wh, exp, AnalysisOptions())
        t_an = _best(lambda: analyze_experiment(wh, exp, AnalysisOptions()), 2)
        t_seq = _best(lambda: analyze_experiment(wh, exp, AnalysisOptions(sequential=True, cuped=False)), 2)
    conv = res.metrics[0].variations[0]
    return [
        {"measure": f"analyze_experiment, {users:,} users (CUPED, 3 metrics, daily series)", "seconds": f"{t_an:.2f}",
         "reference": "count distinct exposed per variation (scan only)", "reference_seconds": f"{t_scan:.2f}",
         "ratio": f"{t_an / t_scan:.1f}×", "note": f"lift {conv.uplift_rel:+.3f} (planted +0.100), data built in {t_plant:.1f} s"},
        {"measure": f"analyze_experiment, {users:,} users (sequential, no CUPED)", "seconds": f"{t_seq:.2f}",
         "reference": "count distinct exposed per variation (scan only)", "reference_seconds": f"{t_scan:.2f}",
         "ratio": f"{t_seq / t_scan:.1f}×", "note": ""},
    ]


def run(quick: bool) -> list[dict[str, Any]]:
    return _assignment_rows(20_000 if quick else 1_000_000) + _analysis_rows(50_000 if quick else 1_000_000)


if __name__ == "__main__":  # pragma: no cover
    for row in run(quick=True):
        print(row)
