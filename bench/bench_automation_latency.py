"""Live automation: trigger latency from an ingest commit to the runtime's decision, under sustained HTTP
ingestion with 100,000 people waiting in absence timers.

The service runs in this process (uvicorn in a thread, the same app as ``jingyun serve``: writer with
group commit, scheduler, live runtime), so the runtime's own clock can be read. One client, in its own
process (so it does not compete with the service for the interpreter, up to 4 requests in flight), posts a batch of 200 events every 100 ms (2,000 events/s, paced, not closed-loop) for 120 s: 95 %
``view_product`` (each opens a 30-minute absence timer of ``abandoned-browse``) and 5 %
``add_to_cart`` (~100/s; ``cart-nudge`` enters at once and decides an inbox send: consent, quiet hours and caps
checked against the delivery log, the decision row written; the message then goes out on the runtime's
sending thread, off the measured path).
Before the clock starts, 100,000 pending absence timers are written to the store (people waiting).

Latency = from the moment the committing thread hands the batch over (right after its commit) to the
end of the runtime's work on it (timers opened, sends decided); p50/p99 weighted by events. Goal
p99 < 1 s. Also reported: the HTTP answer's p99 (the ingest path, which the runtime must not slow).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import random
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

RATE = 2000
BATCH = 200
VIEW_SHARE = 0.95


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed_timers(store: Any, n: int) -> None:
    from jingyun.store.automation import AutomationTimer

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    t = now - dt.timedelta(minutes=5)
    rows = [{"key": f"abandoned-browse:absence:w{i:06d}:{t.isoformat()}", "journey_key": "abandoned-browse",
             "user_id": f"w{i:06d}", "kind": "absence", "due_at": now + dt.timedelta(days=1), "state": "pending",
             "payload": json.dumps({"t": t.isoformat(), "v": 1}), "created_at": now} for i in range(n)]
    with store.session() as ses:
        for k in range(0, n, 10_000):
            ses.execute(AutomationTimer.__table__.insert(), rows[k:k + 10_000])  # type: ignore[attr-defined]


def _client(base: str, key: str, n_batches: int, answers: Any) -> None:
    """Post a batch of BATCH events every BATCH / RATE seconds (paced, up to 4 in flight, as several devices
    would); answer (HTTP latencies, seconds until the last answer, error)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(7)
    http: list[float] = []
    failed: list[str] = []
    started = time.perf_counter()

    def post(client: httpx.Client, events: list[dict[str, Any]]) -> None:
        t = time.perf_counter()
        r = client.post("/api/v1/events/batch", json={"events": events})
        http.append(time.perf_counter() - t)
        if r.status_code != 200:
            failed.append(f"ingest failed: {r.status_code} {r.text[:200]}")

    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60,
                      limits=httpx.Limits(max_connections=4)) as client, ThreadPoolExecutor(4) as pool:
        futures = []
        for b in range(n_batches):
            due = started + b * BATCH / RATE
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            events = [{"event_id": f"b{b}-{i}", "user_id": f"u{rng.randrange(20_000):05d}",
                       "event": "view_product" if rng.random() < VIEW_SHARE else "add_to_cart",
                       "ts": now.isoformat() + "Z"} for i in range(BATCH)]
            futures.append(pool.submit(post, client, events))
            if failed:
                break
        for f in futures:
            f.result()
    answers.put((http, time.perf_counter() - started, "; ".join(failed[:1])))


def run(quick: bool) -> list[dict[str, Any]]:
    import uvicorn

    from jingyun.api.app import create_app
    from jingyun.automation import registry
    from jingyun.automation.journey import parse_journey
    from jingyun.automation.runtime import percentiles
    from jingyun.config import load_settings
    from jingyun.security import auth
    from jingyun.store import open_store

    seconds = 15 if quick else 125
    waiting = 10_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "live"
        os.environ["JINGYUN_HOME"] = str(home)
        os.environ["JINGYUN_INGEST_RATE"] = "100000"
        settings = load_settings(home)
        store = open_store(settings)
        key = auth.create_api_key(store, name="bench", scope="ingest")[1]
        for data in ({"key": "abandoned-browse", "priority": 70,
                      "trigger": {"type": "event", "event": "view_product",
                                  "absent": {"any_of": [{"event": "order"}], "within": "30m"}},
                      "steps": [{"id": "push", "type": "action", "channel": "inbox", "template": "browse"}]},
                     {"key": "cart-nudge", "priority": 50, "entry_limit": "1h",
                      "trigger": {"type": "event", "event": "add_to_cart"},
                      "steps": [{"id": "nudge", "type": "action", "channel": "inbox", "template": "cart"}]}):
            registry.create(store, parse_journey(data))
            registry.activate(store, str(data["key"]))
        _seed_timers(store, waiting)
        app = create_app(settings, store=store)
        port = _port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        runtime = app.state.scheduler.automation
        load0 = os.getloadavg()[0]
        n_batches = seconds * RATE // BATCH
        runtime.stats.latency_s.clear()
        ctx = multiprocessing.get_context("spawn")  # the client in its own process: it must not share the GIL
        answers: Any = ctx.Queue()
        client = ctx.Process(target=_client, args=(base, key, n_batches, answers))
        try:
            client.start()
            http, sent_s, failed = answers.get(timeout=seconds * 4 + 120)
            client.join(timeout=30)
            if failed:
                raise RuntimeError(failed)
            for _ in range(600):  # let the runtime finish the last batches
                if runtime._queue.empty():
                    break
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            server.should_exit = True
            thread.join(timeout=60)
        load1 = os.getloadavg()[0]
        lat = percentiles(list(runtime.stats.latency_s), (0.5, 0.99, 1.0))
        http_sorted = sorted(http)
        stats = runtime.stats
        return [{"events": f"{n_batches * BATCH:,}", "seconds": round(sent_s, 1),
                 "events/s": round(n_batches * BATCH / sent_s), "waiting in timers": f"{waiting:,}",
                 "timers opened": stats.timers_opened, "sends decided": sum(stats.actions.values()),
                 "decision p50 ms": round(lat[0.5] * 1000, 1), "decision p99 ms": round(lat[0.99] * 1000, 1),
                 "decision max ms": round(lat[1.0] * 1000, 1),
                 "HTTP p99 ms": round(http_sorted[int(0.99 * (len(http_sorted) - 1))] * 1000, 1),
                 "load avg start/end": f"{load0:.1f}/{load1:.1f}", "goal p99 ms": 1000}]


if __name__ == "__main__":
    print(run(quick=True))
