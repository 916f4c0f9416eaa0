"""A batch acknowledged by a real ``jingyun serve`` survives ``kill -9`` of the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from service_support import free_port

from jingyun.config import load_settings
from jingyun.security import auth
from jingyun.store import open_store
from jingyun.warehouse import Warehouse


def test_acknowledged_batch_survives_kill_9(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    settings = load_settings(home)
    store = open_store(settings)
    key = auth.create_api_key(store, name="gw", scope="ingest")[1]
    store.close()
    port = free_port()
    env = {**os.environ, "JINGYUN_HOME": str(home)}
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
        events = [{"event_id": f"k{i}", "user_id": f"u{i % 9}", "event": "view_home", "ts": "2024-05-01T08:00:00Z"}
                  for i in range(500)]
        r = httpx.post(f"{base}/api/v1/events/batch", json={"events": events}, headers={"X-API-Key": key}, timeout=30)
        assert r.status_code == 200 and r.json()["accepted"] == 500
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    wh = Warehouse.open(settings)
    try:
        assert wh.count("events") == 500
        assert wh.scalar("SELECT count(DISTINCT event_id) FROM events WHERE event_id LIKE 'k%'") == 500
    finally:
        wh.close()
