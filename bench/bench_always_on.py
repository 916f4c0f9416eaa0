"""Reads never wait for writes: the console and HTTP ingestion while a big file is ingested through the service.

A real `jingyun serve` runs on a demo home (BENCH_AO_USERS users, BENCH_AO_DAYS days; 20,000 and 90 by
default). One console user (an admin, signed in) keeps opening panels, one after another with a short
pause: the funnel and the cockpit's GMV KPI card over the demo's last 30 days. An HTTP client posts
100-event batches to /api/v1/events/batch with an ingest key at a steady rate (BENCH_AO_RATE batches/s,
default 10), open loop: each batch is sent at its planned time on a pool of connections, so a stall
shows in every batch planned during it instead of delaying the next send. Both run for BENCH_AO_IDLE_S
seconds with the service otherwise idle, then while `jingyun ingest events <file>` from another process
runs through the service's control channel, then idle again (the data has grown by then).

The file holds BENCH_AO_EVENTS events (5,000,000 by default; the generator of the ingestion benchmark,
Parquet, timestamped in 2024 and with users of its own, so the panels' 30 days read the same rows in
every phase). Its ingest is timed through the service and, before the service starts, directly on a
copy of the same home (no service), so the two throughputs compare the same work.

Goal (issue 16): panel p95 while ingesting at most 2x idle, and HTTP ingest p99 under 500 ms throughout.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.bench_ingest import EVENT_SQL


# The ingestion benchmark's events, in 2024 and with ids of their own ('f' prefix): the demo ends on
# 2026-10-31, and the panels read its last 30 days, so the file adds rows they never scan.
def file_sql(n: int) -> str:
    return EVENT_SQL.format(p="f", year=2024, start=0, stop=n)

END = "2026-10-31"
PANELS = {
    "funnel": "/console/panel/funnel?from=2026-10-02&to=2026-10-31&steps=view_product,add_to_cart,checkout,pay",
    "kpi gmv": "/console/panel/kpi?from=2026-10-02&to=2026-10-31&id=gmv",
}
PASSWORD = "bench-password-1"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _jingyun(home: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JINGYUN_HOME": str(home), "JINGYUN_CLI_SESSION": "off"}
    return subprocess.run([sys.executable, "-m", "jingyun.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _checked(result: subprocess.CompletedProcess[str]) -> Any:
    if result.returncode != 0:
        raise RuntimeError(f"exit {result.returncode}: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _make_file(path: Path, n: int) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"COPY ({file_sql(n)}) TO '{path}' (FORMAT parquet)")
    con.close()


def _prepare_home(home: Path, users: int, days: int) -> tuple[str]:
    """Demo data, a console admin and an ingest key (the metadata store is open to many processes)."""
    from jingyun.config import load_settings
    from jingyun.security import auth
    from jingyun.store import open_store

    _checked(_jingyun(home, "demo", "--users", str(users), "--days", str(days), "--end-date", END, "--no-tour", "--json"))
    store = open_store(load_settings(home))
    try:
        auth.create_person(store, username="bench", password=PASSWORD, role="admin")
        return (auth.create_api_key(store, name="bench-gw", scope="ingest")[1],)
    finally:
        store.close()


class Service:
    """`jingyun serve` on a home, in a folder of its own."""

    def __init__(self, home: Path, workdir: Path):
        import httpx

        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "serve.log"
        self._log = self.log_path.open("w")
        env = {**os.environ, "JINGYUN_HOME": str(home)}
        self.proc = subprocess.Popen([sys.executable, "-m", "jingyun.cli.main", "serve", "--port", str(self.port)],
                                     env=env, cwd=workdir, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200 and (home / "run" / "owner.json").exists():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the service did not start in 120 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Console(threading.Thread):
    """One signed-in console user opening the panels in turn, ``pause_s`` apart; latencies per panel, in ms."""

    def __init__(self, base: str, pause_s: float = 0.1):
        super().__init__(daemon=True)
        import httpx

        self.client = httpx.Client(base_url=base, timeout=120)
        r = self.client.post("/console/login", data={"username": "bench", "password": PASSWORD})
        if r.status_code not in (200, 303) or not self.client.cookies:
            raise RuntimeError(f"console sign-in failed: {r.status_code} {r.text[:200]}")
        self.pause_s = pause_s
        self.record: dict[str, list[float]] | None = None
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for name, url in PANELS.items():
                started = time.perf_counter()
                r = self.client.get(url)
                ms = (time.perf_counter() - started) * 1000
                if r.status_code != 200 or 'role="alert"' in r.text:
                    self.errors.append(f"{name}: {r.status_code} {r.text[:200]}")
                elif self.record is not None:
                    self.record.setdefault(name, []).append(ms)
                self._halt.wait(self.pause_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=180)
        self.client.close()


class Poster(threading.Thread):
    """100-event batches at ``rate`` per second, each sent at its planned time (open loop) on a pool of
    connections; a batch's latency counts from its planned time, so time spent waiting for a free
    connection behind a stall counts too."""

    def __init__(self, base: str, key: str, rate: float, batch: int = 100, prefix: str = "h"):
        super().__init__(daemon=True)
        self.base, self.key, self.rate, self.batch, self.prefix = base, key, rate, batch, prefix
        self.record: list[float] | None = None
        self.errors: list[str] = []
        self.accepted = 0
        self._halt = threading.Event()
        self._local = threading.local()
        self._clients: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def _client(self) -> Any:
        import httpx

        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(base_url=self.base, timeout=120, headers={"X-API-Key": self.key})
            self._clients.put(client)
        return client

    def _send(self, n: int, planned: float, record: list[float] | None) -> None:
        events = [{"event_id": f"{self.prefix}{n}-{i}", "user_id": f"hu{(n * self.batch + i) % 500}",
                   "event": "http_ping", "ts": "2024-05-01T08:00:00Z"} for i in range(self.batch)]
        try:
            r = self._client().post("/api/v1/events/batch", json={"events": events})
        except Exception as exc:  # counted, never fatal: the table says how many failed
            self.errors.append(repr(exc))
            return
        ms = (time.perf_counter() - planned) * 1000
        if r.status_code != 200:
            self.errors.append(f"{r.status_code} {r.text[:200]}")
            return
        self.accepted += int(r.json()["accepted"])
        if record is not None:
            record.append(ms)

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="bench-post") as pool:
            start, n = time.perf_counter(), 0
            while not self._halt.is_set():
                planned = start + n / self.rate
                delay = planned - time.perf_counter()
                if delay > 0 and self._halt.wait(delay):
                    break
                pool.submit(self._send, n, planned, self.record)
                n += 1
        while not self._clients.empty():
            self._clients.get().close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=180)


def _phase(console: Console, poster: Poster, seconds: float | None, proc: subprocess.Popen[str] | None = None
           ) -> tuple[dict[str, list[float]], list[float], float]:
    """Record both clients for ``seconds``, or until ``proc`` ends; answers the records and the phase's seconds."""
    panels: dict[str, list[float]] = {}
    posts: list[float] = []
    console.record, poster.record = panels, posts
    started = time.perf_counter()
    if proc is not None:
        proc.wait()
    else:
        assert seconds is not None
        time.sleep(seconds)
    took = time.perf_counter() - started
    console.record, poster.record = None, None
    time.sleep(0.5)  # let requests in flight land (they are no longer recorded)
    return panels, posts, took


def run(quick: bool) -> list[dict[str, object]]:
    n = 100_000 if quick else _env_int("BENCH_AO_EVENTS", 5_000_000)
    users = 1_000 if quick else _env_int("BENCH_AO_USERS", 20_000)
    days = 30 if quick else _env_int("BENCH_AO_DAYS", 90)
    idle_s = 8.0 if quick else float(os.environ.get("BENCH_AO_IDLE_S", 30))
    rate = float(os.environ.get("BENCH_AO_RATE", 10))
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench_always_on_", dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp)
        home, direct = root / "served", root / "direct"
        file = root / "events.parquet"
        (key,) = _prepare_home(home, users, days)
        _make_file(file, n)
        shutil.copytree(home, direct)  # the same data for the direct run, before the service starts
        started = time.perf_counter()
        direct_report = _checked(_jingyun(direct, "ingest", "events", str(file), "--json"))
        direct_s = time.perf_counter() - started
        shutil.rmtree(direct)

        service = Service(home, root / "service-cwd")
        try:
            console = Console(service.base)
            poster = Poster(service.base, key, rate)
            console.start()
            poster.start()
            time.sleep(2)  # warm: first views compile templates and fill caches
            phases: list[tuple[str, dict[str, list[float]], list[float], float]] = []
            phases.append(("idle, before", *_phase(console, poster, idle_s)))
            env = {**os.environ, "JINGYUN_HOME": str(home), "JINGYUN_CLI_SESSION": "off"}
            proc = subprocess.Popen([sys.executable, "-m", "jingyun.cli.main", "ingest", "events", str(file), "--json"],
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            panels, posts, took = _phase(console, poster, None, proc)
            out, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"ingest through the service: exit {proc.returncode}: {err.strip()[-2000:]}")
            served_report = json.loads(out)
            phases.append(("ingesting through the service", panels, posts, took))
            phases.append(("idle, after", *_phase(console, poster, idle_s)))
            console.stop()
            poster.stop()
            errors = console.errors + poster.errors
            if errors:
                raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[:3]}")
        finally:
            service.stop()
        counts = ("received", "stored", "duplicates", "quarantined")
        if [served_report[k] for k in counts] != [direct_report[k] for k in counts]:
            raise AssertionError(f"the ingest's counts differ: {served_report} vs direct {direct_report}")

        idle = phases[0]
        for name, panels, posts, took in phases:
            row: dict[str, object] = {"phase": name, "seconds": round(took, 1)}
            for panel in PANELS:
                xs = panels.get(panel, [])
                base = idle[1].get(panel, [])
                row[f"{panel} n"] = len(xs)
                row[f"{panel} p50 / p95 / p99 ms"] = " / ".join(f"{_pct(xs, q):.0f}" for q in (0.5, 0.95, 0.99))
                row[f"{panel} p95 / idle p95"] = f"{_pct(xs, 0.95) / _pct(base, 0.95):.2f}x" if xs and base else ""
            row["HTTP batches"] = len(posts)
            row["HTTP p50 / p95 / p99 / max ms"] = " / ".join(f"{_pct(posts, q):.0f}" for q in (0.5, 0.95, 0.99, 1.0))
            worst_panel = max((_pct(panels.get(p, []), 0.95) / _pct(idle[1].get(p, []), 0.95) for p in PANELS
                               if panels.get(p) and idle[1].get(p)), default=float("nan"))
            row["goal: panel p95 <= 2x idle, HTTP p99 < 500 ms"] = \
                "yes" if worst_panel <= 2.0 and _pct(posts, 0.99) < 500 else "NO"
            rows.append(row)
        served_s = phases[1][3]
        for row in rows:
            row.update({"file events": "", "ingest s (events/s)": "", "direct s (events/s)": "", "load avg (1 min)": ""})
        rows[1].update({
            "file events": n,
            "ingest s (events/s)": f"{served_s:.1f} ({served_report['received'] / served_s:,.0f})",
            "direct s (events/s)": f"{direct_s:.1f} ({direct_report['received'] / direct_s:,.0f})",
        })
        rows[-1]["load avg (1 min)"] = round(os.getloadavg()[0], 2)
        for row in rows:
            row["users / days"] = f"{users} / {days}"
            row["rate batches/s"] = rate
            row["cores"] = os.cpu_count()
    return rows
