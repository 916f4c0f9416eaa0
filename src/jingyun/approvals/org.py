"""The organisation (组织架构): people with their superiors, and who holds which position (a department's manager
or director, the general manager). Approval workflows name positions; escalation follows superiors; alert
routing asks for a department's manager or director. CSV import checks every row and imports the good ones.

CSV columns: ``name, email, department, role, superior``. ``role`` is one of specialist, analyst, manager,
director, general_manager, admin (or 运营专员, 数据分析师, 经理, 总监, 总经理, 管理员); managers and directors
hold that position of their department, which leaves whoever held it before. ``superior`` names another
person of the file or of the store. People created by an import cannot sign in until an admin sets a
password (``jingyun admin reset-password``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store import Store
from jingyun.store.approvals import OrgPosition
from jingyun.store.models import Department, Person, utcnow

TITLES = ("specialist", "analyst", "manager", "director", "general_manager", "admin")
POSITION_TITLES = ("manager", "director", "general_manager")
CONSOLE_ROLE = {"specialist": "specialist", "analyst": "analyst", "manager": "manager", "director": "manager",
                "general_manager": "manager", "admin": "admin"}
ALIASES = {"运营专员": "specialist", "专员": "specialist", "数据分析师": "analyst", "分析师": "analyst",
           "经理": "manager", "运营负责人": "manager", "总监": "director", "总经理": "general_manager",
           "管理员": "admin", "系统管理员": "admin", "general manager": "general_manager", "gm": "general_manager"}
COLUMNS = ("name", "email", "department", "role", "superior")
NO_PASSWORD = "!imported"  # not an argon2 hash: no password verifies against it


@dataclass(frozen=True)
class OrgPerson:
    username: str
    display_name: str
    role: str
    title: str
    departments: list[str]
    superior: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"username": self.username, "display_name": self.display_name, "role": self.role,
                "title": self.title, "departments": self.departments, "superior": self.superior}


@dataclass(frozen=True)
class RowError:
    row: int  # the file's row, the header being row 1
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class ImportReport:
    received: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated

    def to_dict(self) -> dict[str, Any]:
        return {"received": self.received, "imported": self.imported, "created": self.created,
                "updated": self.updated, "rejected": len(self.errors), "errors": [e.to_dict() for e in self.errors]}


# -- reading -----------------------------------------------------------------------------------
def person(ses: Session, username: str) -> Person | None:
    return ses.scalar(select(Person).where(Person.username == username))


def superior_of(ses: Session, username: str) -> str | None:
    p = person(ses, username)
    if p is None or p.superior_id is None:
        return None
    sup = ses.get(Person, p.superior_id)
    return sup.username if sup is not None and not sup.disabled else None


def holder(ses: Session, department: str | None, title: str) -> str | None:
    """Who holds ``title`` of ``department`` (``None`` for the general manager), or None."""
    stmt = select(Person.username).join(OrgPosition, OrgPosition.person_id == Person.id).where(
        OrgPosition.title == title, Person.disabled.is_(False))
    if department is None:
        stmt = stmt.where(OrgPosition.department_id.is_(None))
    else:
        stmt = stmt.join(Department, Department.id == OrgPosition.department_id).where(Department.name == department)
    return ses.scalar(stmt.order_by(OrgPosition.id.desc()).limit(1))


def department_head(store: Store, department: str, title: str = "manager") -> str | None:
    """The manager (or director) of a department: where alert routing sends yellow (red) lights."""
    with store.session() as ses:
        return holder(ses, department, title)


def resolve(ses: Session, spec: str, requester: str | None) -> str | None:
    """The username an approver spec names now, or None when nobody holds it."""
    if spec == "general_manager":
        return holder(ses, None, "general_manager")
    if spec == "superior":
        return superior_of(ses, requester) if requester else None
    if spec.startswith("person:"):
        p = person(ses, spec[len("person:"):])
        return p.username if p is not None and not p.disabled else None
    department, _, title = spec.rpartition(".")
    return holder(ses, department, title)


def title_of(ses: Session, p: Person) -> str:
    titles = set(ses.scalars(select(OrgPosition.title).where(OrgPosition.person_id == p.id)))
    for t in ("general_manager", "director", "manager"):
        if t in titles:
            return t
    return p.role


def org_chart(store: Store) -> list[OrgPerson]:
    with store.session() as ses:
        people = list(ses.scalars(select(Person).order_by(Person.username)))
        names = {p.id: p.username for p in people}
        return [OrgPerson(p.username, p.display_name, p.role, title_of(ses, p), p.department_names,
                          names.get(p.superior_id) if p.superior_id is not None else None) for p in people]


# -- writing -----------------------------------------------------------------------------------
def _department(ses: Session, name: str) -> Department:
    dep = ses.scalar(select(Department).where(Department.name == name))
    if dep is None:
        dep = Department(name=name)
        ses.add(dep)
        ses.flush()
    return dep


def _hold(ses: Session, p: Person, department: Department | None, title: str) -> None:
    dep_id = department.id if department is not None else None
    cond = OrgPosition.department_id.is_(None) if dep_id is None else OrgPosition.department_id == dep_id
    ses.execute(delete(OrgPosition).where(cond, OrgPosition.title == title))
    ses.add(OrgPosition(department_id=dep_id, title=title, person_id=p.id, updated_at=utcnow()))


def set_position(store: Store, *, username: str, title: str, department: str | None = None) -> None:
    if title not in POSITION_TITLES:
        raise JingyunError("bad_title", f"a position is one of {', '.join(POSITION_TITLES)}", "title", status=422)
    if (title == "general_manager") != (department is None):
        raise JingyunError("bad_department", "a manager or director needs a department; the general manager has "
                           "none", "department", status=422)
    with store.session() as ses:
        p = person(ses, username)
        if p is None:
            raise JingyunError("not_found", f"no person {username!r}", "username", status=404)
        _hold(ses, p, _department(ses, department) if department else None, title)


def set_superior(store: Store, username: str, superior: str | None) -> None:
    with store.session() as ses:
        p = person(ses, username)
        if p is None:
            raise JingyunError("not_found", f"no person {username!r}", "username", status=404)
        if superior is None:
            p.superior_id = None
            return
        sup = person(ses, superior)
        if sup is None:
            raise JingyunError("not_found", f"no person {superior!r}", "superior", status=404)
        chain: list[str] = [username]
        cur: Person | None = sup
        while cur is not None:  # a superior chain must end, or escalation would go round forever
            if cur.username in chain:
                raise JingyunError("superior_loop", f"{' → '.join([*chain, cur.username])} loops", "superior",
                                   status=422)
            chain.append(cur.username)
            cur = ses.get(Person, cur.superior_id) if cur.superior_id is not None else None
        p.superior_id = sup.id


def _title(raw: str) -> str | None:
    key = raw.strip()
    key = ALIASES.get(key, ALIASES.get(key.lower(), key.lower().replace(" ", "_").replace("-", "_")))
    return key if key in TITLES else None


def import_csv(store: Store, settings: Settings, source: str | Path) -> ImportReport:
    """Check every row, then import the good ones in one transaction; bad rows are reported by number."""
    from jingyun.security.config import load_service_settings
    from jingyun.security.crypto import FieldCipher

    text = source.read_text(encoding="utf-8-sig") if isinstance(source, Path) else source.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in ("name", "role") if c not in header]
    if missing:
        raise JingyunError("bad_csv", f"the header needs the columns {', '.join(COLUMNS)} (missing "
                           f"{', '.join(missing)})", "header", status=422)
    report = ImportReport()
    good: dict[str, tuple[int, dict[str, str], str]] = {}
    bad_names: dict[str, int] = {}
    for n, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        report.received += 1
        row = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}

        def err(col: str, message: str, n: int = n, row: dict[str, str] = row) -> None:
            report.errors.append(RowError(n, col, message))
            if row.get("name"):
                bad_names.setdefault(row["name"], n)

        name, title = row.get("name", ""), _title(row.get("role", ""))
        if not name or len(name) > 100:
            err("name", "name is required, 1-100 characters")
        elif name in good:
            err("name", f"{name} already appears on row {good[name][0]}")
        elif title is None:
            err("role", f"{row.get('role', '')!r} is not a role: {', '.join(TITLES)}")
        elif row.get("email") and ("@" not in row["email"] or len(row["email"]) > 200):
            err("email", f"{row['email']!r} is not an email address")
        elif title in ("manager", "director") and not row.get("department"):
            err("department", f"a {title} needs a department")
        elif row.get("department") and len(row["department"]) > 100:
            err("department", "department names have at most 100 characters")
        elif row.get("superior") == name:
            err("superior", "a person cannot be their own superior")
        else:
            good[name] = (n, row, title)
    with store.session() as ses:
        existing = set(ses.scalars(select(Person.username)))
        # a superior must be imported too or exist already; dropping a row can strand the rows below it
        changed = True
        while changed:
            changed = False
            for name, (n, row, _) in list(good.items()):
                sup = row.get("superior", "")
                if sup and sup not in good and sup not in existing:
                    why = (f"superior {sup} is on bad row {bad_names[sup]}" if sup in bad_names
                           else f"superior {sup} is neither in the file nor in the organisation")
                    report.errors.append(RowError(n, "superior", why))
                    bad_names[name] = n
                    del good[name]
                    changed = True
        cipher = FieldCipher(load_service_settings(settings)) if any(r.get("email") for _, r, _ in good.values()) \
            else None
        people: dict[str, Person] = {}
        for name, (_n, row, title) in good.items():
            p = person(ses, name)
            if p is None:
                p = Person(username=name, display_name=name, role=CONSOLE_ROLE[title], password_hash=NO_PASSWORD,
                           disabled=False)
                ses.add(p)
                report.created += 1
            else:
                p.role = CONSOLE_ROLE[title]
                report.updated += 1
            if row.get("email") and cipher is not None:
                p.email_enc = cipher.encrypt(row["email"], "email_enc")
            dep = _department(ses, row["department"]) if row.get("department") else None
            if dep is not None and dep not in p.departments:
                p.departments.append(dep)
            ses.flush()
            if title in POSITION_TITLES:
                _hold(ses, p, dep if title != "general_manager" else None, title)
            people[name] = p
        for name, (_n, row, _t) in good.items():
            sup = row.get("superior", "")
            target = people.get(sup) or (person(ses, sup) if sup else None)
            people[name].superior_id = target.id if target is not None else None
        ses.flush()
        loops = _loops(ses)
        if loops:  # refuse the whole import rather than keep a chain escalation would go round forever
            ses.rollback()
            raise JingyunError("superior_loop", f"superiors would loop: {loops}; fix the superior column", "superior",
                               status=422)
    report.errors.sort(key=lambda e: e.row)
    return report


def _loops(ses: Session) -> str | None:
    up = dict(ses.execute(select(Person.id, Person.superior_id)).all())
    names = dict(ses.execute(select(Person.id, Person.username)).all())
    for start in up:
        seen: list[int] = []
        cur: int | None = start
        while cur is not None and cur in up:
            if cur in seen:
                return " → ".join(names[i] for i in [*seen[seen.index(cur):], cur])
            seen.append(cur)
            cur = up[cur]
    return None
