"""One migrated metadata store per database URL and process.

Capabilities (segments, experiments, dashboards) open the metadata store many
times per command (a size estimate reads the saved segments it references);
opening it means an engine and an Alembic check, so the opened store is kept
per URL for the life of the process. The service passes its own store instead.
"""

from __future__ import annotations

import threading

from jingyun.config import Settings
from jingyun.store.db import Store, database_url, open_store

_STORES: dict[str, Store] = {}
_LOCK = threading.Lock()


def metadata_store(settings: Settings) -> Store:
    url = database_url(settings)
    with _LOCK:
        store = _STORES.get(url)
        if store is None:
            store = _STORES[url] = open_store(settings, url)
        return store


def forget(settings: Settings) -> None:
    """Drop the kept store of this workspace (tests that rebuild a home at the same path)."""
    with _LOCK:
        store = _STORES.pop(database_url(settings), None)
    if store is not None:
        store.close()
