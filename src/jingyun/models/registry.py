"""Model registry: each trained model with its data window, parameters, metrics and creation time.

It lives in the metadata store (``jingyun.store``: SQLite by default,
PostgreSQL by URL; table ``model_registry``), behind the small
:class:`ModelRegistry` interface. Parameters and metrics are JSON text.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store.db import Store
from jingyun.store.models import ModelRecord

KINDS = ("churn", "forecast", "recommend", "clv")

@dataclass(frozen=True)
class ModelEntry:
    model_id: str
    kind: str
    created_at: dt.datetime
    data_start: dt.date | None  # first day of data the model learned from (None: all history)
    data_end: dt.date | None  # first day it did not see
    params: dict[str, Any]
    metrics: dict[str, Any]
    artifact: str | None = None  # path of a saved model, when one was kept

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id, "kind": self.kind, "created_at": self.created_at.isoformat(),
            "data_start": self.data_start.isoformat() if self.data_start else None,
            "data_end": self.data_end.isoformat() if self.data_end else None,
            "params": self.params, "metrics": self.metrics, "artifact": self.artifact,
        }


class ModelRegistry(Protocol):
    def register(self, kind: str, *, data_start: dt.date | None, data_end: dt.date | None,
                 params: dict[str, Any], metrics: dict[str, Any], artifact: str | None = None) -> ModelEntry: ...

    def list(self, kind: str | None = None) -> list[ModelEntry]: ...

    def get(self, model_id: str) -> ModelEntry: ...


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "__fspath__"):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(value: dict[str, Any]) -> str:
    # NaN is not JSON; a metric that could not be computed is stored as null.
    text = json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)
    return json.dumps(json.loads(text, parse_constant=lambda _c: None), ensure_ascii=False, sort_keys=True)


class StoreRegistry:
    """The registry in the metadata store's ``model_registry`` table."""

    def __init__(self, store: Store):
        self.store = store

    @staticmethod
    def _entry(r: ModelRecord) -> ModelEntry:
        return ModelEntry(r.model_id, r.kind, r.created_at, r.data_start, r.data_end,
                          json.loads(r.params or "{}"), json.loads(r.metrics or "{}"), r.artifact)

    def register(self, kind: str, *, data_start: dt.date | None, data_end: dt.date | None,
                 params: dict[str, Any], metrics: dict[str, Any], artifact: str | None = None) -> ModelEntry:
        if kind not in KINDS:
            raise JingyunError("bad_param", f"model kind must be one of {', '.join(KINDS)}", "kind")
        created = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        record = ModelRecord(
            model_id=f"{kind}-{created:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}", kind=kind, created_at=created,
            data_start=data_start, data_end=data_end, params=_dumps(params), metrics=_dumps(metrics), artifact=artifact,
        )
        with self.store.session() as ses:
            ses.add(record)
            ses.flush()
            return self._entry(record)

    def set_artifact(self, model_id: str, artifact: str) -> ModelEntry:
        with self.store.session() as ses:
            record = ses.get(ModelRecord, model_id)
            if record is None:
                raise JingyunError("not_found", f"no model {model_id!r}", "model_id", status=404)
            record.artifact = artifact
            ses.flush()
            return self._entry(record)

    def list(self, kind: str | None = None) -> list[ModelEntry]:
        query = select(ModelRecord).order_by(ModelRecord.created_at.desc(), ModelRecord.model_id.desc())
        if kind:
            query = query.where(ModelRecord.kind == kind)
        with self.store.session() as ses:
            return [self._entry(r) for r in ses.scalars(query)]

    def get(self, model_id: str) -> ModelEntry:
        with self.store.session() as ses:
            record = ses.get(ModelRecord, model_id)
            if record is None:
                raise JingyunError("not_found", f"no model {model_id!r}; see `jingyun model list`", "model_id",
                                   status=404)
            return self._entry(record)


def open_registry(settings: Settings) -> StoreRegistry:
    """The registry of a workspace (its metadata store, migrated)."""
    from jingyun.store.db import open_store

    return StoreRegistry(open_store(settings))
