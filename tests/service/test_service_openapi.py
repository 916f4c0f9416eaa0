"""schemathesis against the OpenAPI spec, in process (ASGI, no network): no 5xx, no schema violations.

Part of the standing security suite of issue 15: it runs in ``make test`` (and so in CI), which
deselects no marker; ``test_the_standing_suite_is_not_deselected`` keeps it that way.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import response_schema_conformance
from service_support import PASSWORD, Service, build_service

from jingyun.security import auth

pytestmark = pytest.mark.slow  # ~30 s of generated requests

EXAMPLES = 5
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Service]:
    """A service for one schemathesis run: schemathesis starts the app's lifespan on its first call and
    shuts it down when the test ends, which closes the warehouse and store of that service."""
    yield from build_service(tmp_path)


def test_api_conforms_to_its_schema(own: Service) -> None:
    schema: Any = schemathesis.openapi.from_asgi("/openapi.json", own.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    state = own.state
    auth.create_person(state.store, username="throwaway", password=PASSWORD, role="admin", service=state.service)
    throwaway = {"Authorization": f"Bearer {auth.issue_token(state.service, 'throwaway')}"}
    for op in operations:
        key = (op.method.upper(), op.path)
        if key == ("DELETE", "/api/v1/admin/keys/{prefix}"):
            continue  # would revoke the keys this run uses
        if key == ("POST", "/api/v1/auth/logout"):
            _check_operation(op, throwaway)  # it ends every session and token of the caller
            continue
        who = "ingest_key" if op.path.endswith(("/batch", "/sync")) else "admin"
        _check_operation(op, own.headers(who))
    # the run did not pass by being signed out half-way (every later answer would be a 401)
    assert own.client.get("/api/v1/me", headers=own.headers("admin")).status_code == 200


def test_masked_reads_conform_too(own: Service) -> None:
    """The analyst's reads take the masking gate's paths (refusals of sensitive breakdowns, suppressed
    counts, de-identified rows): those answers must be documented and free of 5xx as well."""
    schema: Any = schemathesis.openapi.from_asgi("/openapi.json", own.client.app)
    for result in schema.get_all_operations():
        op = result.ok()
        if op.method.upper() == "GET" or op.path == "/api/v1/audience/estimate":
            _check_operation(op, own.headers("analyst"), examples=3)


def _check_operation(op: Any, auth_headers: dict[str, str], examples: int = EXAMPLES) -> None:
    @given(case=op.as_strategy())
    # derandomize: CI explores the same cases every run (a random exploration found the NaN in
    # the power calculator; run with --hypothesis-seed to explore further)
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=True)
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers={**dict(case.headers or {}), **auth_headers})
        assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
        case.validate_response(response, checks=[response_schema_conformance])

    check()


def test_spec_is_served(svc: Service) -> None:
    spec = svc.client.get("/openapi.json").json()
    assert "/api/v1/events/batch" in spec["paths"]
    assert spec["paths"]["/api/v1/users/{user_id}"]["get"]["responses"]["403"]


def test_the_standing_suite_is_not_deselected() -> None:
    """`make test` is what CI runs (.ci/run): neither it nor pytest's configuration may deselect the
    slow marker, which this module and other end-to-end runs carry."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    addopts = config.get("addopts", "")
    assert not re.search(r"(^|\s)(-m|--markers?)\b", addopts) and "not slow" not in addopts, addopts
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert recipe is not None and "pytest" in recipe.group(1)
    pytest_args = recipe.group(1).split("pytest", 1)[1].splitlines()[0]  # `python -m pytest` has its own -m
    assert not re.search(r"(^|\s)(-m|-k|--deselect|--ignore)\b|not slow", pytest_args), pytest_args
