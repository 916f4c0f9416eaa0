"""Helpers for the control-channel tests: a real `jingyun serve` subprocess on a demo home, a client
that runs `jingyun` as another process, and a thread that keeps posting HTTP events.

A uniquely named module (every test folder has a conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from jingyun.config import load_settings
from jingyun.security import auth
from jingyun.store import open_store

# keys whose values are clocks or run ids: equal runs differ only there
VOLATILE = ("seconds", "_at", "run_id", "ms", "attempts_at", "duration")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jingyun(home: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "JINGYUN_HOME": str(home), "JINGYUN_CLI_SESSION": "off", **(env or {})}
    return subprocess.run([sys.executable, "-m", "jingyun.cli.main", *args], env=full, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def popen(home: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, "JINGYUN_HOME": str(home), "JINGYUN_CLI_SESSION": "off", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "jingyun.cli.main", *args], env=full, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ingest_key(home: Path) -> str:
    store = open_store(load_settings(home))
    try:
        return auth.create_api_key(store, name="gw", scope="ingest")[1]
    finally:
        store.close()


class Service:
    """`jingyun serve` on ``home``, started from a folder of its own (its cwd is not the client's)."""

    def __init__(self, home: Path, port: int, workdir: Path):
        self.home, self.port = home, port
        workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "JINGYUN_HOME": str(home)}
        self.log = (workdir / "serve.log").open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "jingyun.cli.main", "serve", "--port", str(port)],
                                     env=env, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (workdir / "serve.log").read_text()
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200 and \
                        (home / "run" / "owner.json").exists():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the service did not start")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Poster(threading.Thread):
    """Keeps posting batches of HTTP events (event ``http_ping``) until stopped; counts what was accepted."""

    def __init__(self, base: str, key: str, batch: int = 40):
        super().__init__(daemon=True)
        self.base, self.key, self.batch = base, key, batch
        self.accepted = 0
        self.requests = 0
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        n = 0
        with httpx.Client(timeout=60) as client:
            while not self._halt.is_set():
                events = [{"event_id": f"h{n + i}", "user_id": f"h{(n + i) % 7}", "event": "http_ping",
                           "ts": "2024-05-01T08:00:00Z"} for i in range(self.batch)]
                n += self.batch
                started = time.perf_counter()
                try:
                    r = client.post(f"{self.base}/api/v1/events/batch", json={"events": events},
                                    headers={"X-API-Key": self.key})
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                self.latencies.append(time.perf_counter() - started)
                self.requests += 1
                if r.status_code != 200:
                    self.errors.append(f"{r.status_code} {r.text[:200]}")
                    continue
                self.accepted += int(r.json()["accepted"])
                time.sleep(0.02)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=60)


def stable(value: Any, ignore: tuple[str, ...] = ()) -> Any:
    """A --json answer without its clocks and run ids (they differ between two equal runs)."""
    if isinstance(value, dict):
        return {k: stable(v, ignore) for k, v in value.items()
                if k not in ignore and not any(k == v_ or k.endswith(v_) for v_ in VOLATILE)}
    if isinstance(value, list):
        return [stable(v, ignore) for v in value]
    return value


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return json.loads(result.stdout)
