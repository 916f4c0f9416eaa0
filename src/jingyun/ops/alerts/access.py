"""Who sees which alert (预警可见范围), one rule for the API and the console.

Admins see every alert; everyone else sees the alerts of their departments, workspace-wide ones (no
department) and those routed to them. An alert outside that answers exactly like a missing one (404), so
ids cannot be probed. Acting on a visible alert is narrower (:func:`jingyun.ops.alerts.inbox.may_act`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from jingyun.security.roles import Principal
from jingyun.store.alerts import MetricAlert
from jingyun.store.db import Store
from jingyun.store.models import Department


@dataclass(frozen=True)
class Viewer:
    name: str
    role: str
    departments: list[str] | None  # None: every department (admins)

    def sees(self, row: MetricAlert) -> bool:
        return (self.departments is None or row.recipient == self.name or not row.department
                or row.department in self.departments)

    @property
    def department_names(self) -> list[str]:
        return self.departments or []


def viewer(store: Store, principal: Principal) -> Viewer:
    if principal.role == "admin":
        return Viewer(principal.name, principal.role, None)
    with store.session() as ses:
        names = [d.name for d in ses.scalars(select(Department).where(Department.id.in_(principal.departments)))]
    return Viewer(principal.name, principal.role, names)
