"""Alert rules: evaluating 200 rules (threshold, change vs previous period, consecutive, stop-loss,
anomaly, over 16 dictionary metrics at day/week/month) for the demo year's last day, with diagnosis
of what fired; goal < 5 s on the 50,000-user demo. Set JINGYUN_BENCH_ALERTS_HOME to reuse a built demo."""

from __future__ import annotations

import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from jingyun.config import load_settings
from jingyun.demo.build import build
from jingyun.demo.params import DemoParams
from jingyun.metrics.dictionary import load_dictionary
from jingyun.ops.alerts.evaluate import evaluate
from jingyun.ops.alerts.rules import parse_rules
from jingyun.ops.alerts.service import run as run_alerts
from jingyun.store.db import open_store
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import open_backend

METRICS = ["gmv", "orders", "aov", "buyers", "conversion_rate", "refund_rate", "new_users", "dau", "visitors",
           "revenue", "new_customers", "cac", "roi", "marketing_spend", "gross_profit", "repurchase_rate"]


def rules(n: int = 200) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < n:
        m = METRICS[i % len(METRICS)]
        variant = i // len(METRICS)
        kind = ("change", "threshold", "consecutive", "stop_loss", "change", "change")[variant % 6]
        period = ("day", "week", "month")[(i // 3) % 3] if kind == "change" else ("day" if kind != "stop_loss" else "month")
        r: dict[str, Any] = {"id": f"r{i:03d}", "kind": kind, "metric": m, "period": period}
        if kind in ("threshold", "stop_loss", "consecutive"):
            r.update(op=">", value=1e12 if variant % 2 else 0, periods=3)
        if kind == "stop_loss":
            r["plan"] = "紧急预案"
        out.append(r)
        i += 1
    out[-8:] = [{"id": f"an{k}", "kind": "anomaly", "metric": m} for k, m in
                enumerate(["gmv", "orders", "aov", "visitors", "conversion_rate", "new_users", "gmv", "orders"])]
    return {"rules": out}


def run(quick: bool) -> list[dict[str, Any]]:
    given = os.environ.get("JINGYUN_BENCH_ALERTS_HOME")
    home = Path(given) if given else Path(tempfile.mkdtemp(prefix="bench_alerts_"))
    settings = load_settings(home)
    params = DemoParams(users=3000, days=120) if quick else DemoParams()
    if not settings.warehouse_path.exists():
        build(settings, params)
    # the home's own rules are replaced by the 200 (a given home keeps its demo rules in alert_rules.yaml.demo)
    own = home / "alert_rules.yaml"
    if own.exists() and not (home / "alert_rules.yaml.demo").exists():
        own.rename(home / "alert_rules.yaml.demo")
    own.write_text(yaml.safe_dump(rules(), allow_unicode=True), encoding="utf-8")
    d = load_dictionary(settings)
    rs = parse_rules(rules(), d, None)
    day = dt.date(2026, 10, 31)
    wh = Warehouse.open(settings, read_only=True)
    backend = open_backend(settings, warehouse=wh)
    store = open_store(settings)
    times, fired, due = [], 0, 0
    for _ in range(3):
        t = time.perf_counter()
        ev = evaluate(backend, d, rs, day, timezone=settings.timezone)
        times.append(time.perf_counter() - t)
        fired, due = len(ev.findings), len(ev.findings) + len(ev.quiet)
    t = time.perf_counter()
    got = run_alerts(settings, backend, store, day, send=False)
    full = time.perf_counter() - t
    wh.close()
    store.close()
    users = f"{params.users:,}" if not given else "given home"
    return [{"rules": len(rs.rules), "judged (due)": due, "fired": fired, "demo users": users,
             "evaluate median s": round(statistics.median(times), 2), "evaluate first s": round(times[0], 2),
             "evaluate + store s": round(full, 2), "alerts opened": len(got.outcomes), "goal s": 5}]


if __name__ == "__main__":
    print(run(quick=True))
