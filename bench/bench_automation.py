"""Automation: `journey simulate` of the three demo journeys (abandoned browse, birthday coupon, 30-day
care) together over the 50,000-user demo year, guard rails included; goal < 10 s. Set
JINGYUN_BENCH_AUTOMATION_HOME to reuse a built demo (its warehouse is only read)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from jingyun.automation.guards import GuardRules
from jingyun.automation.journey import load_file
from jingyun.automation.simulate import simulate
from jingyun.config import load_settings
from jingyun.demo.build import build
from jingyun.demo.params import DemoParams
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import open_backend

JOURNEYS = Path(__file__).parents[1] / "src" / "jingyun" / "demo" / "journeys"


def run(quick: bool) -> list[dict[str, Any]]:
    given = os.environ.get("JINGYUN_BENCH_AUTOMATION_HOME")
    home = Path(given) if given else Path(tempfile.mkdtemp(prefix="bench_automation_"))
    settings = load_settings(home)
    params = DemoParams(users=3000, days=120) if quick else DemoParams()
    if not settings.warehouse_path.exists():
        build(settings, params)
    journeys = [load_file(p) for p in sorted(JOURNEYS.glob("*.yaml"))]
    wh = Warehouse.open(settings, read_only=True)
    backend = open_backend(settings, warehouse=wh)
    start, end = wh.rows("SELECT CAST(min(ts) AS DATE), CAST(max(ts) AS DATE) FROM events")[0]
    events = int(wh.rows("SELECT count(*) FROM events")[0][0])
    rules = GuardRules.from_settings(settings)
    times, cpu, results = [], [], []
    load0 = os.getloadavg()[0]
    for _ in range(1 if quick else 3):
        t, c = time.perf_counter(), time.process_time()
        results = simulate(backend, journeys, start, end, timezone=settings.timezone, rules=rules, with_users=True)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    wh.close()
    users = f"{params.users:,}" if not given else "given home"
    return [{"journey": r.journey, "days": f"{start}..{end}", "events": f"{events:,}", "demo users": users,
             "entered": r.entered, "actions": sum(r.actions.values()),
             "suppressed": sum(r.suppressed.values()),
             "simulate (all 3) median s": round(statistics.median(times), 2), "first s": round(times[0], 2),
             "all runs s": "/".join(f"{x:.1f}" for x in times), "CPU s (median, all threads)": round(statistics.median(cpu), 2),
             "goal s": 10, "load avg start/end": f"{load0:.1f}/{os.getloadavg()[0]:.1f}"} for r in results]


if __name__ == "__main__":
    print(run(quick=True))
