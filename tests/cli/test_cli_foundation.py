"""The CLI edge: exact JSON, one-line errors with non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jingyun.cli.main import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_json_report_shape(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.ndjson"
    path.write_text(
        '{"event_id":"e1","user_id":"u1","event":"pay","ts":"2026-10-01T10:00:00Z"}\n'
        '{"event_id":"e1","user_id":"u1","event":"pay","ts":"2026-10-01T10:00:00Z"}\n'
        '{"event_id":"e2","user_id":"u1","event":"pay","ts":"nope"}\n', encoding="utf-8")
    code, out, _ = run(["ingest", "events", str(path), "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert {k: report[k] for k in ("table", "received", "stored", "duplicates", "quarantined", "reasons")} == {
        "table": "events", "received": 3, "stored": 1, "duplicates": 1, "quarantined": 1,
        "reasons": {"bad_timestamp:ts": 1},
    }
    code, out, _ = run(["quarantine", "list", "--json"], capsys)
    page = json.loads(out)
    assert page["total"] == 1 and page["rows"][0]["reason"] == "bad_timestamp" and page["rows"][0]["field"] == "ts"
    qid = page["rows"][0]["qid"]
    assert run(["quarantine", "fix", str(qid), "--set", "ts=2026-10-02T10:00:00Z"], capsys)[0] == 0
    code, out, _ = run(["quarantine", "replay", "--json"], capsys)
    assert json.loads(out)["stored"] == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ingest", "nosuchtable", "x.csv"], "unknown table 'nosuchtable'"),
        (["ingest", "events", "/no/such/file.ndjson"], "no such file"),
        (["ingest", "events", "file.xyz"], "cannot tell the format"),
        (["quarantine", "show", "999"], "no quarantined record 999"),
        (["schema", "show", "nope"], "unknown table"),
        (["check", "nope"], "no warehouse"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(home: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    code, _out, err = run(args, capsys)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_mapping_names_the_field(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m.yaml").write_text("columns:\n  a: no_such_column\n", encoding="utf-8")
    (tmp_path / "u.csv").write_text("a\n1\n", encoding="utf-8")
    code, _, err = run(["ingest", "users", str(tmp_path / "u.csv"), "--mapping", str(tmp_path / "m.yaml")], capsys)
    assert code == 2 and "[columns.a]" in err


def test_schema_show_has_every_column_in_both_languages(capsys: pytest.CaptureFixture[str]) -> None:
    from jingyun.schema.tables import TABLES

    _code, out, _ = run(["schema", "show", "--json"], capsys)
    rows = json.loads(out)
    assert len(rows) == sum(len(t.columns) for t in TABLES.values())
    assert all(r["zh"] and r["en"] and r["meaning_zh"] and r["meaning_en"] for r in rows)
    assert {r["classification"] for r in rows if r["column"] in ("phone", "email", "address")} == {"sensitive"}


def test_console_script_runs_without_traceback(home: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "jingyun.cli.main", "ingest", "events", "nothing.csv"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: no_file")


def test_query_and_lake_errors_are_one_line(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.ndjson"
    path.write_text('{"event_id":"e1","user_id":"u1","event":"pay","ts":"2026-10-01T10:00:00Z"}\n', encoding="utf-8")
    assert run(["ingest", "events", str(path)], capsys)[0] == 0
    code, out, _ = run(["query", "SELECT count(*) AS n FROM events", "--json"], capsys)
    assert code == 0 and json.loads(out)["rows"] == [{"n": 1}]
    for args, needle in [
        (["query", "SELECT * FROM nosuch"], "bad_query [sql]: the query failed: Catalog Error"),
        (["query", "DROP TABLE events"], "read_only_query [sql]"),
        (["query", "SELEC 1"], "not_portable [sql]: cannot parse query"),
        (["export-lake", str(path)], "not_a_dir [dir]"),
    ]:
        code, _out, err = run(args, capsys)
        assert code == 2 and needle in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert run(["query", "SELECT count(*) AS n FROM events", "--json"], capsys)[0] == 0  # the DROP changed nothing


def test_serve_and_metrics_refuse_bad_arguments_in_one_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        cases = [
            (["serve", "--port", "99999"], "bad_port [port]"),
            (["serve", "--port", str(busy)], f"port_unavailable [port]: cannot listen on 127.0.0.1:{busy}"),
            (["demo", "--serve", "--port", str(busy), "--users", "100"], "port_unavailable [port]"),  # before the build
            (["metrics", "validate", "/no/such/metrics.yaml"], "bad_file [file]: cannot read /no/such/metrics.yaml"),
        ]
        for args, needle in cases:
            code, _out, err = run(args, capsys)
            assert code == 2 and needle in err, err
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (home / "warehouse.duckdb").exists()  # the refused demo built nothing


def test_yaml_mistakes_are_named_by_line_and_column(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  a: [\n", encoding="utf-8")
    data = tmp_path / "e.csv"
    data.write_text("event_id,user_id,event,ts\ne1,u1,pay,2026-10-01T10:00:00Z\n", encoding="utf-8")
    for args in (["ingest", "events", str(data), "--mapping", str(bad)], ["kpi", "targets", "--targets", str(bad)],
                 ["metrics", "validate", str(bad)]):
        code, _out, err = run(args, capsys)
        assert code == 2 and "not valid YAML" in err and "at line 3, column 1" in err, err
        assert len(err.strip().splitlines()) == 1


def test_one_line_joins_whatever_a_library_wrote() -> None:
    from jingyun.errors import JingyunError, one_line

    assert one_line("first\n  second\t third\n") == "first second third"
    assert one_line(str(JingyunError("x", "a\nb", "f"))) == "x [f]: a b"


def test_unreadable_files_are_refused_whole_in_one_line(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import random

    folder = tmp_path / "adir.csv"
    folder.mkdir()
    junk = tmp_path / "junk.csv"
    rng = random.Random(5)  # one generator: random bytes, not one byte repeated (which is valid GB18030 text)
    junk.write_bytes(bytes(rng.randrange(256) for _ in range(1000)))
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"PAR1xxxxPAR1")
    for target, needle in [(folder, "not_a_file [file]"), (fake, "bad_file [file]: fake.parquet: not a readable Parquet file"),
                           (junk, "bad_file [encoding]: junk.csv: the first line (the header) is not UTF-8")]:
        code, _out, err = run(["ingest", "events", str(target)], capsys)
        assert code == 2 and needle in err, err
        assert len(err.strip().splitlines()) == 1
    # a text header over binary junk: every line below it is quarantined (raw kept), none stored, none dropped
    body = tmp_path / "body.csv"
    body.write_bytes(b"event_id,user_id,event,ts\n" + b"\x82" * 4000)
    code, out, _ = run(["ingest", "events", str(body), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["stored"] == 0 and report["received"] == report["quarantined"] > 0
