"""The tracking plan (埋点方案): every event name with its required properties.

YAML, kept at ``$JINGYUN_HOME/tracking_plan.yaml`` (``jingyun tracking init``
writes the default one shipped here)::

    events:
      view_product:
        zh: 浏览商品
        required: {product_id: string, price: number}
        optional: {category: string}
      app_start: {}

Types: string, number, integer, boolean, object, array. Ingestion checks each
event against the plan; events that break it or are not in it are counted per
source (``jingyun tracking report``) and, by the ``tracking_mode`` setting,
stored with ``tracking_issue`` set (flag) or quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jingyun.errors import JingyunError, yaml_problem
from jingyun.warehouse.sqltext import json_key, quote

DEFAULT_PLAN = Path(__file__).with_name("tracking_plan.yaml")

# json_type() names per declared type
JSON_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("VARCHAR",),
    "number": ("BIGINT", "UBIGINT", "DOUBLE"),
    "integer": ("BIGINT", "UBIGINT"),
    "boolean": ("BOOLEAN",),
    "object": ("OBJECT",),
    "array": ("ARRAY",),
}


@dataclass(frozen=True)
class EventSpec:
    name: str
    zh: str = ""
    description: str = ""
    required: dict[str, str] = field(default_factory=dict)
    optional: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackingPlan:
    events: dict[str, EventSpec]

    def issue_sql(self, event: str, props: str) -> str:
        """SQL giving the tracking issue of a row (NULL when it complies)."""
        if not self.events:
            return "NULL"
        branches = []
        for spec in self.events.values():
            checks = []
            for prop, kind in spec.required.items():
                path = quote("$." + json_key(prop))
                allowed = ", ".join(quote(t) for t in JSON_TYPES[kind])
                checks.append(
                    f"WHEN coalesce(json_type({props}, {path}), 'NULL') = 'NULL' THEN {quote('missing_property:' + prop)} "
                    f"WHEN json_type({props}, {path}) NOT IN ({allowed}) THEN {quote('wrong_property_type:' + prop)}"
                )
            for prop, kind in spec.optional.items():
                path = quote("$." + json_key(prop))
                allowed = ", ".join(quote(t) for t in (*JSON_TYPES[kind], "NULL"))
                checks.append(
                    f"WHEN json_type({props}, {path}) NOT IN ({allowed}) THEN {quote('wrong_property_type:' + prop)}"
                )
            body = f"CASE {' '.join(checks)} END" if checks else "NULL"
            branches.append(f"WHEN {quote(spec.name)} THEN {body}")
        return f"CASE {event} {' '.join(branches)} ELSE 'unknown_event' END"


def parse_plan(data: Any, where: str = "tracking plan") -> TrackingPlan:
    if not isinstance(data, dict) or not isinstance(data.get("events"), dict):
        raise JingyunError("bad_tracking_plan", f"{where}: needs an 'events' object", "events")
    events: dict[str, EventSpec] = {}
    for name, spec in data["events"].items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise JingyunError("bad_tracking_plan", f"{where}: event {name} must be an object", f"events.{name}")
        props: dict[str, dict[str, str]] = {}
        for part in ("required", "optional"):
            values = spec.get(part) or {}
            if not isinstance(values, dict):
                raise JingyunError("bad_tracking_plan", f"{part} must map property → type", f"events.{name}.{part}")
            for prop, kind in values.items():
                if kind not in JSON_TYPES:
                    raise JingyunError(
                        "bad_tracking_plan",
                        f"unknown type {kind!r}; use one of {', '.join(JSON_TYPES)}",
                        f"events.{name}.{part}.{prop}",
                    )
            props[part] = {str(k): str(v) for k, v in values.items()}
        events[str(name)] = EventSpec(
            str(name), str(spec.get("zh", "")), str(spec.get("description", "")), props["required"], props["optional"]
        )
    return TrackingPlan(events)


def load_plan(path: Path) -> TrackingPlan | None:
    """The plan at ``path``; None when the workspace has none (no checks)."""
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise JingyunError("bad_tracking_plan", f"{path.name}: not valid YAML ({yaml_problem(exc)})", "tracking_plan") from None
    return parse_plan(data, path.name)
