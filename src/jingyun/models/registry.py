"""Model registry: each trained model with its data window, parameters, metrics and creation time.

The metadata store (``jingyun.store``, SQLAlchemy) is being built alongside;
until it carries a model table, the registry lives in the warehouse table
``model_registry`` behind the small :class:`ModelRegistry` interface, so moving
it is one new class and no change for callers. Parameters and metrics are
stored as JSON text (portable across engines).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse

KINDS = ("churn", "forecast", "recommend", "clv")

REGISTRY_DDL = """CREATE TABLE IF NOT EXISTS model_registry (
  model_id VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL,
  data_start DATE,
  data_end DATE,
  params VARCHAR,
  metrics VARCHAR,
  artifact VARCHAR
)"""


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


class WarehouseRegistry:
    """The registry in the warehouse table ``model_registry``."""

    def __init__(self, wh: Warehouse):
        self.wh = wh
        if not wh.read_only:
            wh.con.execute(REGISTRY_DDL)

    def _exists(self) -> bool:
        return bool(self.wh.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'model_registry'"))

    def register(self, kind: str, *, data_start: dt.date | None, data_end: dt.date | None,
                 params: dict[str, Any], metrics: dict[str, Any], artifact: str | None = None) -> ModelEntry:
        if kind not in KINDS:
            raise JingyunError("bad_param", f"model kind must be one of {', '.join(KINDS)}", "kind")
        created = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        model_id = f"{kind}-{created:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
        p, m = _dumps(params), _dumps(metrics)
        self.wh.con.execute(
            "INSERT INTO model_registry VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [model_id, kind, created, data_start, data_end, p, m, artifact],
        )
        return ModelEntry(model_id, kind, created, data_start, data_end, json.loads(p), json.loads(m), artifact)

    def list(self, kind: str | None = None) -> list[ModelEntry]:
        if not self._exists():
            return []
        where, args = ("WHERE kind = ?", [kind]) if kind else ("", [])
        rows = self.wh.rows(
            f"SELECT model_id, kind, created_at, data_start, data_end, params, metrics, artifact "
            f"FROM model_registry {where} ORDER BY created_at DESC, model_id DESC", args)
        return [ModelEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"), json.loads(r[6] or "{}"), r[7])
                for r in rows]

    def get(self, model_id: str) -> ModelEntry:
        for entry in self.list():
            if entry.model_id == model_id:
                return entry
        raise JingyunError("not_found", f"no model {model_id!r}; see `jingyun model list`", "model_id", status=404)
