"""The Alembic migrations are the schema: after upgrading, the database matches the
SQLAlchemy models exactly (autogenerate finds nothing to add), on SQLite and
PostgreSQL; every migration downgrades cleanly and upgrades again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from jingyun.config import load_settings
from jingyun.store import Store, open_store
from jingyun.store.db import MIGRATIONS
from jingyun.store.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    settings = load_settings(tmp_path)
    if request.param == "sqlite":
        st = open_store(settings, migrate=False)
    else:
        st = open_store(settings, request.getfixturevalue("pg_url"), migrate=False)
        with st.engine.begin() as con:
            con.execute(text("DROP SCHEMA public CASCADE"))
            con.execute(text("CREATE SCHEMA public"))
    yield st
    st.close()


def _alembic(store: Store, verb: str, target: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as con:
        cfg.attributes["connection"] = con
        getattr(command, verb)(cfg, target)


def _diff(store: Store) -> list[object]:
    with store.engine.connect() as con:
        return list(compare_metadata(MigrationContext.configure(con), Base.metadata))


def _revision(store: Store) -> str:
    with store.engine.connect() as con:
        return str(MigrationContext.configure(con).get_current_revision())


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names()) - {"alembic_version"}


def test_migrations_build_exactly_the_models(fresh: Store) -> None:
    assert _tables(fresh) == set()
    fresh.migrate()
    assert _tables(fresh) == set(Base.metadata.tables)
    assert _diff(fresh) == []


def test_every_migration_goes_down_and_up_again(fresh: Store) -> None:
    fresh.migrate()
    # every capability after 0005 adds its own tables: walking down one step at a time only removes tables
    tables = _tables(fresh)
    while _revision(fresh) != "0005":
        _alembic(fresh, "downgrade", "-1")
        fewer = _tables(fresh)
        # 0013 moved the dashboard pins onto boards: going below it brings their old table back
        assert fewer - {"dashboard_pins"} <= tables
        tables = fewer
    _alembic(fresh, "downgrade", "0004")  # 0005 added the metadata tables and the segment columns
    meta = {"tag_versions", "segment_runs", "segment_state", "segment_snapshots", "experiments", "flags",
            "dashboard_pins"}
    meta |= set(Base.metadata.tables) - tables  # the tables of the capabilities after 0005
    assert _tables(fresh) == set(Base.metadata.tables) - meta
    assert "version" not in {c["name"] for c in inspect(fresh.engine).get_columns("segments")}
    _alembic(fresh, "downgrade", "0003")  # 0004 added only the job tables
    jobs = {"job_state", "job_runs"} | meta
    assert _tables(fresh) == set(Base.metadata.tables) - jobs
    _alembic(fresh, "downgrade", "-1")  # 0003 added columns only
    assert _tables(fresh) == set(Base.metadata.tables) - jobs
    assert "token_version" not in {c["name"] for c in inspect(fresh.engine).get_columns("people")}
    _alembic(fresh, "downgrade", "-1")
    assert _tables(fresh) == set(Base.metadata.tables) - jobs - {"model_registry"}  # 0002 added only that table
    _alembic(fresh, "downgrade", "base")
    assert _tables(fresh) == set()
    fresh.migrate()
    assert _diff(fresh) == []


def test_one_linear_history() -> None:
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    assert len(script.get_heads()) == 1  # two heads would mean two migrations claim the same parent
    files = [rev.path.rsplit("/", 1)[-1] for rev in reversed(list(script.walk_revisions()))]
    assert files[:5] == ["0001_initial.py", "0002_model_registry.py", "0003_session_versions.py",
                         "0004_jobs.py", "0005_metadata.py"]
    assert [f[:4] for f in files] == [f"{i:04d}" for i in range(1, len(files) + 1)]
