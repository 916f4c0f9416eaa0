"""Local time where people read it (issue 20 item 1): the CLI's tables and --json, the API, CSV exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from tests.localtime.conftest import START_UTC, start_experiment

from jingyun.cli.main import main
from jingyun.config import load_settings
from jingyun.localtime import aware, local_iso, local_text, localize, use_zone
from jingyun.security.audit import Auditor
from jingyun.security.config import load_service_settings
from jingyun.store import open_store


def test_conversion_is_to_the_zone_with_its_offset() -> None:
    assert local_iso(START_UTC, "Asia/Shanghai") == "2026-07-26T00:00:00+08:00"
    assert local_text(START_UTC, "Asia/Shanghai") == "2026-07-26 00:00:00+08:00"
    assert local_iso("2026-10-01T01:00:00", "Asia/Shanghai") == "2026-10-01T09:00:00+08:00"  # naive text is UTC
    assert local_iso("2026-10-01T09:00:00+08:00", "Europe/Berlin") == "2026-10-01T03:00:00+02:00"
    with use_zone("America/New_York"):
        assert local_iso(START_UTC) == "2026-07-25T12:00:00-04:00"
    assert aware(None) is None and local_text(None) == ""
    assert localize({"a": [START_UTC], "d": START_UTC.date()}, "Asia/Shanghai") == \
        {"a": [aware(START_UTC, "Asia/Shanghai")], "d": START_UTC.date()}


def test_exp_list_prints_the_local_start(home: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from jingyun.cli import output

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(output.console, "_width", 200)  # the shared console may have fixed its width on import
    start_experiment(home)
    assert main(["exp", "list"]) == 0
    out = capsys.readouterr().out
    assert "2026-07-26 00:00:00+08:00" in out and "2026-07-25 16:00" not in out
    assert main(["exp", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["start"] == "2026-07-26T00:00:00+08:00"
    assert listed[0]["created_at"] == "2026-07-26T00:00:00+08:00"


def test_exp_list_follows_the_workspace_zone(home: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINGYUN_TIMEZONE", "Europe/London")
    start_experiment(home)
    assert main(["exp", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["start"] == "2026-07-25T17:00:00+01:00"


def test_audit_csv_carries_offsets(home: Path) -> None:
    settings = load_settings(home)
    store = open_store(settings)
    auditor = Auditor(store, load_service_settings(settings), settings.timezone)
    auditor.log(actor="root", role="admin", action="export", target="users", now=START_UTC)
    rows = list(csv.DictReader(io.StringIO(auditor.export_csv())))
    assert [r["ts"] for r in rows] == ["2026-07-26T00:00:00+08:00"]
    store.close()
