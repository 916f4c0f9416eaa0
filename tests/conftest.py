"""Shared fixtures: a fresh workspace (JINGYUN_HOME) per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from jingyun.config import Settings, load_settings
from jingyun.warehouse import Warehouse

# Password hashes at a test cost (1 pass over 1 MiB, not 3 over 64 MiB): the suite creates and signs in
# people hundreds of times, in-process and in the services it starts. tests/security checks the default.
os.environ.setdefault("JINGYUN_PASSWORD_HASH_MEMORY_KIB", "1024")
os.environ.setdefault("JINGYUN_PASSWORD_HASH_TIME_COST", "1")
# ... so a module's test client, one address, signs in more than the flood guard's 20 a minute; the guard's own
# tests (tests/service/test_service_login_http.py, test_service_sessions.py) set their rate on the limiter.
os.environ.setdefault("JINGYUN_LOGIN_RATE", "100000")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("JINGYUN_HOME", str(ws))
    return ws


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home)


@pytest.fixture
def wh(settings: Settings) -> Iterator[Warehouse]:
    warehouse = Warehouse.open(settings)
    yield warehouse
    warehouse.close()


# -- one engine seam: the shared engine suite (issue 17 item 4) -------------------------------------
# Like Ibis's backend tests: one small business, loaded once into DuckDB and exported once to a
# Parquet lake; the ``backend`` fixture hands each engine to the same tests. Spark is slow to start,
# so its side is session-scoped (one SparkSession for the whole run) and carries the ``spark`` mark.
ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]
# Cases declare gaps with ``engine_gap`` (tests/engine_rows.py), read here by the ``backend`` fixture.


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "engine_gap(engine, capability, reason, raises): a declared engine gap "
                                       "(strict xfail)")


@pytest.fixture(scope="session")
def engine_business(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    from engine_rows import load_business

    home = tmp_path_factory.mktemp("engines")
    warehouse = Warehouse.open(load_settings(home), memory=True)
    load_business(warehouse)
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="session")
def _spark_engine(engine_business: Warehouse) -> Iterator[object]:
    pytest.importorskip("pyspark")
    from jingyun.warehouse.backends import open_backend

    lake = engine_business.settings.lake_path
    tables = [r[0] for r in engine_business.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'BASE TABLE'")]
    for table in tables:
        (lake / table).mkdir(parents=True, exist_ok=True)
        engine_business.con.execute(f"COPY (SELECT * FROM {table}) TO '{lake / table / 'data.parquet'}' (FORMAT parquet)")
    with open_backend(engine_business.settings, engine="spark") as spark:
        yield spark


@pytest.fixture(params=ENGINES)
def backend(request: pytest.FixtureRequest, engine_business: Warehouse) -> object:
    """Each engine, through the one factory, over the same small business."""
    from jingyun.warehouse.backends import open_backend

    engine: str = request.param
    for mark in request.node.iter_markers("engine_gap"):
        if mark.kwargs["engine"] == engine:
            from engine_rows import gap_mark

            request.node.add_marker(gap_mark(engine, mark))
    if engine == "spark":
        return request.getfixturevalue("_spark_engine")
    return open_backend(engine_business.settings, warehouse=engine_business)


# -- two workers in `make test` (pytest-xdist) -------------------------------------------------------
# Each top-level folder runs on one worker, so a folder's session fixtures (a demo built once for the
# folder, a PostgreSQL server, a browser) are built once, as in a serial run, and every Spark test runs on
# one worker, which starts one JVM. (xdist's own --dist loadgroup no longer groups under pytest 9.2: it
# renames the test ids through an attribute pytest stopped reading; a scheduler sees only the ids.)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadScopeScheduling

    class FolderScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if "spark" in nodeid.lower():
                return "spark"
            parts = nodeid.split("::", 1)[0].split("/")
            return parts[1] if len(parts) > 2 else parts[-1]

    return FolderScheduling(config, log)
