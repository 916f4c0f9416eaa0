"""While `jingyun serve` owns the home, the nightly `jingyun optimize` runs through it and purges the bytes
of a pending erasure in place (the service cannot swap its open file)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "control"))
from control_support import Service, free_port, jingyun

from jingyun.config import load_settings
from jingyun.privacy import erase as erasing
from jingyun.store.db import open_store
from jingyun.warehouse import Warehouse


@pytest.mark.slow  # a small demo and a real service: about half a minute
def test_optimize_through_the_service_purges_pending_erasures(tmp_path: Path) -> None:
    home = tmp_path / "served"
    made = jingyun(home, "demo", "--users", "200", "--days", "30")
    assert made.returncode == 0, made.stderr
    settings = load_settings(home)
    store = open_store(settings)
    with Warehouse.open(settings) as wh:
        person = wh.scalar("SELECT user_id FROM events WHERE user_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 "
                           "LIMIT 1")
        report = erasing.erase(wh, store, str(person), actor="admin")
    assert report.purge == "pending" and erasing.pending(store) == [report.erasure_id]
    store.close()
    service = Service(home, free_port(), tmp_path / "service-cwd")
    try:
        status = json.loads(jingyun(home, "status", "--json").stdout)
        assert status["mode"] == "service"
        done = jingyun(home, "optimize", "--json")
        assert done.returncode == 0, done.stderr
        rows = {r["table"]: r for r in json.loads(done.stdout)}
        assert (rows["privacy_purge"]["rows"], rows["privacy_purge"]["sorted_by"]) == (1, "(in_place)")
        gone = jingyun(home, "query", f"SELECT count(*) AS n FROM events WHERE user_id = '{person}'", "--json")
        assert json.loads(gone.stdout)["rows"][0]["n"] == 0
    finally:
        service.stop()
    store = open_store(settings)
    assert erasing.pending(store) == []
    store.close()
