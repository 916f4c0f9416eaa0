"""schemathesis against the OpenAPI spec, in process (ASGI, no network): no 5xx, no schema violations."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import response_schema_conformance
from service_support import Service

pytestmark = pytest.mark.slow  # ~30 s of generated requests

EXAMPLES = 5


def test_api_conforms_to_its_schema(svc: Service) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", svc.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    for op in operations:
        if op.method.upper() == "DELETE" and op.path == "/api/v1/admin/keys/{prefix}":
            continue  # would revoke the keys this run uses
        who = "ingest_key" if op.path.endswith(("/batch", "/sync")) else "admin"
        _check_operation(op, svc.headers(who))


def _check_operation(op: Any, auth_headers: dict[str, str]) -> None:
    @given(case=op.as_strategy())
    # derandomize: CI explores the same cases every run (a random exploration found the NaN in
    # the power calculator; run with --hypothesis-seed to explore further)
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=True)
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers={**(case.headers or {}), **auth_headers})
        assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
        case.validate_response(response, checks=[response_schema_conformance])

    check()


def test_spec_is_served(svc: Service) -> None:
    spec = svc.client.get("/openapi.json").json()
    assert "/api/v1/events/batch" in spec["paths"]
    assert spec["paths"]["/api/v1/users/{user_id}"]["get"]["responses"]["403"]
