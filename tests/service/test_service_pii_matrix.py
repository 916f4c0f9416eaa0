"""Role × route × sensitive field: no raw value of a planted person reaches a masked role, anywhere.

One person is planted with distinctive personal values (pii_support.NEEDLES): the users table's
sensitive columns, JSON attributes under English and Chinese keys, a list of contacts and a phone
in free text inside event properties, and the same under order attributes. Then every route of
``app.routes`` that returns data — the API and the console, its pages, panels and CSV/Excel
downloads — is called as each masked caller (specialist and analyst, read API key) with the
planted person's ids, a real segment, a real experiment and breakdowns on every sensitive field,
and each body is searched for every form of every raw value. A 403 refusal is no leak; a 5xx is a
failure. The same walk as the admin must find the values (so the data does reach the routes),
and the profile must show them raw to manager and admin.

A route is either walked (ROUTES / CONSOLE_ROUTES / PANEL_PARAMS) or skipped with its reason: a
route added later fails ``test_every_route_is_classified`` until it is classified here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pii_support import (
    EXPERIMENT,
    NEEDLES,
    PLANTED_ID,
    PROFILE_FIELDS,
    RANGE,
    SAVED_SEGMENT,
    Planted,
    body_text,
    build_planted,
    search,
)

from jingyun.api.app import app_state
from jingyun.web.filters import DIMENSIONS
from jingyun.web.panels import PANELS

MASKED_API = ("specialist", "analyst", "read_key")  # bearer tokens and a read key ("always de-identified")
MASKED_CONSOLE = ("specialist", "analyst")  # signed in through the login form (session cookie)
RAW = ("manager", "admin")
SENSITIVE_BY = ("users.phone", "users.email", "users.name", "users.address", "users.birth_date", "users.attributes")
PROPERTY_BY = ("properties.contacts", "properties.note", "properties.联系电话", "properties.真实姓名")
DAYS = {"from": RANGE[0], "to": RANGE[1]}
PANEL_DAYS = {"from": "2024-05-01", "to": "2024-05-21"}  # the days with data
SMALL = "the planted warehouse is too small for this model (a 400 naming why, for every role)"
ONE_BY_ID = ("one object by its id or key: the planted home holds none (a 404 for every role); the list walked "
             "answers the same fields")


@dataclass(frozen=True)
class Call:
    """One request: query parameters, a JSON body (POST), path values beyond the defaults, and why
    the admin gets a 4xx where it does (else the admin must get an answer: the walk exercises data)."""

    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    path: dict[str, str] = field(default_factory=dict)
    admin_4xx: str | None = None


Walk = list[Call] | str  # the calls, or why the route is not walked
SEALED = "encrypted at rest: no role can group by it (422 encrypted_field; masked roles get 403 first)"
NOT_A_DIMENSION = "sensitive users columns are no funnel dimension for anyone (analysis.common.Dimension)"
FUNNEL_BODY = {"steps": ["view_product", "add_to_cart", "checkout", "pay"], "date_from": RANGE[0], "date_to": RANGE[1]}

ROUTES: dict[tuple[str, str], Walk] = {
    ("GET", "/healthz"): [Call()],
    ("GET", "/readyz"): [Call()],
    ("POST", "/api/v1/auth/login"): "signs in: answers a token for the credentials sent, no customer data",
    ("POST", "/api/v1/auth/logout"): "ends the caller's own session",
    ("POST", "/api/v1/auth/refresh"): "swaps the caller's own token for a new one, no customer data",
    ("GET", "/api/v1/me"): [Call()],
    ("PATCH", "/api/v1/me"): "changes the caller's own staff profile",
    ("POST", "/api/v1/events/batch"): "ingestion: per-record statuses of the records sent (admin, ingest key)",
    ("POST", "/api/v1/orders/batch"): "ingestion: per-record statuses of the records sent (admin, ingest key)",
    ("POST", "/api/v1/user/sync"): "ingestion: per-record statuses of the records sent (admin, ingest key)",
    ("GET", "/api/v1/users/export"): [Call({"limit": 1000})],
    ("GET", "/api/v1/users/{user_id}"): [Call()],
    ("GET", "/api/v1/segments"): [Call()],
    ("POST", "/api/v1/segments"): "creates a segment: answers the rule as it was sent",
    ("GET", "/api/v1/segments/{segment_id}"): [Call()],
    ("POST", "/api/v1/segments/{segment_id}/approve"): "a state change: answers the segment definition",
    ("DELETE", "/api/v1/segments/{segment_id}"): "deletes: answers 204",
    ("GET", "/api/v1/segments/{segment_id}/export"): [Call({"limit": 1000})],
    ("GET", "/api/v1/segments/{segment_id}/size"): [Call()],
    ("GET", "/api/v1/tags"): [Call()],
    ("GET", "/api/v1/tags/{name}"): [Call(path={"name": "{tag}"})],
    ("GET", "/api/v1/rfm"): [Call(), Call({"as_of": "2024-05-15"})],
    ("GET", "/api/v1/lifecycle"): [Call({"as_of": "2024-05-15"})],
    ("POST", "/api/v1/audience/estimate"): [
        Call(body={"rule": {"attr": "province", "op": "eq", "value": "浙江省"}}),
        Call(body={"rule": {"and": [{"attr": "member_level", "op": "eq", "value": "gold"},
                                    {"orders": "sum_amount", "within_days": 3650, "op": "gte", "value": 1}]}})],
    ("GET", "/api/v1/profiles/{user_id}"): [Call({"limit": 100})],
    ("POST", "/api/v1/analysis/funnel"): [
        *[Call(body={**FUNNEL_BODY, **({"by": by} if by else {})})
          for by in (None, "platform", "properties.note", "properties.contacts")],
        *[Call(body={**FUNNEL_BODY, "by": by}, admin_4xx=NOT_A_DIMENSION) for by in SENSITIVE_BY]],
    ("POST", "/api/v1/analysis/retention"): [Call(body={"cohort_event": "app_start", "return_event": "app_start",
                                                        "days": 7, "date_from": RANGE[0], "date_to": RANGE[1]})],
    ("POST", "/api/v1/analysis/paths"): [Call(body={"from_event": "view_product", "date_from": RANGE[0],
                                                    "date_to": RANGE[1]})],
    ("GET", "/api/v1/analysis/experiments"): [Call()],
    ("GET", "/api/v1/analysis/attribution"): [Call({"model": "all", **DAYS, "conversion_event": "pay"})],
    ("GET", "/api/v1/analysis/channels"): [Call(DAYS)],
    ("GET", "/api/v1/analysis/explain"): [
        Call({"metric": "gmv", "current": "2024-05-08..2024-05-14", "previous": "2024-05-01..2024-05-07", "by": by})
        for by in ("channel", "province,member_level")],
    ("GET", "/api/v1/analysis/anomalies"): [Call({"metric": "gmv", **DAYS})],
    ("GET", "/api/v1/metrics"): [Call()],
    ("GET", "/api/v1/metrics/{name}"): [Call(path={"name": "gmv"})],
    ("GET", "/api/v1/metrics/{name}/values"): [
        Call(DAYS, path={"name": "gmv"}),
        *[Call({**DAYS, "by": by}, path={"name": "gmv"}, admin_4xx=SEALED) for by in SENSITIVE_BY[:5]],
        *[Call({**DAYS, "by": by}, path={"name": "gmv"}) for by in ("users.attributes", "channel")],
        Call({**DAYS, "by": "users.phone", "include_test": "true"}, path={"name": "gmv"}, admin_4xx=SEALED),
        *[Call({**DAYS, "by": by}, path={"name": "gmv"}) for by in ("attributes.收货地址", "attributes.真实姓名")],
        *[Call({**DAYS, "by": by, "grain": "total"}, path={"name": "dau"}) for by in (*PROPERTY_BY, "users.attributes")],
        *[Call({**DAYS, "by": by, "grain": "total"}, path={"name": "dau"}, admin_4xx=SEALED)
          for by in SENSITIVE_BY[:5]]],
    ("GET", "/api/v1/kpi/targets"): [Call()],
    ("GET", "/api/v1/kpi/scorecard"): [Call({"period": "2024-05"})],
    ("GET", "/api/v1/assign"): [Call({"user_id": PLANTED_ID, "experiment": EXPERIMENT})],
    ("POST", "/api/v1/experiments/calc"): [Call(body={"control": {"n": 1000, "conversions": 100},
                                                      "treatments": [{"n": 1000, "conversions": 120}]})],
    ("GET", "/api/v1/experiments"): [Call()],
    ("GET", "/api/v1/experiments/power"): [Call({"baseline": 0.1, "mde": 0.02})],
    ("GET", "/api/v1/experiments/{key}"): [Call()],
    ("GET", "/api/v1/experiments/{key}/analysis"): [Call()],
    ("POST", "/api/v1/experiments/{key}/conclude"): "a decision (manager, admin): answers the experiment definition",
    ("GET", "/api/v1/models"): [Call()],
    ("GET", "/api/v1/models/clv/fit"): [Call({"calibration_end": "2024-05-10", "holdout_end": "2024-05-21"},
                                             admin_4xx=SMALL)],
    ("GET", "/api/v1/models/scores"): [Call({"person_id": PLANTED_ID}), Call()],
    ("GET", "/api/v1/models/forecast"): [Call({"horizon": 7, "backtest_origins": 0}, admin_4xx=SMALL)],
    ("GET", "/api/v1/quarantine"): [Call()],
    ("GET", "/api/v1/quarantine/{qid}"): [Call()],
    ("POST", "/api/v1/quarantine/replay"): "writes (admin): answers counts",
    ("GET", "/api/v1/schema/tables"): [Call()],
    ("GET", "/api/v1/schema/tables/{name}"): [Call(path={"name": "users"}), Call(path={"name": "events"})],
    ("GET", "/api/v1/admin/users"): [Call()],
    ("POST", "/api/v1/admin/users"): "creates a staff account (admin)",
    ("PATCH", "/api/v1/admin/users/{username}"): "changes a staff account (admin)",
    ("GET", "/api/v1/admin/departments"): [Call()],
    ("GET", "/api/v1/admin/keys"): [Call()],
    ("POST", "/api/v1/admin/keys"): "creates an API key (admin): answers the new key",
    ("DELETE", "/api/v1/admin/keys/{prefix}"): "revokes an API key (admin)",
    ("GET", "/api/v1/audit"): [Call({"limit": 1000})],
    ("GET", "/api/v1/audit/export"): [Call()],
    ("GET", "/api/v1/admin/alerts"): [Call()],
    # manage by the numbers: alerts carry metric values, departments and staff, never a customer's fields
    ("GET", "/api/v1/alerts"): [Call()],
    ("GET", "/api/v1/alerts/risk-map"): [Call()],
    ("GET", "/api/v1/alerts/rules"): [Call()],
    ("POST", "/api/v1/alerts/evaluate"): "judges the rules (manager, admin): answers counts of alerts opened",
    ("GET", "/api/v1/alerts/{alert_id}"): ONE_BY_ID,
    ("POST", "/api/v1/alerts/{alert_id}/{action}"): "a state change of an alert routed to the caller",
    ("GET", "/api/v1/approvals/route"): [Call({"type": "marketing", "amount": "5000"})],
    ("POST", "/api/v1/approvals"): "submits the caller's own request: answers it as sent",
    ("GET", "/api/v1/approvals"): [Call()],
    ("GET", "/api/v1/approvals/sla"): [Call()],
    ("GET", "/api/v1/approvals/{request_id}"): ONE_BY_ID,
    ("POST", "/api/v1/approvals/{request_id}/approve"): "a decision on a step of the caller's",
    ("POST", "/api/v1/approvals/{request_id}/reject"): "a decision on a step of the caller's",
    ("POST", "/api/v1/approvals/{request_id}/comments"): "writes the caller's comment",
    ("POST", "/api/v1/approvals/{request_id}/withdraw"): "withdraws the caller's own request",
    ("POST", "/api/v1/approvals/{request_id}/attachments"): "uploads the caller's file",
    ("GET", "/api/v1/approvals/{request_id}/attachments/{attachment_id}"): "a file a staff member attached, "
                                                                           "read back by the request's people",
    ("POST", "/api/v1/approvals/delegations"): "writes the caller's delegation",
    ("DELETE", "/api/v1/approvals/delegations/{delegation_id}"): "revokes the caller's delegation",
    ("GET", "/api/v1/org"): [Call()],
    ("POST", "/api/v1/org/import"): "imports staff (admin): answers counts",
    ("GET", "/api/v1/incidents/playbooks"): [Call()],
    ("POST", "/api/v1/incidents"): "reports an incident: answers it as sent",
    ("GET", "/api/v1/incidents"): [Call()],
    ("GET", "/api/v1/incidents/{incident_id}"): ONE_BY_ID,
    ("POST", "/api/v1/incidents/{incident_id}/steps/{idx}"): "ticks a playbook step (manager, admin)",
    ("POST", "/api/v1/incidents/{incident_id}/notes"): "writes the caller's note",
    ("POST", "/api/v1/incidents/{incident_id}/level"): "changes the level (manager, admin)",
    ("POST", "/api/v1/incidents/{incident_id}/close"): "closes with the review (manager, admin)",
    ("GET", "/api/v1/budgets"): [Call()],
    ("POST", "/api/v1/budgets"): "plans a budget (manager, admin): answers it as sent",
    ("GET", "/api/v1/budgets/overspend"): [Call(), Call({"as_of": "2024-05-15"})],
    ("POST", "/api/v1/budgets/optimize"): "an allocation from the numbers sent (manager, admin)",
    ("GET", "/api/v1/budgets/{key}"): ONE_BY_ID,
    ("GET", "/api/v1/budgets/{key}/status"): ONE_BY_ID,
    ("POST", "/api/v1/budgets/{key}/releases"): "asks to release money (manager, admin)",
    ("POST", "/api/v1/pricing/competitor-prices"): "records competitor prices (manager, admin): answers counts",
    ("GET", "/api/v1/pricing/matches"): [Call()],
    ("POST", "/api/v1/pricing/matches"): "matches a competitor item (manager, admin)",
    ("GET", "/api/v1/pricing/moves"): [Call()],
    ("GET", "/api/v1/pricing/rules"): [Call()],
    ("POST", "/api/v1/pricing/rules"): "writes a pricing rule (manager, admin)",
    ("GET", "/api/v1/pricing/proposals"): [Call()],
    ("POST", "/api/v1/pricing/proposals"): "proposes prices (manager, admin)",
    ("POST", "/api/v1/pricing/apply"): "applies approved prices (manager, admin)",
    ("GET", "/api/v1/pricing/products/{product_id}/history"): [Call(path={"product_id": "p1"})],
    # act: journeys, messages and consent, coupons
    ("GET", "/api/v1/journeys"): [Call()],
    ("GET", "/api/v1/journeys/{key}"): ONE_BY_ID,
    ("POST", "/api/v1/journeys"): "saves a journey definition: answers it as sent",
    ("POST", "/api/v1/journeys/{key}/activate"): "a state change (manager, admin)",
    ("POST", "/api/v1/journeys/{key}/pause"): "a state change (manager, admin)",
    ("POST", "/api/v1/journeys/{key}/resume"): "a state change (manager, admin)",
    ("POST", "/api/v1/journeys/{key}/simulate"): ONE_BY_ID,
    ("GET", "/api/v1/journeys/{key}/report"): ONE_BY_ID,
    ("POST", "/api/v1/journeys/validate"): "checks the definition sent: answers its problems",
    ("POST", "/api/v1/journeys/{key}/request-activation"): "submits an approval request for a journey version",
    ("GET", "/api/v1/messages/deliveries"): [Call()],
    ("GET", "/api/v1/messages/deliveries/{delivery_id}"): ONE_BY_ID,
    ("GET", "/api/v1/messages/dead-letters"): [Call()],
    ("POST", "/api/v1/messages/dead-letters/replay"): "sends again: answers delivery statuses",
    ("POST", "/api/v1/messages/retry"): "runs the retry worker: answers counts",
    ("POST", "/api/v1/messages/send"): "sends one message: answers its delivery status",
    ("GET", "/api/v1/messages/templates"): [Call()],
    ("POST", "/api/v1/messages/templates/preview"): [Call(body={"template": name}) for name in ("cart_reminder",)],
    ("GET", "/api/v1/messages/endpoints"): [Call()],
    ("POST", "/api/v1/messages/endpoints"): "adds a webhook endpoint (admin): answers its secret once",
    ("PUT", "/api/v1/consent/{user_id}"): "records consent (admin, ingest key): answers the record sent",
    ("GET", "/api/v1/consent/{user_id}"): [Call()],
    ("POST", "/api/v1/consent/import"): "records consent from CSV (admin, ingest key): answers counts",
    ("GET", "/api/v1/messages/t/open/{token}.gif"): "public tracking pixel: a signed token in, a 1x1 gif out",
    ("GET", "/api/v1/messages/t/click/{token}"): "public click redirect: a signed token in, a redirect out",
    ("GET", "/api/v1/coupons"): [Call()],
    ("POST", "/api/v1/coupons"): "creates a template: answers it as sent",
    ("POST", "/api/v1/coupons/report"): "redemption report of the orders sent in the body",
    ("POST", "/api/v1/coupons/thresholds"): "threshold advice from the numbers sent",
    ("GET", "/api/v1/coupons/{key}"): ONE_BY_ID,
    ("GET", "/api/v1/coupons/{key}/codes"): ONE_BY_ID,
    ("POST", "/api/v1/coupons/{key}/issue"): "issues a code to the user id sent: answers the code",
    ("POST", "/api/v1/coupons/{key}/status"): "a state change",
    # PIPL data-subject rights (admin only): the export must show the planted person whole
    ("GET", "/api/v1/privacy/{user_id}"): [Call()],
    ("POST", "/api/v1/privacy/{user_id}/erase"): "erases the person (admin): answers counts; the walk keeps them",
}

FUNNEL = {"steps": "view_product,add_to_cart,checkout,pay"}
PEOPLE_RULE = '{"attr": "province", "op": "eq", "value": "浙江省"}'  # the planted person's province: the drill lists them
SHORT = "the anomaly model needs more days than the planted three weeks (a 400 naming why, for every role)"
PANEL_PARAMS: dict[str, list[Call]] = {
    "segments": [Call()],
    "segment_trend": [Call({"name": SAVED_SEGMENT})],
    "rfm": [Call()],
    "lifecycle": [Call()],
    "transitions": [Call()],
    "lifecycle_flow": [Call()],
    "kpi": [Call({"id": "gmv"})],
    "trend": [Call({"metric": "gmv"})],
    "breakdown": [Call({"metric": "gmv", "by": by}) for by in DIMENSIONS],
    "scorecard": [Call()],
    "alerts": [Call()],
    "funnel": [Call(FUNNEL), *(Call({**FUNNEL, "by": by}) for by in ("properties.note", "properties.contacts")),
               *(Call({**FUNNEL, "by": by}, admin_4xx=NOT_A_DIMENSION) for by in SENSITIVE_BY)],
    "funnel_breakdown": [Call({**FUNNEL, "by": by}) for by in ("platform", "properties.note", "properties.contacts")],
    "retention": [Call()],
    "paths": [Call()],
    "attribution": [Call()],
    "channels": [Call()],
    "diagnosis": [Call({"metric": "gmv"})],
    "tracking": [Call()],
    "checks": [Call()],
    "quarantine": [Call()],
    "experiment": [Call({"key": EXPERIMENT})],
    "model_registry": [Call()],
    "clv_report": [Call({"calibration_end": "2024-05-10", "holdout_end": "2024-05-21"}, admin_4xx=SMALL)],
    "churn_report": [Call({"horizon_days": "7", "train_cutoffs": "1"}, admin_4xx=SMALL)],
}

CONSOLE_ROUTES: dict[tuple[str, str], Walk] = {
    ("GET", "/console"): [Call()],
    ("GET", "/console/"): [Call(DAYS), Call({**DAYS, "dim": "users.province"})],
    ("GET", "/console/panel/{name}"): "walked panel by panel (PANEL_PARAMS)",
    ("GET", "/console/export/{name}.{fmt}"): "walked panel by panel, CSV and Excel (PANEL_PARAMS)",
    ("GET", "/console/login"): [Call()],
    ("POST", "/console/login"): "signs in",
    ("POST", "/console/logout"): "signs out",
    ("GET", "/console/lang/{locale}"): "sets the language cookie and redirects",
    ("GET", "/console/analyses"): [Call()],
    ("GET", "/console/users"): [Call(DAYS)],
    ("GET", "/console/users/segment"): [Call({"name": SAVED_SEGMENT})],
    ("GET", "/console/users/audience"): [Call()],
    ("POST", "/console/users/estimate"): [Call(body={"rule": '{"attr": "province", "op": "eq", "value": "浙江省"}'})],
    ("POST", "/console/users/segments"): "writes: saves the builder's rule as a segment (answers a status fragment)",
    ("GET", "/console/users/profile"): [Call({"user_id": PLANTED_ID})],
    ("GET", "/console/experiments"): [Call({"key": EXPERIMENT})],
    ("GET", "/console/quality"): [Call()],
    ("POST", "/console/quality/replay"): "writes (admin): replays quarantined records",
    ("GET", "/console/admin"): [Call()],
    ("GET", "/console/jobs"): [Call(), Call({"page": "2"})],
    ("POST", "/console/jobs/{name}/run"): "writes (admin): starts a scheduled job now",
    ("GET", "/console/dashboards"): [Call()],
    ("POST", "/console/dashboards/pin"): "writes: pins a panel (its name and parameters)",
    ("POST", "/console/dashboards/{pin_id}/share"): "writes: shares a pin",
    ("POST", "/console/dashboards/{pin_id}/unpin"): "writes: removes a pin",
    ("GET", "/console/alerts"): [Call()],
    ("GET", "/console/alerts/map"): [Call()],
    ("POST", "/console/alerts/{alert_id}/{action}"): "a state change of an alert routed to the caller",
    ("GET", "/console/approvals"): [Call()],
    ("GET", "/console/approvals/{rid}"): ONE_BY_ID,
    ("POST", "/console/approvals/{rid}"): "a decision or comment on a request",
    ("GET", "/console/budgets"): [Call()],
    ("GET", "/console/pricing"): [Call()],
    ("GET", "/console/coupons"): [Call()],
    ("GET", "/console/incidents"): [Call()],
    ("POST", "/console/incidents"): "reports an incident",
    ("GET", "/console/incidents/{iid}"): ONE_BY_ID,
    ("POST", "/console/incidents/{iid}"): "ticks, notes or closes an incident",
    ("GET", "/console/messages"): [Call()],
    ("GET", "/console/users/people"): [Call({"src": "rule", "rule": PEOPLE_RULE}),
                                       Call({"src": "segment", "name": SAVED_SEGMENT})],
    ("GET", "/console/users/people.csv"): [Call({"src": "rule", "rule": PEOPLE_RULE})],
    ("GET", "/console/drill/funnel"): [Call({**DAYS, **FUNNEL})],
    ("GET", "/console/drill/diagnosis"): [Call({**DAYS, "metric": "gmv"})],
    ("GET", "/console/models"): [Call()],
    ("GET", "/console/admin/people"): [Call()],
    ("POST", "/console/admin/people"): "writes (admin): creates a staff account",
    ("POST", "/console/admin/people/departments"): "writes (admin): puts a staff member in a department",
    ("POST", "/console/admin/people/new-department"): "writes (admin): creates a department",
    ("GET", "/console/drill/retention"): [Call(DAYS)],
    ("GET", "/console/experiments/new"): [Call()],
    ("POST", "/console/experiments/new"): "writes: creates an experiment from the form",
    ("GET", "/console/journeys"): [Call()],
    ("GET", "/console/journeys/new"): [Call()],
    ("GET", "/console/journeys/{key}"): ONE_BY_ID,
    ("POST", "/console/journeys/editor"): "checks, previews or saves the definition sent in the form",
    ("POST", "/console/journeys/{key}/activation"): "writes: asks for a journey version's activation",
    ("POST", "/console/dashboards/boards"): "writes: creates a board",
    ("POST", "/console/dashboards/boards/{board_id}"): "writes: renames or shares a board",
    ("POST", "/console/dashboards/boards/{board_id}/range"): "writes: a board's date range",
    ("POST", "/console/dashboards/boards/{board_id}/delete"): "writes: deletes a board",
    ("POST", "/console/dashboards/boards/{board_id}/text"): "writes: a board's text tile",
    ("POST", "/console/dashboards/items/{item_id}/move"): "writes: moves a tile",
    ("POST", "/console/dashboards/items/{item_id}/resize"): "writes: resizes a tile",
    ("POST", "/console/dashboards/items/{item_id}/remove"): "writes: removes a tile",
    ("GET", "/console/unsubscribe/{token}"): "public unsubscribe page: a signed token in, the choices out",
    ("POST", "/console/unsubscribe/{token}"): "public unsubscribe: records the choice of the signed token's person",
}


@dataclass
class Hit:
    who: str
    method: str
    url: str
    status: int
    found: list[str]
    admin_4xx: str | None = None

    def line(self) -> str:
        return f"{self.who:10} {self.method} {self.url} -> {self.status}: {', '.join(self.found)}"


def app_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every route, included routers flattened with their prefixes."""
    out: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out += [(m, prefix + route.path) for m in sorted(route.methods or ())]
        elif hasattr(route, "original_router"):
            inner = getattr(getattr(route, "include_context", None), "prefix", "")
            out += app_routes(route.original_router.routes, prefix + inner)
    return out


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planted]:
    yield from build_planted(tmp_path_factory.mktemp("pii"))


def _defaults(p: Planted) -> dict[str, str]:
    from jingyun.segments.tags import load_tags

    tags = load_tags(app_state(p.app).settings)
    return {"user_id": PLANTED_ID, "segment_id": str(p.segment_id), "qid": str(p.qid or 1), "key": EXPERIMENT,
            "tag": next(iter(tags))}


def _url(path: str, call: Call, defaults: dict[str, str]) -> str:
    values = {**defaults, **{k: v.format(**defaults) for k, v in call.path.items()}}
    return path.format(**values)


def _send(client: httpx.Client, method: str, url: str, call: Call, headers: dict[str, str],
          form: bool = False) -> httpx.Response:
    if call.body is None:
        return client.request(method, url, params=call.params, headers=headers, follow_redirects=False)
    if form:
        return client.request(method, url, params=call.params, data=call.body, headers=headers, follow_redirects=False)
    return client.request(method, url, params=call.params, json=call.body, headers=headers, follow_redirects=False)


def _record(hits: list[Hit], who: str, method: str, r: httpx.Response, call: Call | None = None) -> None:
    url = str(r.request.url).removeprefix("http://testserver")
    if call is not None and call.body is not None:
        url += " " + json.dumps(call.body, ensure_ascii=False)
    hits.append(Hit(who, method, url, r.status_code, search(body_text(r)), call.admin_4xx if call else None))


@pytest.fixture(scope="module")
def api_walk(planted: Planted) -> list[Hit]:
    return walk_api(planted)


@pytest.fixture(scope="module")
def console_walk(planted: Planted) -> list[Hit]:
    return walk_console(planted)


def walk_api(planted: Planted) -> list[Hit]:
    """Every walked API call as each masked caller — bearer tokens, a read key, and the session cookie
    of a console sign-in — and as the admin."""
    defaults = _defaults(planted)
    callers: list[tuple[str, httpx.Client, dict[str, str]]] = [
        *[(who, planted.client, planted.headers(who)) for who in (*MASKED_API, "admin")],
        *[(f"{role}/cookie", planted.console(role), {}) for role in MASKED_CONSOLE]]
    hits: list[Hit] = []
    for (method, path), walk in ROUTES.items():
        if isinstance(walk, str):
            continue
        for call in walk:
            url = _url(path, call, defaults)
            for who, client, headers in callers:
                _record(hits, who, method, _send(client, method, url, call, headers), call)
    return hits


def walk_console(planted: Planted) -> list[Hit]:
    """Every walked page, panel and download as each masked role (signed in) and as the admin."""
    defaults = _defaults(planted)
    hits: list[Hit] = []
    for who in (*MASKED_CONSOLE, "admin"):
        client = planted.console(who)
        for (method, path), walk in CONSOLE_ROUTES.items():
            if isinstance(walk, str):
                continue
            for call in walk:
                r = _send(client, method, _url(path, call, defaults), call, {}, form=True)
                _record(hits, who, method, r, call)
        for name, calls in PANEL_PARAMS.items():
            for call in calls:
                params = {**PANEL_DAYS, **call.params}
                for url in (f"/console/panel/{name}", f"/console/export/{name}.csv", f"/console/export/{name}.xlsx"):
                    _record(hits, who, "GET", client.get(url, params=params, follow_redirects=False), call)
    # a read key is refused by the console: it must not get anything either
    for path in ("/console/users/profile", "/console/export/segments.csv"):
        r = planted.client.get(path, params={"user_id": PLANTED_ID}, headers=planted.headers("read_key"),
                               follow_redirects=False)
        _record(hits, "read_key", "GET", r)
    return hits


def test_every_route_is_classified(planted: Planted) -> None:
    routes = set(app_routes(planted.app.routes))
    classified = set(ROUTES) | set(CONSOLE_ROUTES)
    assert routes - classified == set(), "routes the PII matrix does not walk or skip with a reason"
    assert classified - routes == set(), "classified routes that no longer exist"
    assert set(PANELS) == set(PANEL_PARAMS), "console panels the PII matrix does not walk"


def _failures(hits: list[Hit], masked: tuple[str, ...]) -> tuple[list[str], list[str]]:
    leaks = [h.line() for h in hits if h.who in masked and h.found]
    errors = [f"{h.who:10} {h.method} {h.url} -> {h.status}" for h in hits if h.status >= 500]
    return leaks, errors


def test_no_planted_value_reaches_a_masked_role_through_the_api(api_walk: list[Hit]) -> None:
    leaks, errors = _failures(api_walk, (*MASKED_API, *(f"{role}/cookie" for role in MASKED_CONSOLE)))
    assert not errors, "server errors:\n" + "\n".join(errors)
    assert not leaks, f"{len(leaks)} responses carry raw planted values:\n" + "\n".join(leaks)


def test_no_planted_value_reaches_a_masked_role_in_the_console(console_walk: list[Hit]) -> None:
    leaks, errors = _failures(console_walk, (*MASKED_CONSOLE, "read_key"))
    assert not errors, "server errors:\n" + "\n".join(errors)
    assert not leaks, f"{len(leaks)} pages or downloads carry raw planted values:\n" + "\n".join(leaks)


def test_the_walk_reaches_every_planted_value_as_admin(api_walk: list[Hit], console_walk: list[Hit]) -> None:
    """The guard against passing by returning nothing: as the admin, the same walk finds every
    planted field somewhere, the data routes answer, and the masked roles got answers too."""
    admin = [h for h in api_walk + console_walk if h.who == "admin"]
    seen = {f.partition("=")[0] for h in admin for f in h.found}
    assert seen == set(NEEDLES), f"planted fields no route shows even to the admin: {set(NEEDLES) - seen}"
    unanswered = [f"{h.method} {h.url} -> {h.status}" for h in admin if h.status >= 400 and not h.admin_4xx]
    assert not unanswered, "the admin gets no answer here: fix the walk's parameters\n" + "\n".join(unanswered)
    for must in ("/api/v1/profiles/", "/api/v1/users/planted", "/api/v1/segments/", "/api/v1/metrics/gmv/values",
                 "/api/v1/analysis/funnel", "/console/users/profile", "/console/panel/funnel"):
        assert any(h.url.startswith(must) and h.status == 200 for h in admin), must
    # every masked caller was let in to read the planted profile: its clean bodies are not refusals
    profiles = {h.who for h in api_walk if h.url.startswith("/api/v1/profiles/") and h.status == 200}
    assert profiles >= {*MASKED_API, *(f"{role}/cookie" for role in MASKED_CONSOLE)}, profiles
    pages = {h.who for h in console_walk if h.url.startswith("/console/users/profile") and h.status == 200}
    assert pages >= set(MASKED_CONSOLE), pages


def test_raw_roles_see_the_planted_profile(planted: Planted) -> None:
    want = set(PROFILE_FIELDS)
    for who in RAW:
        for url in (f"/api/v1/profiles/{PLANTED_ID}?limit=100",):
            r = planted.client.get(url, headers=planted.headers(who))
            assert r.status_code == 200, (who, r.text)
            found = {f.partition("=")[0] for f in search(body_text(r))}
            assert want <= found, (who, url, want - found)
        page = planted.console(who).get("/console/users/profile", params={"user_id": PLANTED_ID})
        found = {f.partition("=")[0] for f in search(body_text(page))}
        assert {"users.phone", "users.name", "users.email"} <= found, (who, found)


def test_a_count_that_pins_one_person_tells_a_masked_role_nothing(planted: Planted) -> None:
    """Finding 4: halving a birth-date range around one user id recovered the date. A masked role
    gets a refusal or a suppressed count, never the exact 1 or 0."""
    for lo, hi in (("1991-01-01", "1991-12-31"), ("1991-07-13", "1991-07-13"), ("1992-01-01", "1992-12-31")):
        rule = {"and": [{"attr": "user_id", "op": "eq", "value": PLANTED_ID},
                        {"attr": "birth_date", "op": "between", "value": [lo, hi]}]}
        for who in MASKED_API:
            r = planted.client.post("/api/v1/audience/estimate", json={"rule": rule}, headers=planted.headers(who))
            assert r.status_code < 500, r.text
            if r.status_code == 200:
                assert r.json()["size"] not in (0, 1), (who, lo, hi, r.json()["size"])
            else:
                assert r.status_code in (403, 422), (who, r.status_code, r.text)
