"""The permission matrix as data: each role's permissions, API-key scopes, raw
personal data and department scope, checked against the table in the module's
docstring (the route x role test checks the routes; this checks the rules)."""

from __future__ import annotations

import pytest

from jingyun.errors import JingyunError
from jingyun.security.roles import PERMISSIONS, ROLES, Principal, check_role


def person(role: str, departments: frozenset[int] = frozenset()) -> Principal:
    return Principal(name=role, role=check_role(role), kind="session", departments=departments)


def granted(p: Principal) -> set[str]:
    return {perm for perm in PERMISSIONS if p.may(perm)}


def test_each_role_has_exactly_its_permissions() -> None:
    everyone = {"public", "authenticated", "schema:read", "profile:read", "segments:view",
                # see and act on what is routed to you: journeys, deliveries, coupons, alerts, incidents,
                # approvals waiting on you, prices
                "journeys:view", "messages:view", "coupons:view", "alerts:view", "alerts:ack",
                "incidents:view", "incidents:open", "approvals:decide", "pricing:view"}
    makers = {"journeys:create", "messages:send", "coupons:create", "approvals:submit"}
    assert granted(person("specialist")) == everyone | makers | {"segments:export", "segments:create"}
    # analysts save segments (de-identified, into their own department or the workspace) but export nothing
    assert granted(person("analyst")) == everyone | {"analysis:run", "budgets:view", "segments:create"}
    assert granted(person("manager")) == everyone | makers | {
        "users:export", "segments:export", "analysis:run", "segments:create", "segments:approve",
        "jobs:view", "journeys:approve", "alerts:manage", "incidents:manage", "budgets:view", "budgets:manage",
        "pricing:manage"}
    assert granted(person("admin")) == set(PERMISSIONS)


def test_api_keys_never_exceed_their_scope_or_role() -> None:
    ingest = Principal("k1", "admin", "api_key", scope="ingest")
    assert granted(ingest) == {"public", "events:ingest"}
    read_admin = Principal("k2", "admin", "api_key", scope="read")
    assert granted(read_admin) == {"public", "schema:read", "profile:read", "analysis:run", "segments:view"}
    read_specialist = Principal("k3", "specialist", "api_key", scope="read")
    assert granted(read_specialist) == {"public", "schema:read", "profile:read", "segments:view"}  # no analysis:run
    assert not read_admin.sees_raw  # a key never sees personal data in clear, whatever its role


def test_raw_data_and_department_scope() -> None:
    assert [person(r).sees_raw for r in ROLES] == [False, False, True, True]
    specialist, manager = person("specialist", frozenset({1})), person("manager", frozenset({2, 3}))
    assert specialist.can_see_department(1) and not specialist.can_see_department(2)
    assert manager.can_see_department(3) and not manager.can_see_department(1)
    assert person("analyst").can_see_department(99) and person("admin").can_see_department(99)


def test_refusals_are_clear() -> None:
    with pytest.raises(JingyunError) as caught:
        person("analyst").require("segments:delete")
    assert caught.value.status == 403 and "analyst" in caught.value.message
    with pytest.raises(JingyunError) as bad:
        check_role("superuser")
    assert bad.value.status == 422 and bad.value.field == "role"
    with pytest.raises(KeyError):
        person("admin").may("segments:teleport")  # an undeclared permission is a bug, not a refusal
