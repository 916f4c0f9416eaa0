"""Ingestion throughput over HTTP on loopback: ``jingyun serve`` in a subprocess,
several concurrent httpx async clients posting batches of 500 events.

Reported: events/s and p50/p99 latency per batch, next to the reference
measured in the same run — the same batches through ``ingest_json_lines``
in process, one batch per transaction (no HTTP, no group commit).
Goal on a 2-core machine: >= 25,000 events/s, p99 < 200 ms per batch.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from jingyun.config import load_settings
from jingyun.ingest import ingest_json_lines
from jingyun.security import auth
from jingyun.store import open_store
from jingyun.warehouse import Warehouse

BATCH = 500


def _batches(n_batches: int, tag: str) -> list[list[dict[str, Any]]]:
    return [[{"event_id": f"{tag}-{b}-{i}", "user_id": f"u{(b * BATCH + i) % 5000}", "event": "view_product",
              "ts": "2024-05-01T08:00:00Z", "platform": "app", "properties": {"product_id": f"p{i % 300}"}}
             for i in range(BATCH)] for b in range(n_batches)]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _clients(base: str, key: str, batches: list[list[dict[str, Any]]], concurrency: int) -> tuple[float, list[float]]:
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    latencies: list[float] = []

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
            while not queue.empty():
                batch = queue.get_nowait()
                t = time.perf_counter()
                r = await client.post("/api/v1/events/batch", json={"events": batch})
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200 or r.json()["accepted"] != BATCH:
                    raise RuntimeError(f"batch failed: {r.status_code} {r.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _reference(home: Path, batches: list[list[dict[str, Any]]]) -> tuple[float, list[float]]:
    wh = Warehouse.open(load_settings(home))
    lat = []
    t0 = time.perf_counter()
    for n, batch in enumerate(batches):
        t = time.perf_counter()
        ingest_json_lines(wh, "events", [(i + 1, json.dumps(e)) for i, e in enumerate(batch)], source=f"ref:{n}")
        lat.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    wh.close()
    return total, lat


def run(quick: bool) -> list[dict[str, Any]]:
    n_batches = 20 if quick else 200
    concurrency = 4 if quick else 8
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "api"
        store = open_store(load_settings(home))
        key = auth.create_api_key(store, name="bench", scope="ingest")[1]
        store.close()
        port = _port()
        env = {**os.environ, "JINGYUN_HOME": str(home), "JINGYUN_INGEST_RATE": "100000"}
        proc = subprocess.Popen([sys.executable, "-m", "jingyun.cli.main", "serve", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            asyncio.run(_clients(base, key, _batches(4, "warm"), 2))
            seconds, lat = asyncio.run(_clients(base, key, _batches(n_batches, "api"), concurrency))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        ref_home = Path(tmp) / "ref"
        _reference(ref_home, _batches(2, "warm"))
        ref_seconds, ref_lat = _reference(ref_home, _batches(n_batches, "ref"))
    events = n_batches * BATCH
    eps = events / seconds
    p99 = _pct(lat, 0.99) * 1000
    rows.append({
        "path": f"HTTP, {concurrency} async clients, group commit", "events": events,
        "events/s": f"{eps:,.0f}", "p50 ms/batch": round(_pct(lat, 0.5) * 1000, 1), "p99 ms/batch": round(p99, 1),
        "goal": ">= 25,000/s, p99 < 200 ms", "meets goal": "yes" if eps >= 25_000 and p99 < 200 else "NO",
    })
    rows.append({
        "path": "reference: ingest_json_lines in process, 1 batch/transaction", "events": events,
        "events/s": f"{events / ref_seconds:,.0f}", "p50 ms/batch": round(_pct(ref_lat, 0.5) * 1000, 1),
        "p99 ms/batch": round(_pct(ref_lat, 0.99) * 1000, 1), "goal": "", "meets goal": "",
    })
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
