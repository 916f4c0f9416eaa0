"""Opening the metadata store: SQLite file ``$JINGYUN_HOME/meta.sqlite`` by
default, PostgreSQL (or any SQLAlchemy URL) by ``JINGYUN_DB_URL``.

The schema is owned by the Alembic migrations in ``jingyun/store/alembic``;
:func:`open_store` upgrades to head, so a fresh workspace and an old one end
up identical.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from jingyun.config import Settings

MIGRATIONS = Path(__file__).parent / "alembic"


def database_url(settings: Settings) -> str:
    url = os.environ.get("JINGYUN_DB_URL")
    if url:
        # psycopg 3 is the installed driver; accept the plain postgresql:// form
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        return url
    return f"sqlite:///{settings.home / 'meta.sqlite'}"


def _sqlite_pragmas(dbapi_con: Any, _record: Any) -> None:
    cur = dbapi_con.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


class Store:
    """The metadata database: an engine and a session factory."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on error."""
        with self.sessions() as ses:
            try:
                yield ses
                ses.commit()
            except BaseException:
                ses.rollback()
                raise

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as con:
            cfg.attributes["connection"] = con
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self.engine.dispose()


def open_store(settings: Settings, url: str | None = None, *, migrate: bool = True) -> Store:
    url = url or database_url(settings)
    if url.startswith("sqlite"):
        from jingyun.security.files import private_dir, private_home

        private_home(settings.home)
        private_dir(settings.home)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    store = Store(engine)
    if migrate:
        store.migrate()
    return store
