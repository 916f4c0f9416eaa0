"""Ingestion throughput over HTTP on loopback: ``jingyun serve`` in a subprocess,
several concurrent client processes posting batches of 500 events.

Reported: events/s and p50/p99 latency per batch at two concurrencies, next
to references measured in the same run — the same batches through
``ingest_json_lines`` in process (no HTTP): one batch per transaction, and
8 batches (4,000 events) per transaction, which is what group commit can at
best coalesce from 8 waiting clients. Goal on a 2-core machine: >= 25,000
events/s, p99 < 200 ms per batch.

The clients (changed 2026-11-24, to measure the server rather than the
client): each client is its own process with one keep-alive connection,
opened before the clock starts, and its request bodies encoded before the
clock starts; the clock runs from sending a ready body to receiving the
whole answer. Until then one Python process drove all 8-16 connections with
async tasks, encoding each body on its event loop: on 2 cores shared with the
server that process was itself CPU-bound, and the first wave of every run
(all clients encoding and connecting at once) set the p99 — a traced run
showed the server's own p99 at 174 ms while that client measured 338 ms.
Encoding and connecting are the client machine's work in a deployment, not
the server's. The server, the batches and the references are unchanged.

Where the time goes (traced per commit, per request, per GC pause, 2026-11-24):
a commit of ``ingest_json_lines`` costs ~50 ms for 500 events and ~60 ms for
4,000 — nearly all fixed: the one staging statement is ~27 ms at 500 and
~36 ms at 4,000 (``EXPLAIN`` of it alone ~21 ms), dedup ~6 ms, insert ~5 ms,
commit ~2-6 ms. The service's own Python work is ~3 ms per 500-event request.
The p99 tail had three causes, each fixed in ``jingyun.api.writer`` and
``jingyun serve``: (1) groups split into 7 + 1 requests (the first request
of a wave was committed alone while the rest were still being parsed), so
most requests waited two commits — requests are now announced on arrival and
a commit waits for the wave; (2) DuckDB's automatic checkpoint ran inside the
commit that crossed 16 MB of WAL (~180 ms instead of ~90 for every request in
it) — the writer now checkpoints between commits (idle, or past 8 MB with
nothing waiting: ~65 ms, overlapping the next wave's parsing); (3) ~500 GC
collections per 100,000 events, full ones 4-20 ms — start-up objects are
frozen and the gen-0 threshold raised. In a closed loop latency is bounded
below by Little's law, clients x 500 / events per second: at 16 clients
p99 < 200 ms would need well over 40,000 events/s.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

BATCH = 500


def _batch(tag: str, b: int) -> list[dict[str, Any]]:
    return [{"event_id": f"{tag}-{b}-{i}", "user_id": f"u{(b * BATCH + i) % 5000}", "event": "view_product",
             "ts": "2024-05-01T08:00:00Z", "platform": "app", "properties": {"product_id": f"p{i % 300}"}}
            for i in range(BATCH)]


def _batches(n_batches: int, tag: str) -> list[list[dict[str, Any]]]:
    return [_batch(tag, b) for b in range(n_batches)]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(base: str, key: str, tag: str, numbers: list[int], start: Barrier, out: Any) -> None:
    """One client process: a blocking httpx client on one keep-alive connection, like an SDK's sender.

    Its bodies are encoded before the clock starts, and the connection is opened then too: the
    latency measured is the server's answer to a ready request, not this client's JSON encoding
    or TCP handshake, which on a real deployment run on the clients' own machines, not on the
    server's two cores.
    """
    bodies = [json.dumps({"events": _batch(tag, b)}).encode() for b in numbers]
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    failure = ""
    latencies: list[float] = []
    began = ended = 0.0
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            client.get("/healthz")
            start.wait(timeout=300)
            began = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes on one machine
            for body in bodies:
                t = time.perf_counter()
                r = client.post("/api/v1/events/batch", content=body)
                latencies.append(time.perf_counter() - t)
                if not failure and (r.status_code != 200 or r.json()["accepted"] != BATCH):
                    failure = f"batch failed: {r.status_code} {r.text[:200]}"
            ended = time.perf_counter()
    except Exception as exc:  # reported by the parent; a broken barrier releases the other clients
        failure = failure or f"client failed: {exc!r}"
        start.abort()
    out.put((began, ended, latencies, failure))


def _clients(base: str, key: str, n_batches: int, tag: str, concurrency: int) -> tuple[float, list[float]]:
    """``concurrency`` client processes share ``n_batches`` batches; wall time from the first send to the last answer.

    Separate processes rather than tasks in one event loop: one Python process driving 8-16
    connections was itself CPU-bound on this 2-core machine (encoding bodies, parsing answers),
    so its own event-loop queueing showed up as server latency.
    """
    ctx = mp.get_context("spawn")  # no fork of a process that has loaded DuckDB
    start, out = ctx.Barrier(concurrency), ctx.Queue()
    procs = [ctx.Process(target=_client, args=(base, key, tag, list(range(c, n_batches, concurrency)), start, out))
             for c in range(concurrency)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    failures = [f for *_, f in results if f]
    if failures:
        raise RuntimeError(failures[0])
    seconds = max(r[1] for r in results) - min(r[0] for r in results)
    return seconds, [lat for r in results for lat in r[2]]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _reference(home: Path, batches: list[list[dict[str, Any]]], per_call: int = 1) -> tuple[float, list[float]]:
    """``per_call`` batches per ingest_json_lines call; the latency is the call's (every batch in it waits for it)."""
    from jingyun.config import load_settings
    from jingyun.ingest import ingest_json_lines
    from jingyun.warehouse import Warehouse

    wh = Warehouse.open(load_settings(home))
    lat = []
    t0 = time.perf_counter()
    for n in range(0, len(batches), per_call):
        events = [e for batch in batches[n:n + per_call] for e in batch]
        t = time.perf_counter()
        ingest_json_lines(wh, "events", [(i + 1, json.dumps(e)) for i, e in enumerate(events)], source=f"ref:{n}")
        lat += [time.perf_counter() - t] * len(batches[n:n + per_call])
    total = time.perf_counter() - t0
    wh.close()
    return total, lat


def _row(path: str, events: int, seconds: float, lat: list[float], goal: bool) -> dict[str, Any]:
    eps, p99 = events / seconds, _pct(lat, 0.99) * 1000
    return {"path": path, "events": events, "events/s": f"{eps:,.0f}", "p50 ms/batch": round(_pct(lat, 0.5) * 1000, 1),
            "p99 ms/batch": round(p99, 1), "goal": ">= 25,000/s, p99 < 200 ms" if goal else "",
            "meets goal": ("yes" if eps >= 25_000 and p99 < 200 else "NO") if goal else ""}


def run(quick: bool) -> list[dict[str, Any]]:
    # jingyun is imported here, not at the top: the client processes import this module and need only httpx
    from jingyun.config import load_settings
    from jingyun.security import auth
    from jingyun.store import open_store

    n_batches = 20 if quick else 200
    concurrencies = (4,) if quick else (8, 16)
    rows: list[dict[str, Any]] = []
    events = n_batches * BATCH
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
            _clients(base, key, 4, "warm", 2)
            for c in concurrencies:
                seconds, lat = _clients(base, key, n_batches, f"api{c}", c)
                rows.append(_row(f"HTTP, {c} client processes, group commit", events, seconds, lat, True))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        ref_home = Path(tmp) / "ref"
        _reference(ref_home, _batches(2, "warm"))
        ref_seconds, ref_lat = _reference(ref_home, _batches(n_batches, "ref"))
        rows.append(_row("reference: ingest_json_lines in process, 1 batch/transaction", events, ref_seconds, ref_lat,
                         False))
        grp_seconds, grp_lat = _reference(ref_home, _batches(n_batches, "grp"), per_call=8)
        rows.append(_row("reference: ingest_json_lines in process, 8 batches/transaction", events, grp_seconds,
                         grp_lat, False))
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
