"""The cockpit's server time per panel on the demo business (goal: p95 < 300 ms).

Each cockpit panel is requested through the full app (session cookie, routing,
templates) with the default filters; the reference is the library call behind
the panel alone, measured in the same run, so the difference is the web layer.
The scorecard is cached per data version: its first (cold) call is reported too.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def _time(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def run(quick: bool) -> list[dict[str, object]]:
    import datetime as dt

    import numpy as np
    from fastapi.testclient import TestClient

    from jingyun.analysis.anomaly import detect
    from jingyun.api import create_app
    from jingyun.api.app import app_state
    from jingyun.config import load_settings
    from jingyun.demo import DemoParams, build
    from jingyun.metrics.compute import ComputeParams, compute, value_over
    from jingyun.metrics.kpi import scorecard
    from jingyun.metrics.periods import period_of
    from jingyun.security import auth
    from jingyun.warehouse.backends.duckdb import DuckDBBackend
    from jingyun.web import mount
    from jingyun.web.metrics_view import dictionary, targets

    users, days, n = (1000, 60, 5) if quick else (20_000, 365, 30)
    home = Path(tempfile.mkdtemp(prefix="bench_console_"))
    settings = load_settings(home)
    build(settings, DemoParams(users=users, days=days, seed=7))
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    auth.create_person(state.store, username="bench", password="bench-password-1", role="admin", service=state.service)
    rows: list[dict[str, object]] = []
    with TestClient(app) as c:
        c.post("/console/login", data={"username": "bench", "password": "bench-password-1"})
        end = dt.date(2026, 10, 31)
        lo = end - dt.timedelta(days=29)
        q = f"from={lo}&to={end}"
        reader = state.writer.reader()
        backend = DuckDBBackend(reader)
        d, ts = dictionary(settings), targets(settings)

        def series(metric: str) -> tuple[list[dt.date], list[float | None]]:
            res = compute(backend, d, ComputeParams(metric, lo, end, "day"))
            return [p.bucket for p in res.points], [p.value for p in res.points]
        cold = _time(lambda: c.get(f"/console/panel/scorecard?{q}"), 1)[0]
        cold_alerts = _time(lambda: c.get(f"/console/panel/alerts?{q}"), 1)[0]
        panels: dict[str, tuple[str, Callable[[], Any]]] = {
            "kpi gmv": (f"/console/panel/kpi?{q}&id=gmv",
                        lambda: value_over(backend, d, "gmv", lo, end, timezone=settings.timezone)),
            "kpi conversion (daily mean)": (f"/console/panel/kpi?{q}&id=conversion",
                                            lambda: compute(backend, d, ComputeParams("conversion_rate", lo, end, "day"))),
            "trend gmv + anomalies": (f"/console/panel/trend?{q}&metric=gmv",
                                      lambda: compute(backend, d, ComputeParams("gmv", lo, end, "day"))),
            "scorecard (cached)": (f"/console/panel/scorecard?{q}",
                                   lambda: scorecard(backend, d, ts, period_of("month", end), settings.timezone)),
            "alerts (cached)": (f"/console/panel/alerts?{q}", lambda: [
                detect(pts, np.array([np.nan if v is None else v for v in vals]))
                for pts, vals in (series(m) for m in ("gmv", "orders", "conversion_rate"))]),
            "drill-down gmv by channel": (f"/console/panel/breakdown?{q}&metric=gmv",
                                          lambda: compute(backend, d, ComputeParams("gmv", lo, end, "total",
                                                                                    "users.channel"))),
        }
        for name, (url, ref) in panels.items():
            assert c.get(url).status_code == 200
            web = _time(lambda url=url: c.get(url), n)
            lib = _time(ref, max(3, n // 3) if name.startswith("scorecard") else n)
            rows.append({"panel": name, "users": users, "runs": n, "web p50 ms": round(statistics.median(web), 1),
                         "web p95 ms": round(_p95(web), 1), "library p50 ms": round(statistics.median(lib), 1),
                         "goal p95 < 300 ms": "yes" if _p95(web) < 300 else "no"})
        rows.append({"panel": "alerts (cold, first view)", "users": users, "runs": 1, "web p50 ms": round(cold_alerts, 1),
                     "web p95 ms": round(cold_alerts, 1), "library p50 ms": "",
                     "goal p95 < 300 ms": "yes" if cold_alerts < 300 else "no"})
        rows.append({"panel": "scorecard (cold, first view)", "users": users, "runs": 1, "web p50 ms": round(cold, 1),
                     "web p95 ms": round(cold, 1), "library p50 ms": "", "goal p95 < 300 ms": "yes" if cold < 300 else "no"})
        # The first view after each ingestion recomputes the card: repeat it with the cache emptied
        # (one cold view is one sample on a shared machine).
        from jingyun.web.routes import cockpit

        def cold_view() -> Any:
            cockpit._SCORECARDS.clear()
            return c.get(f"/console/panel/scorecard?{q}")
        colds = _time(cold_view, max(3, n // 3))
        rows.append({"panel": "scorecard (cold, cache emptied each run)", "users": users, "runs": len(colds),
                     "web p50 ms": round(statistics.median(colds), 1), "web p95 ms": round(_p95(colds), 1),
                     "library p50 ms": "", "goal p95 < 300 ms": "yes" if _p95(colds) < 300 else "no"})
        for row in rows:
            row["load (1 min) at end"] = ""
        rows[-1]["load (1 min) at end"] = round(os.getloadavg()[0], 2)
        reader.close()
    return rows
