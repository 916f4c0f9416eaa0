"""The byte purge of an erasure waits for the nightly `jingyun optimize` (the erase answers at once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jingyun.cli.main import main
from jingyun.privacy import erase as erasing
from jingyun.store.db import open_store
from jingyun.store.privacy import PrivacyErasure
from jingyun.warehouse import Warehouse

from .conftest import NEEDLES, Planted


def _found(path: Path) -> set[str]:
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())
    return {n for n in NEEDLES if n.encode() in data}


def test_optimize_purges_what_erase_left_pending(planted: Planted, capsys: pytest.CaptureFixture[str]) -> None:
    settings = planted.settings
    store = open_store(settings)
    with Warehouse.open(settings) as wh:
        report = erasing.erase(wh, store, "u_target", actor="admin")
        assert report.purge == "pending" and report.purge_seconds == 0.0
        # every read is already without them
        assert wh.scalar("SELECT count(*) FROM events WHERE person_id = 'u_target'") == 0
    # the erased ids' bytes are still in the file until the purge: this is what the nightly job is for
    assert "u_target" in _found(settings.warehouse_path)
    assert erasing.pending(store) == [report.erasure_id]
    store.close()

    assert main(["optimize", "--json"]) == 0
    rows = {r["table"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["privacy_purge"]["rows"] == 1 and rows["privacy_purge"]["sorted_by"] == "(rewrite)"
    assert _found(settings.warehouse_path) == set()
    store = open_store(settings)
    assert erasing.pending(store) == []
    with store.session() as ses:
        done = ses.get(PrivacyErasure, report.erasure_id)
        assert done is not None and json.loads(done.counts)["purge"] == "rewrite"
    store.close()
    # a second night has nothing to purge and says nothing about it
    assert main(["optimize", "--json"]) == 0
    assert "privacy_purge" not in {r["table"] for r in json.loads(capsys.readouterr().out)}
