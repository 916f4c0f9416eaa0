"""The API offers every option the library has (issue 17, thin edges): each route's query string or body
is derived from its parameter object, so a field of the object that is not a parameter of the route fails
here. Read from the served OpenAPI document, which is what clients and schemathesis see."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from jingyun.analysis import FunnelParams, PathsParams, RetentionParams
from jingyun.api.app import create_app
from jingyun.config import Settings
from jingyun.experiments.results import AnalysisOptions
from jingyun.models.clv import ClvParams
from jingyun.models.forecast import ForecastParams
from jingyun.segments.lifecycle import LifecycleParams
from jingyun.segments.rfm import RfmParams

SETTINGS_FIELDS = {"timezone"}
# (method, path, parameter object, {library field: wire name}, fields a service does not take)
ROUTES: list[tuple[str, str, type, dict[str, str], set[str]]] = [
    ("post", "/api/v1/analysis/funnel", FunnelParams, {}, set()),
    ("post", "/api/v1/analysis/retention", RetentionParams, {"periods": "days"}, set()),
    ("post", "/api/v1/analysis/paths", PathsParams, {}, set()),
    ("get", "/api/v1/rfm", RfmParams, {}, set()),
    ("get", "/api/v1/lifecycle", LifecycleParams, {}, set()),
    ("get", "/api/v1/models/clv/fit", ClvParams, {}, set()),
    ("get", "/api/v1/models/forecast", ForecastParams, {}, {"exog_csv"}),  # a file on the server
    ("get", "/api/v1/experiments/{key}/analysis", AnalysisOptions, {}, set()),
]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home: Path = tmp_path_factory.mktemp("home")
    return create_app(Settings(home=home)).openapi()


def _offered(spec: dict[str, Any], method: str, path: str) -> set[str]:
    op = spec["paths"][path][method]
    names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body is not None:
        ref = body["$ref"].rsplit("/", 1)[-1]
        names |= set(spec["components"]["schemas"][ref]["properties"])
    return names


@pytest.mark.parametrize(("method", "path", "params", "renamed", "excluded"), ROUTES, ids=[r[1] for r in ROUTES])
def test_every_library_option_is_offered(spec: dict[str, Any], method: str, path: str, params: type,
                                         renamed: dict[str, str], excluded: set[str]) -> None:
    wanted = {renamed.get(f.name, f.name) for f in dataclasses.fields(params)} - SETTINGS_FIELDS - excluded
    offered = _offered(spec, method, path)
    assert wanted - offered == set(), f"{path} lacks {sorted(wanted - offered)} of {params.__name__}"


def test_funnel_offers_exclusions_and_test_accounts(spec: dict[str, Any]) -> None:
    """The issue's own example: the funnel API lacked exclusions and include_test."""
    assert {"exclusions", "include_test"} <= _offered(spec, "post", "/api/v1/analysis/funnel")


def test_the_check_sees_a_missing_option(spec: dict[str, Any]) -> None:
    """Not vacuous: a field the route does not take (the forecast's server-side exog file) is found missing."""
    wanted = {f.name for f in dataclasses.fields(ForecastParams)} - SETTINGS_FIELDS
    assert wanted - _offered(spec, "get", "/api/v1/models/forecast") == {"exog_csv"}
