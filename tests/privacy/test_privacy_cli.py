"""jingyun privacy: admins only, one-line refusals; export as JSON; erase with a dry run; retention."""

from __future__ import annotations

import json

import pytest

from jingyun.cli.main import main
from jingyun.security import auth
from jingyun.store.db import open_store

from .conftest import PHONE, Planted

PASSWORD = "correct horse battery"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_erase_and_refusals(planted: Planted, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("JINGYUN_SESSION", raising=False)
    code, out, err = run(["privacy", "export", "u_target"], capsys)
    assert code == 2 and err.startswith("error: login_required") and len(err.strip().splitlines()) == 1
    store = open_store(planted.settings)
    auth.create_person(store, username="ana", password=PASSWORD, role="analyst")
    auth.create_person(store, username="root", password=PASSWORD, role="admin")
    store.close()
    monkeypatch.setenv("JINGYUN_PASSWORD", PASSWORD)
    assert run(["login", "--username", "ana"], capsys)[0] == 0
    code, out, err = run(["privacy", "erase", "u_target"], capsys)
    assert code == 2 and "forbidden" in err and PHONE not in out + err
    assert run(["login", "--username", "root"], capsys)[0] == 0
    code, out, err = run(["privacy", "export", "u_target"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["user_ids"] == ["u_target", "u_target2"] and len(data["warehouse"]["events"]) == 3
    code, out, err = run(["privacy", "erase", "u_target", "--dry-run", "--json"], capsys)
    assert code == 0 and json.loads(out)["warehouse"]["orders"] == {"deleted": 0, "pseudonymised": 2}
    code, out, err = run(["privacy", "erase", "u_target", "--now", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["purge"] == "rewrite" and report["tombstones"] == 5
    code, out, err = run(["privacy", "export", "u_target"], capsys)
    assert code == 2 and err.startswith("error: unknown_person [user_id]")
    (planted.home / "retention.yaml").write_text("policies:\n  - {table: events, days: 1}\n")
    code, out, err = run(["privacy", "retention", "--dry-run", "--json"], capsys)
    assert code == 0 and [(r["table"], r["rows"], r["dry_run"]) for r in json.loads(out)] == [("events", 3, True)]
