"""No naive time leaves the API (issue 20 item 1): the schema promises an offset on every response time,
and every GET route's answer on a demo home keeps that promise.

Both walk the whole app, so a router added later is held to the same rule without editing this file."""

from __future__ import annotations

import re
from typing import Any

from tests.service.service_support import Service

from jingyun.localtime import OFFSET_PATTERN

# ISO-looking instant text (a date then a time); a bare date (a local calendar day) is not an instant
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
# names that hold an instant when they are text
TIME_NAMES = re.compile(r"(^|_)(at|ts|time|timestamp|since|until|expires|started|finished|created|updated"
                        r"|opened|closed|deadline|next_run|last_run)$")


def _responses(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, response in op.get("responses", {}).items():
                for media, body in response.get("content", {}).items():
                    if "schema" in body:
                        out.append((f"{method.upper()} {path} {status} {media}", body["schema"]))
    return out


def _problems(schema: Any, comps: dict[str, Any], where: str, seen: set[str], name: str = "") -> list[str]:
    if isinstance(schema, list):
        return [p for i, s in enumerate(schema) for p in _problems(s, comps, f"{where}[{i}]", seen, name)]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        if ref in seen:
            return []
        seen.add(ref)
        return _problems(comps[ref], comps, f"{ref}", seen, name)
    problems: list[str] = []
    if schema.get("type") == "string":
        if schema.get("format") == "date-time" and schema.get("pattern") != OFFSET_PATTERN:
            problems.append(f"{where}: a date-time without an offset guarantee (use jingyun.localtime.LocalTime)")
        elif schema.get("format") is None and TIME_NAMES.search(name) and "pattern" not in schema \
                and "enum" not in schema:
            problems.append(f"{where}: '{name}' is free text where a time is expected (declare LocalTime)")
    for key, sub in schema.items():
        if key == "properties":
            for prop, s in sub.items():
                problems += _problems(s, comps, f"{where}.{prop}", seen, prop)
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
            problems += _problems(sub, comps, where, seen, name)
    return problems


def test_time_name_rule_catches_what_it_should() -> None:
    """The schema rule is not vacuous: a naive datetime, an untyped time text and a free-text ``created_at``
    are caught, a LocalTime and a local date pass."""
    comps = {"M": {"type": "object", "properties": {
        "naive": {"type": "string", "format": "date-time"},
        "created_at": {"type": "string"},
        "ok": {"type": "string", "format": "date-time", "pattern": OFFSET_PATTERN},
        "date_from": {"type": "string", "format": "date"}}}}
    found = _problems({"$ref": "#/components/schemas/M"}, comps, "t", set())
    assert found == ["M.naive: a date-time without an offset guarantee (use jingyun.localtime.LocalTime)",
                     "M.created_at: 'created_at' is free text where a time is expected (declare LocalTime)"]


def test_response_schemas_promise_an_offset(demo_service: Service) -> None:
    spec = demo_service.client.get("/openapi.json").json()
    comps = spec["components"]["schemas"]
    responses = _responses(spec)
    assert len(responses) > 40
    problems = sorted({p for where, schema in responses for p in _problems(schema, comps, where, set())})
    assert problems == [], "\n".join(problems)
    # the walk reaches real times: the promise is made somewhere, not only nowhere broken
    assert any(s.get("pattern") == OFFSET_PATTERN for s in _all_nodes(comps))


def _all_nodes(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value, *(n for v in value.values() for n in _all_nodes(v))]
    if isinstance(value, list):
        return [n for v in value for n in _all_nodes(v)]
    return []


def _naive_strings(value: Any, where: str = "$") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _naive_strings(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _naive_strings(v, f"{where}[{i}]")]
    if isinstance(value, str) and INSTANT.match(value) and not OFFSET.search(value):
        return [f"{where}={value}"]
    return []


def _path_values(svc: Service, admin: dict[str, str]) -> dict[str, str]:
    c = svc.client
    reader = svc.state.writer.reader()
    try:
        user_id = str(reader.scalar("SELECT user_id FROM users ORDER BY user_id LIMIT 1"))
    finally:
        reader.close()
    seg = c.post("/api/v1/segments", headers=admin, json={"name": "gold_lt", "department": "growth",
                                                          "rule": {"member_level": "gold"}})
    assert seg.status_code == 201, seg.text
    assert c.post("/api/v1/admin/keys", headers=admin, json={"name": "bi_lt", "scope": "read",
                                                              "role": "analyst"}).status_code == 201
    tags = c.get("/api/v1/tags", headers=admin).json()
    quarantined = c.get("/api/v1/quarantine", headers=admin).json()
    experiments = c.get("/api/v1/experiments", headers=admin).json()
    items = experiments["items"] if isinstance(experiments, dict) else experiments
    return {
        "user_id": user_id, "segment_id": str(seg.json()["id"]), "name": "events",
        "tag": (tags["items"] if isinstance(tags, dict) else tags)[0]["name"],
        "qid": str(quarantined["items"][0]["qid"]),
        "key": items[0]["key"], "metric": "gmv",
    }


# required query values by parameter name (the demo's last month is 2026-10)
QUERY = {"metric": "gmv", "current": "2026-10", "from": "2026-10-01", "to": "2026-10-31", "period": "2026-10",
         "baseline": "0.1", "mde": "0.02", "calibration_end": "2026-10-15", "experiment": "checkout_copy_v2"}


KNOWN_ROUTERS = {f"jingyun.api.routers.{m}" for m in ("admin", "analysis", "auth", "channels", "experiments", "health",
                                                       "ingest", "metrics", "models", "profiles", "quarantine",
                                                       "schema", "segments", "users")}


def test_every_get_answers_local_times(demo_service: Service) -> None:
    svc = demo_service
    admin = svc.headers("admin")
    values = _path_values(svc, admin)
    spec = svc.client.get("/openapi.json").json()
    owners = {getattr(r, "path", ""): getattr(getattr(r, "endpoint", None), "__module__", "")
              for r in svc.client.app.routes}
    checked, failures, problems = 0, [], []
    for path, ops in spec["paths"].items():
        if "get" not in ops or not path.startswith(("/api/", "/healthz", "/readyz")):
            continue
        params: dict[str, str] = {}
        url = path
        for p in ops["get"].get("parameters", []):
            if p["in"] == "path":
                value = values["tag"] if path.startswith("/api/v1/tags/") else \
                    values["metric"] if path.startswith("/api/v1/metrics/") else values.get(p["name"], "")
                url = url.replace("{" + p["name"] + "}", value)
            elif p["in"] == "query" and p.get("required"):
                params[p["name"]] = values["user_id"] if p["name"] == "user_id" else QUERY.get(p["name"], "")
        r = svc.client.get(url, params=params, headers=admin)
        if r.status_code != 200:
            # the routers this test knows must answer; a later router whose ids it cannot guess may refuse
            # (never 5xx), and is still checked wherever it answers
            if owners.get(path) in KNOWN_ROUTERS or r.status_code >= 500:
                failures.append(f"{url} {r.status_code} {r.text[:200]}")
            continue
        if r.headers.get("content-type", "").startswith("application/json"):
            problems += [f"{url}: {p}" for p in _naive_strings(r.json())]
        else:  # CSV and text exports: every instant in them too
            problems += [f"{url}: {cell}" for line in r.text.splitlines() for cell in line.split(",")
                         if INSTANT.match(cell.strip('"')) and not OFFSET.search(cell.strip('"'))]
        checked += 1
    assert failures == [], "\n".join(failures)
    assert problems == [], "\n".join(problems)
    assert checked >= 40
