"""The one engine seam (issue 17 item 4): open_backend is the only way the edges get an engine."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import open_backend

SRC = Path(__file__).parents[2] / "src" / "jingyun"


def test_open_backend_follows_the_settings_and_closes_what_it_opened(settings: Settings) -> None:
    Warehouse.open(settings).close()  # create the file
    with open_backend(settings) as backend:
        assert backend.name == "duckdb"
        assert backend.run("SELECT count(*) AS n FROM events").column("n").to_pylist() == [0]
        con = backend.warehouse.con  # type: ignore[attr-defined]
    with pytest.raises(duckdb.ConnectionException):
        con.sql("SELECT 1")


def test_a_borrowed_warehouse_is_not_closed(wh: Warehouse, settings: Settings) -> None:
    with open_backend(settings, warehouse=wh) as backend:
        backend.run("SELECT 1 AS one")
    assert wh.scalar("SELECT 2") == 2


def test_unknown_engine_and_missing_lake_are_refused(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(home)
    with pytest.raises(JingyunError) as err:
        open_backend(settings, engine="oracle")
    assert (err.value.code, err.value.field) == ("bad_engine", "engine")
    pytest.importorskip("pyspark")
    monkeypatch.setenv("JINGYUN_ENGINE", "spark")
    with pytest.raises(JingyunError) as err:
        open_backend(load_settings(home))  # the settings alone choose Spark; it checks the lake first
    assert err.value.code == "no_lake"


def test_no_edge_builds_an_engine_by_hand() -> None:
    hits = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py") if "backends" not in p.parts
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"\b(DuckDBBackend|SparkBackend)\(", line)]
    assert hits == []
