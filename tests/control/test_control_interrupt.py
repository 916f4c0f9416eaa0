"""An ingest running through the service and interrupted — the service killed with -9, or the
client's Ctrl-C — leaves whole chunks only (each chunk is one transaction). The killed run's CLI says
so in one line, exit 2; after a restart, a rerun stores every valid record exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from control_support import Service, free_port, jingyun, popen

CHUNK = 400  # many small transactions: the ingest runs long enough to be interrupted
ROWS = 100_000
VALID = ROWS - ROWS // 1000  # every 1000th line is invalid (no event name)


def _write_file(path: Path, prefix: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(ROWS):
            record = {"event_id": f"{prefix}{i}", "user_id": f"k{i % 97}", "ts": "2024-05-02T10:00:00Z"}
            if i % 1000 != 999:
                record["event"] = "kill_ping"
            f.write(json.dumps(record) + "\n")


def _count(home: Path, prefix: str) -> tuple[int, int]:
    sql = (f"SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events WHERE event_id LIKE '{prefix}%'")
    out = jingyun(home, "query", sql, "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)["rows"][0]
    return int(row["n"]), int(row["d"])


def _wait_for_rows(home: Path, prefix: str, proc: subprocess.Popen[str]) -> int:
    for _ in range(600):
        n, _d = _count(home, prefix)
        if n > 0:
            return n
        assert proc.poll() is None, "the ingest finished before it could be interrupted"
        time.sleep(0.05)
    raise AssertionError("no chunk committed")


@pytest.mark.slow  # an ingest of 250 transactions, interrupted, then run again
def test_kill_9_during_an_ingest_then_rerun_stores_each_record_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert jingyun(home, "demo", "--users", "100", "--days", "30").returncode == 0
    data = tmp_path / "big.ndjson"
    _write_file(data, "kx")
    env = {"JINGYUN_CHUNK_ROWS": str(CHUNK)}  # the client's setting applies to its command in the service
    service = Service(home, free_port(), tmp_path / "cwd")
    try:
        proc = popen(home, "ingest", "events", str(data), "--json", env=env)
        _wait_for_rows(home, "kx", proc)
        service.kill9()
        _out, err = proc.communicate(timeout=60)
    finally:
        service.stop()
    assert proc.returncode == 2
    assert err.startswith("error: service_stopped") and "the service stopped during the command" in err
    assert len(err.strip().splitlines()) == 1

    service = Service(home, free_port(), tmp_path / "cwd2")  # the stale owner file is taken over
    try:
        n, d = _count(home, "kx")
        assert n == d and 0 < n < VALID  # some chunks committed whole, no duplicate
        rerun = jingyun(home, "ingest", "events", str(data), "--json")  # whole: what is stored is skipped
        assert rerun.returncode == 0, rerun.stderr
        report = json.loads(rerun.stdout)
        assert report["received"] == ROWS
        assert report["stored"] + report["duplicates"] == VALID and report["duplicates"] == n
        assert _count(home, "kx") == (VALID, VALID)  # every valid record exactly once
    finally:
        service.stop()


@pytest.mark.slow
def test_ctrl_c_cancels_the_command_in_the_service_between_chunks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert jingyun(home, "demo", "--users", "100", "--days", "30").returncode == 0
    data = tmp_path / "big.ndjson"
    _write_file(data, "cx")
    env = {"JINGYUN_CHUNK_ROWS": str(CHUNK)}
    service = Service(home, free_port(), tmp_path / "cwd")
    try:
        proc = popen(home, "ingest", "events", str(data), "--json", env=env)
        _wait_for_rows(home, "cx", proc)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and err.strip().splitlines()[-1] == "aborted"
        time.sleep(1.0)
        first, _ = _count(home, "cx")
        time.sleep(1.0)
        n, d = _count(home, "cx")
        assert n == first and n == d and 0 < n < VALID  # stopped: no chunk after the cancel, none half-stored
        # and the service carries on: the rerun completes, every valid record once
        rerun = jingyun(home, "ingest", "events", str(data), "--json")  # whole: what is stored is skipped
        assert rerun.returncode == 0, rerun.stderr
        assert _count(home, "cx") == (VALID, VALID)
        status = json.loads(jingyun(home, "status", "--json").stdout)
        assert status["mode"] == "service" and status["service"]["commands"] == []
    finally:
        service.stop()
