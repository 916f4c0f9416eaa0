"""Without a live service, commands open the warehouse directly, as before; a stale owner file
(the service was killed) is ignored. Paths on the command line are made absolute for the service."""

from __future__ import annotations

import json
from pathlib import Path

from control_support import jingyun

from jingyun.control.client import absolute_paths
from jingyun.control.owner import Owner, write_owner


def test_stale_owner_file_means_direct(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert jingyun(home, "demo", "--users", "100", "--days", "30").returncode == 0
    # a service that died (kill -9) leaves its owner file behind; its pid is gone
    dead = 2 ** 22 + 12345
    write_owner(Owner(dead, 0, str(home / "run" / "control.sock"), "127.0.0.1:1", 0.0, str(home.resolve())))
    status = jingyun(home, "status", "--json")
    assert status.returncode == 0, status.stderr
    answer = json.loads(status.stdout)
    assert answer["mode"] == "direct" and answer["service"] is None and answer["stale_owner"]["pid"] == dead
    q = jingyun(home, "query", "SELECT count(*) AS n FROM users", "--json")
    assert q.returncode == 0 and json.loads(q.stdout)["rows"][0]["n"] > 0


def test_paths_are_made_absolute_for_the_service(tmp_path: Path) -> None:
    got = absolute_paths(["ingest", "events", "a.ndjson", "./b.ndjson", "--mapping=m.yaml", "--json"], tmp_path)
    assert got == ["ingest", "events", str(tmp_path / "a.ndjson"), str(tmp_path / "b.ndjson"),
                   f"--mapping={tmp_path / 'm.yaml'}", "--json"]
    # a segment name or a job name that happens to look like a file stays as typed
    assert absolute_paths(["segment", "refresh", "events", "--json"], tmp_path) == ["segment", "refresh", "events", "--json"]
    assert absolute_paths(["segment", "export", "zj", "out.csv"], tmp_path) == \
        ["segment", "export", "zj", str(tmp_path / "out.csv")]
    assert absolute_paths(["ingest", "events", "/abs/x.csv"], tmp_path) == ["ingest", "events", "/abs/x.csv"]
