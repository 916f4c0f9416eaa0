"""The operations permission matrix (权限矩阵) and object-level scope checks.

| role | 中文 | data scope | may |
|---|---|---|---|
| specialist | 运营专员 | own department's segments | view, export (de-identified) |
| analyst | 数据分析师 | all data, de-identified | view, analyse, save segments (own department, else workspace; no export) |
| manager | 运营负责人 | own departments | view, approve, export |
| admin | 系统管理员 | everything | view, change, delete, manage users |

Every route declares exactly one permission (``public`` and ``authenticated``
included); the route × role test walks ``app.routes`` and fails on a route
without one. Object scope (BOLA) is checked separately with
:func:`can_see_department`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from jingyun.errors import JingyunError

Role = Literal["specialist", "analyst", "manager", "admin"]
ROLES: tuple[Role, ...] = ("specialist", "analyst", "manager", "admin")
ROLE_ZH: dict[str, str] = {"specialist": "运营专员", "analyst": "数据分析师", "manager": "运营负责人", "admin": "系统管理员"}
Scope = Literal["ingest", "read"]

PERMISSIONS: dict[str, frozenset[str]] = {
    "public": frozenset(ROLES),  # no credential needed at all
    "authenticated": frozenset(ROLES),  # any signed-in person
    "events:ingest": frozenset({"admin"}),  # plus API keys with scope ingest
    "schema:read": frozenset(ROLES),
    "profile:read": frozenset(ROLES),  # de-identified for specialist and analyst
    "users:export": frozenset({"manager", "admin"}),
    "segments:export": frozenset({"specialist", "manager", "admin"}),  # own departments; de-identified for specialist
    "analysis:run": frozenset({"analyst", "manager", "admin"}),
    "segments:view": frozenset(ROLES),  # scoped to own departments for specialist and manager
    "segments:create": frozenset({"specialist", "analyst", "manager", "admin"}),  # analysts: own dept, else workspace
    "segments:approve": frozenset({"manager", "admin"}),
    "segments:delete": frozenset({"admin"}),
    "quarantine:view": frozenset({"admin"}),  # raw payloads hold personal data
    "quarantine:replay": frozenset({"admin"}),
    "users:manage": frozenset({"admin"}),
    "audit:read": frozenset({"admin"}),
    "jobs:view": frozenset({"manager", "admin"}),  # the scheduler's jobs, outcomes and error lines
    "jobs:run": frozenset({"admin"}),
    # act: journeys, messages, coupons (specialists create, managers approve activation, analysts read)
    "journeys:view": frozenset(ROLES),
    "journeys:create": frozenset({"specialist", "manager", "admin"}),
    "journeys:approve": frozenset({"manager", "admin"}),
    "messages:view": frozenset(ROLES),  # the delivery log; recipients de-identified for masked roles
    "messages:send": frozenset({"specialist", "manager", "admin"}),
    "coupons:view": frozenset(ROLES),
    "coupons:create": frozenset({"specialist", "manager", "admin"}),
    # manage by the numbers: alerts, incidents, approvals, budgets, pricing, the organisation
    "alerts:view": frozenset(ROLES),  # own inbox and the risk map
    "alerts:ack": frozenset(ROLES),  # acknowledge, snooze, resolve what was routed to you
    "alerts:manage": frozenset({"manager", "admin"}),  # rules and their routing
    "incidents:view": frozenset(ROLES),
    "incidents:open": frozenset(ROLES),  # anyone may report; a red alert opens one by itself
    "incidents:manage": frozenset({"manager", "admin"}),
    "approvals:submit": frozenset({"specialist", "manager", "admin"}),
    "approvals:decide": frozenset(ROLES),  # only on the steps assigned (or delegated) to the caller
    "approvals:manage": frozenset({"admin"}),  # workflows and tiers
    "org:manage": frozenset({"admin"}),  # departments, people, superiors, CSV import
    "budgets:view": frozenset({"analyst", "manager", "admin"}),
    "budgets:manage": frozenset({"manager", "admin"}),
    "pricing:view": frozenset(ROLES),
    "pricing:manage": frozenset({"manager", "admin"}),
    # PIPL data-subject rights
    "privacy:export": frozenset({"admin"}),
    "privacy:erase": frozenset({"admin"}),
    "consent:write": frozenset({"admin"}),  # plus ingest-scoped API keys, declared by the API
}
# what a read-scoped API key may do, on top of its role (never writes, never admin functions)
READ_KEY_PERMISSIONS = frozenset({"schema:read", "profile:read", "analysis:run", "segments:view"})
# roles that see personal data in clear (everyone else gets masking.deidentify)
RAW_ROLES = frozenset({"manager", "admin"})
# roles whose data scope is all departments
ALL_DEPARTMENTS = frozenset({"analyst", "admin"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (session or bearer token) or a machine (API key)."""

    name: str
    role: Role
    kind: Literal["session", "token", "api_key"]
    departments: frozenset[int] = field(default_factory=frozenset)
    scope: Scope | None = None
    person_id: int | None = None

    def may(self, permission: str) -> bool:
        if permission not in PERMISSIONS:
            raise KeyError(f"undeclared permission {permission}")
        if permission == "public":
            return True
        if self.kind == "api_key":
            if self.scope == "ingest":
                return permission == "events:ingest"
            return permission in READ_KEY_PERMISSIONS and self.role in PERMISSIONS[permission]
        if permission == "authenticated":
            return True
        return self.role in PERMISSIONS[permission]

    @property
    def sees_raw(self) -> bool:
        return self.role in RAW_ROLES and self.kind != "api_key"

    def can_see_department(self, department_id: int) -> bool:
        return self.role in ALL_DEPARTMENTS or department_id in self.departments

    @property
    def saves_workspace(self) -> bool:
        """Who may save a workspace segment (no department): an admin, and an analyst who belongs to no
        department. An analyst's segment is their department's: analysts *see* every department, but saving
        goes by membership, never by :meth:`can_see_department`, so no analyst writes into another one."""
        return self.kind != "api_key" and (self.role == "admin" or (self.role == "analyst" and not self.departments))

    def require(self, permission: str) -> None:
        if not self.may(permission):
            raise JingyunError("forbidden", f"your role ({self.role}) may not do this ({permission})", None, status=403)


def allowed_roles(permission: str) -> frozenset[str]:
    return PERMISSIONS[permission]


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise JingyunError("bad_role", f"role must be one of {', '.join(ROLES)}", "role", status=422)
    return role
