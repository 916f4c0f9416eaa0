"""Crash safety: SIGKILL the ingest mid-file, re-run, every valid record stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jingyun.config import load_settings
from jingyun.warehouse import Warehouse

N = 200_000


def _make_file(path: Path) -> tuple[int, int]:
    """N lines; every 10th is a duplicate of the previous one, every 97th invalid."""
    valid_ids = set()
    invalid = 0
    with path.open("w", encoding="utf-8") as fh:
        for i in range(N):
            if i % 97 == 0:
                fh.write(f'{{"event_id": "bad{i}", "event": "x", "ts": "never"}}\n')
                invalid += 1
                continue
            eid = f"e{i - 1}" if i % 10 == 0 and (i - 1) % 97 != 0 else f"e{i}"
            valid_ids.add(eid)
            fh.write(json.dumps({"event_id": eid, "user_id": f"u{int(eid[1:]) % 500}", "event": "view_product",
                                 "ts": "2026-10-01T10:00:00+08:00", "platform": "app"}) + "\n")
    return len(valid_ids), invalid


@pytest.mark.slow
def test_sigkill_mid_file_then_rerun(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "big.ndjson"
    unique, invalid = _make_file(path)
    (home / "jingyun.toml").write_text("chunk_rows = 2000\n", encoding="utf-8")
    env = {**os.environ, "JINGYUN_HOME": str(home)}
    cmd = [sys.executable, "-m", "jingyun.cli.main", "ingest", "events", str(path), "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait until some chunks have committed (the WAL grows), then kill without warning
    wal = home / "warehouse.duckdb.wal"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
        if wal.exists() and wal.stat().st_size > 400_000:
            break
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_midway = proc.returncode == -signal.SIGKILL
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    report = json.loads(rerun.stdout)
    assert report["received"] == N and report["reconciles"]
    wh = Warehouse.open(load_settings(home), read_only=True)
    assert wh.count("events") == unique
    assert wh.scalar("SELECT count(DISTINCT event_id) FROM events") == unique
    assert wh.scalar("SELECT count(*) FROM _quarantine") == invalid
    assert killed_midway, "the first run finished before it could be killed; make the file bigger"
    # the first run stored part of the file; the re-run found that part as duplicates
    assert 0 < report["stored"] < unique
    wh.close()
