"""While a real `jingyun serve` owns a demo home and keeps receiving HTTP events, other processes run
`jingyun ingest`, `funnel`, `segment create/refresh`, `schedule run`, `quarantine replay` and
`query` through it: all succeed, and their --json equals the same commands run with no service on a
copy of the home (made before the service started). Before this, each stopped with warehouse_busy."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from control_support import Poster, Service, as_json, free_port, ingest_key, jingyun, stable

BAD_FILE = "\n".join([
    *(json.dumps({"event_id": f"c{i}", "user_id": f"c{i % 5}", "event": "cli_ping", "ts": "2024-05-01T09:00:00Z"})
      for i in range(40)),
    json.dumps({"event_id": "c-missing-event", "user_id": "c1", "ts": "2024-05-01T09:00:00Z"}),
    "not json at all",
    json.dumps({"event_id": "c-bad-ts", "user_id": "c1", "event": "cli_ping", "ts": "yesterday"}),
    json.dumps({"event_id": "c3", "user_id": "c3", "event": "cli_ping", "ts": "2024-05-01T09:00:00Z"}),  # duplicate
]) + "\n"

COMMANDS: list[tuple[str, ...]] = [
    ("ingest", "events", "bad_rows.ndjson", "--json"),  # a relative path: resolved against the client's cwd
    ("funnel", "--steps", "view_product,add_to_cart,checkout,pay", "--window", "24h", "--json"),
    ("segment", "create", "zj_buyers", "--rule", '{"attr": "province", "op": "eq", "value": "浙江省"}', "--json"),
    ("segment", "refresh", "zj_buyers", "--json"),
    ("schedule", "run", "tags", "--force", "--json"),
    ("quarantine", "replay", "--json"),
    ("funnel", "--steps", "nope,pay", "--json"),  # a one-line error, exit 2, both ways
]


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Service, Path]]:
    root = tmp_path_factory.mktemp("ctl")
    served, direct = root / "served", root / "direct"
    made = jingyun(served, "demo", "--users", "300", "--days", "30")
    assert made.returncode == 0, made.stderr
    assert jingyun(served, "schedule", "init").returncode == 0
    shutil.copytree(served, direct)  # the same data, before the service starts
    key = ingest_key(served)
    work = root / "client"
    work.mkdir()
    (work / "bad_rows.ndjson").write_text(BAD_FILE, encoding="utf-8")
    service = Service(served, free_port(), root / "service-cwd")
    try:
        service.key = key  # type: ignore[attr-defined]
        yield served, direct, service, work
    finally:
        service.stop()


@pytest.mark.slow  # about a minute: two runs of every command, each a fresh `jingyun` process
def test_commands_through_the_service_equal_direct_runs(homes: tuple[Path, Path, Service, Path]) -> None:
    served, direct, service, work = homes
    status = as_json(jingyun(served, "status", "--json"))
    assert status["mode"] == "service" and status["service"]["http"] == f"127.0.0.1:{service.port}"
    assert as_json(jingyun(direct, "status", "--json"))["mode"] == "direct"

    poster = Poster(service.base, service.key)  # type: ignore[attr-defined]
    poster.start()
    try:
        for args in COMMANDS:
            through = jingyun(served, *args, cwd=work)
            alone = jingyun(direct, *args, cwd=work)
            assert through.returncode == alone.returncode, (args, through.stderr, alone.stderr)
            if alone.returncode == 0:
                # a scheduler run's id and owner name the run (the service's own scheduler may have run first)
                ignore = ("id", "owner") if args[0] == "schedule" else ()
                assert stable(json.loads(through.stdout), ignore) == stable(json.loads(alone.stdout), ignore), args
            else:
                assert through.returncode == 2 and through.stderr == alone.stderr
                assert len(through.stderr.strip().splitlines()) == 1 and through.stderr.startswith("error: ")
            if args[0] == "ingest":
                report = json.loads(through.stdout)
                assert report["received"] == 44
                assert report["received"] == report["stored"] + report["duplicates"] + report["quarantined"]
                assert report["stored"] == 40 and report["quarantined"] == 3 and report["duplicates"] == 1
        assert poster.requests > 0  # HTTP ingestion kept flowing while the commands ran
    finally:
        poster.stop()
    assert not poster.errors, poster.errors[:3]

    sql = "SELECT count(*) AS n FROM events"
    through = as_json(jingyun(served, "query", sql, "--json"))["rows"][0]["n"]
    alone = as_json(jingyun(direct, "query", sql, "--json"))["rows"][0]["n"]
    assert through == alone + poster.accepted  # the two writers' rows reconcile
    pings = "SELECT count(DISTINCT event_id) AS n FROM events WHERE event = 'http_ping'"
    assert as_json(jingyun(served, "query", pings, "--json"))["rows"][0]["n"] == poster.accepted


def test_status_lists_a_running_command_and_demo_is_refused(homes: tuple[Path, Path, Service, Path]) -> None:
    served, _direct, service, work = homes
    # a command that runs for a while: the status shows it with its argv
    from control_support import popen

    slow = popen(served, "query", "SELECT count(*) AS n FROM range(3000000000) t(i) WHERE i % 7 = 3", "--json",
                 cwd=work)
    try:
        seen = False
        for _ in range(100):
            status = as_json(jingyun(served, "status", "--json"))
            if any(c["argv"][:1] == ["query"] for c in status["service"]["commands"]):
                seen = True
                break
        assert seen, status
    finally:
        slow.send_signal(signal.SIGINT)  # Ctrl-C: the query is interrupted in the service, not left running
        _out, err = slow.communicate(timeout=120)
    assert slow.returncode == 130 and err.strip().splitlines()[-1] == "aborted", err
    for _ in range(100):
        if not as_json(jingyun(served, "status", "--json"))["service"]["commands"]:
            break
    else:
        raise AssertionError("the interrupted query still runs in the service")
    human = jingyun(served, "status")
    assert "through the service" in human.stdout and f"127.0.0.1:{service.port}" in human.stdout
    refused = jingyun(served, "demo", "--replace")
    assert refused.returncode == 2 and refused.stderr.startswith("error: service_running")
