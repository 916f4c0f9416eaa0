"""A live service in miniature for the runtime tests: the real IngestWriter (group commit) on a
DuckDB warehouse, the SQLite metadata store, and a runtime on a clock the test moves."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from jingyun.api.writer import IngestWriter, Job
from jingyun.automation import registry
from jingyun.automation.journey import parse_journey
from jingyun.automation.runtime import Runtime
from jingyun.config import Settings, load_settings
from jingyun.messaging import consent
from jingyun.store.db import Store, open_store
from jingyun.store.messages import MessageDelivery
from jingyun.warehouse import Warehouse

T0 = dt.datetime(2026, 9, 1, 2, 0, 0)  # 10:00 in Shanghai: outside quiet hours


@dataclass
class Clock:
    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Live:
    settings: Settings
    store: Store
    writer: IngestWriter
    runtime: Runtime
    clock: Clock

    def post(self, table: str, records: list[dict[str, Any]]) -> None:
        """Ingest through the writer's group commit, as POST /api/v1/ingest does, then let the runtime work."""
        texts = [json.dumps(r, ensure_ascii=False, default=str) for r in records]
        job = Job(table=table, items=records, texts=texts, pre_rejected={})
        outcomes = self.writer.submit(job).result(timeout=30)
        assert all(o.status == "accepted" for o in outcomes), [o.to_dict() for o in outcomes]
        self.runtime.drain()

    def at(self, when: dt.datetime) -> int:
        self.clock.now = when
        return self.runtime.tick(when)

    def journey(self, data: dict[str, Any]) -> None:
        registry.create(self.store, parse_journey(data))
        registry.activate(self.store, data["key"], by="manager")

    def consent(self, *users: str, granted: bool = True) -> None:
        for u in users:
            consent.record(self.store, consent.subject_of(u), purpose="marketing", granted=granted, audit=False)

    def deliveries(self, status: str | None = "sent") -> list[tuple[str, str, dt.datetime]]:
        with self.store.session() as ses:
            q = select(MessageDelivery.user_id, MessageDelivery.key, MessageDelivery.created_at)
            if status is not None:
                q = q.where(MessageDelivery.status == status)
            return [(str(u), str(k), t) for u, k, t in ses.execute(q.order_by(MessageDelivery.id)).all()]

    def restart(self, **kw: Any) -> Runtime:
        """A new runtime on the same store and warehouse (the service came back)."""
        self.runtime = Runtime(self.store, self.settings, reader=self.writer.reader, clock=self.clock, **kw)
        self.runtime.attach(self.writer.wh)
        return self.runtime


def iso(t: dt.datetime) -> str:
    return t.isoformat() + "Z"


def view(user: str, t: dt.datetime, n: int = 0) -> dict[str, Any]:
    return {"event_id": f"v-{user}-{t.isoformat()}-{n}", "user_id": user, "event": "view_product", "ts": iso(t),
            "properties": {"product_id": "p1", "category": "shoes"}}


def event(user: str, name: str, t: dt.datetime) -> dict[str, Any]:
    return {"event_id": f"e-{user}-{name}-{t.isoformat()}", "user_id": user, "event": name, "ts": iso(t)}


def order(user: str, t: dt.datetime) -> dict[str, Any]:
    return {"order_id": f"o-{user}-{t.isoformat()}", "user_id": user, "ts": iso(t), "amount": "99.00",
            "status": "paid", "channel": "app"}


@pytest.fixture
def live(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    home = tmp_path / "ws"
    home.mkdir()
    monkeypatch.setenv("JINGYUN_HOME", str(home))
    settings = load_settings(home)
    store = open_store(settings)
    writer = IngestWriter(Warehouse.open(settings))
    clock = Clock()
    runtime = Runtime(store, settings, reader=writer.reader, clock=clock)
    runtime.attach(writer.wh)
    yield Live(settings, store, writer, runtime, clock)
    writer.close()
    writer.wh.close()
    store.close()
