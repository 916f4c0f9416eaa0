"""One data subject: every identifier the workspace holds for the person behind a user id.

A person is what identity mapping made of them (``person_id``): the user ids merged by phone or
email, the anonymous ids linked to them, and their phone and email (revealed from the sealed columns,
for searching the places that hold them in clear: the quarantine, the delivery log, files).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jingyun.errors import JingyunError
from jingyun.warehouse import personal
from jingyun.warehouse.connection import Warehouse


@dataclass(frozen=True)
class Subject:
    user_id: str
    person_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    anonymous_ids: tuple[str, ...]
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    pseudonyms: tuple[str, ...] = field(default=())  # _phone_ps / _email_ps

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id that names the person in a ``user_id`` / ``person_id`` / ``anonymous_id`` column."""
        return tuple(dict.fromkeys((*self.person_ids, *self.user_ids, *self.anonymous_ids)))

    @property
    def needles(self) -> tuple[str, ...]:
        """Every value whose presence in free text (quarantine payloads, files) means the person."""
        return tuple(v for v in dict.fromkeys((*self.ids, *self.phones, *self.emails, *self.names, *self.pseudonyms))
                     if v and len(v) >= 3)


def _col(wh: Warehouse, sql: str, params: list[object]) -> list[str]:
    return [str(r[0]) for r in wh.rows(sql, params) if r[0] is not None]


def find(wh: Warehouse, user_id: str) -> Subject:
    """The subject behind ``user_id`` (a user id, or a person id); ``unknown_person`` when nothing names them."""
    if not user_id or not user_id.strip():
        raise JingyunError("bad_user_id", "give the user id of the person", "user_id", status=422)
    persons = set(_col(wh, "SELECT person_id FROM users WHERE user_id = ? OR person_id = ?", [user_id, user_id]))
    persons |= set(_col(wh, "SELECT person_id FROM identities WHERE id_value = ? OR person_id = ?", [user_id, user_id]))
    for table in ("events", "orders", "touches", "feedback"):
        if not persons:
            persons |= set(_col(wh, f"SELECT DISTINCT person_id FROM {table} WHERE user_id = ?", [user_id]))
    if not persons:
        raise JingyunError("unknown_person", f"no person with user id {user_id!r} in the warehouse", "user_id", status=404)
    plist = sorted(persons)
    users = set(_col(wh, "SELECT user_id FROM users WHERE person_id IN (SELECT unnest(?))", [plist]))
    users |= set(_col(wh, "SELECT id_value FROM identities WHERE id_type = 'user_id' AND person_id IN (SELECT unnest(?))", [plist]))
    ulist = sorted(users | {user_id} | {p for p in plist if not p.startswith("anon:")})
    anon = set(_col(wh, "SELECT id_value FROM identities WHERE id_type = 'anonymous_id' AND person_id IN (SELECT unnest(?))", [plist]))
    anon |= set(_col(wh, "SELECT DISTINCT anonymous_id FROM events WHERE anonymous_id IS NOT NULL AND "
                     "(person_id IN (SELECT unnest(?)) OR user_id IN (SELECT unnest(?)))", [plist, ulist]))
    rows = wh.con.execute(
        "SELECT user_id, name, phone, email, _phone_ps, _email_ps FROM users WHERE user_id IN (SELECT unnest(?))", [ulist]
    ).fetchall()
    clear = personal.reveal(wh, [dict(zip(("user_id", "name", "phone", "email"), r[:4], strict=True)) for r in rows],
                            ["name", "phone", "email"])
    return Subject(
        user_id=user_id, person_ids=tuple(plist), user_ids=tuple(ulist), anonymous_ids=tuple(sorted(anon)),
        phones=tuple(sorted({str(c["phone"]) for c in clear if c.get("phone")})),
        emails=tuple(sorted({str(c["email"]) for c in clear if c.get("email")})),
        names=tuple(sorted({str(c["name"]) for c in clear if c.get("name")})),
        pseudonyms=tuple(sorted({str(v) for r in rows for v in r[4:] if v})),
    )
