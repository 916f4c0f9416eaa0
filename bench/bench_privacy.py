"""PIPL erasure of one person (the one with the most events) in the 50,000-user demo home: the erase
the request waits for (DELETE/UPDATE by key, store, files, tombstones, audit; the purge recorded as
pending), goal < 5 s; then the nightly optimize job's purge of the pending bytes (``purge_pending``) —
in place (the touched tables rewritten, freed blocks overwritten: inside the service) or by rewriting the
whole file (the CLI without a service). A byte search of the file afterwards checks the person's ids
are gone. Set JINGYUN_BENCH_PRIVACY_HOME to reuse a built demo (it is copied,
never changed)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from jingyun.config import load_settings
from jingyun.demo.build import build
from jingyun.demo.params import DemoParams
from jingyun.privacy import erase as erasing
from jingyun.privacy.subject import find
from jingyun.store.db import open_store
from jingyun.warehouse import Warehouse


def _rewind_placeholder(db: Path) -> None:
    """A home migrated while 0012 was still an empty placeholder says it is at 0012 without its tables."""
    if not db.exists():
        return
    con = sqlite3.connect(db)
    try:
        have = con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'privacy_erasures'").fetchall()[0][0]
        if not have:
            con.execute("UPDATE alembic_version SET version_num = '0011' WHERE version_num = '0012'")
            con.commit()
    finally:
        con.close()


def _one(source: Path, mode: str) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench_privacy_"))
    try:
        for f in source.iterdir():
            if f.is_file():
                shutil.copy2(f, home / f.name)
        settings = load_settings(home)
        _rewind_placeholder(home / "meta.sqlite")
        store = open_store(settings)
        wh = Warehouse.open(settings)
        person = wh.scalar("SELECT user_id FROM events WHERE user_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
        ids = find(wh, person).ids
        events = wh.scalar("SELECT count(*) FROM events")
        started = time.perf_counter()
        report = erasing.erase(wh, store, person)  # what the request waits for: the purge is left pending
        logical = time.perf_counter() - started
        assert report.purge == "pending"
        started = time.perf_counter()
        done = erasing.purge_pending(wh, store, own_file=(mode == "rewrite"))  # the nightly optimize job's step
        purge = time.perf_counter() - started
        wh.close()
        store.close()
        data = settings.warehouse_path.read_bytes()
        left = sum(data.count(i.encode()) for i in ids)
        return {"purge": done.purge, "events in demo": f"{events:,}",
                "person's rows": sum(sum(c.values()) for c in report.warehouse.values()),
                "erase s (request)": round(logical, 2), "nightly purge s": round(purge, 2),
                "id bytes left": left, "erase goal s": 5}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(quick: bool) -> list[dict[str, Any]]:
    given = os.environ.get("JINGYUN_BENCH_PRIVACY_HOME")
    source = Path(given) if given else Path(tempfile.mkdtemp(prefix="bench_privacy_src_"))
    if not given:
        build(load_settings(source), DemoParams(users=3000, days=120) if quick else DemoParams())
    return [_one(source, "in_place"), _one(source, "rewrite")]


if __name__ == "__main__":
    print(run(quick=True))
