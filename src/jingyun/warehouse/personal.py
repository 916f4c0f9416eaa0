"""Users' personal columns encrypted at rest (envelope encryption), and the one way to read them back.

What is sealed: the ``sensitive`` columns of ``users`` (name, phone, email, birth date, address)
and the top-level attribute keys that name personal data or hold it at any depth (classified by
:func:`jingyun.security.masking.classify_key` and its free-text patterns). With
``JINGYUN_ENCRYPT_PERSONAL`` on (the default) the clear column is stored NULL and the value as
``_<column>_enc``: AES-256-GCM under the workspace's data key (:mod:`jingyun.security.vault`), with
the column name and the user id as associated data. Phone and email always keep their keyed
pseudonym (``_phone_ps``, ``_email_ps``; :func:`jingyun.security.masking.pseudonym`, so it equals
what a de-identified export shows): identity merges join on it, never on the clear value.

Values are sealed a chunk at a time from Arrow columns, outside DuckDB, before the chunk's
``INSERT``; clear values live only in the chunk's temp tables. Reading them back is
:func:`reveal` — the one function a read path calls, only for roles allowed raw data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.schema.tables import USERS
from jingyun.security import vault
from jingyun.security.config import ServiceSettings, load_service_settings
from jingyun.security.crypto import FieldCipher
from jingyun.security.masking import classify_key, has_personal_text, pseudonym

SEALED = tuple(c.name for c in USERS.columns if c.classification == "sensitive")  # name, phone, email, birth_date, address
PSEUDONYMISED = ("phone", "email")
SEALED_COLUMNS = (*(f"_{c}_enc" for c in (*SEALED, "attributes")), *(f"_{c}_ps" for c in PSEUDONYMISED))
_READ = ("user_id", *SEALED, "attributes")


def ensure_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Add the sealed columns to a ``users`` table created before they existed."""
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'users' AND table_schema = 'main'"
    ).fetchall()}
    for name in SEALED_COLUMNS:
        if name not in have:
            con.execute(f'ALTER TABLE users ADD COLUMN "{name}" VARCHAR')


@functools.lru_cache(maxsize=4096)
def _personal_key(key: str) -> bool:
    # attribute keys repeat on every row of a source: classify each once
    return classify_key(key) is not None


def _holds_personal(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_personal_key(str(k)) or _holds_personal(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_personal(v) for v in value)
    return isinstance(value, str) and has_personal_text(value)


def split_attributes(text: str | None) -> tuple[str | None, str | None]:
    """(attributes left in clear, JSON of the personal top-level keys or None)."""
    if not text or text == "{}":
        return text, None
    try:
        data = json.loads(text)
    except ValueError:
        return text, None
    if not isinstance(data, dict):
        return text, None
    personal = {k: v for k, v in data.items() if _personal_key(str(k)) or _holds_personal(v)}
    if not personal:
        return text, None
    rest = {k: v for k, v in data.items() if k not in personal}
    return json.dumps(rest, ensure_ascii=False, separators=(",", ":")), json.dumps(personal, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Sealer:
    """Seals users' rows for one workspace: pseudonyms always, ciphertexts when encryption is on."""

    salt: bytes
    cipher: FieldCipher | None

    @classmethod
    def for_workspace(cls, settings: Settings, con: duckdb.DuckDBPyConnection,
                      service: ServiceSettings | None = None) -> Sealer:
        service = service or load_service_settings(settings)
        if not service.encrypt_personal:
            return cls(service.mask_salt, None)
        key = vault.data_key(settings.home, service, create=False)
        if key is None:
            # a lost key file must not silently become a new key: the stored ciphertexts would be unreadable
            if _has_ciphertext(con):
                raise JingyunError("missing_key", f"users' personal columns are encrypted but $JINGYUN_HOME/"
                                   f"{vault.KEY_FILE} is missing; restore it from a backup", "JINGYUN_SECRET_KEY")
            key = vault.data_key(settings.home, service, create=True)
        assert key is not None
        return cls(service.mask_salt, FieldCipher(key=key))

    def seal(self, rows: pa.Table) -> pa.Table:
        """For rows with ``user_id`` and the clear personal columns: the sealed columns, row for row
        (``_enc`` ciphertexts only when encryption is on), plus ``attributes`` with personal keys removed."""
        ids = [str(u) for u in rows.column("user_id").to_pylist()]
        out: dict[str, pa.Array | list[Any]] = {}
        for col in PSEUDONYMISED:
            out[f"_{col}_ps"] = [pseudonym(v, self.salt) for v in rows.column(col).to_pylist()]
        if self.cipher is not None:
            for col in SEALED:
                values = [None if v is None else str(v) for v in rows.column(col).to_pylist()]
                out[f"_{col}_enc"] = self.cipher.encrypt_many(values, col, ids)
            split = [split_attributes(t) for t in rows.column("attributes").to_pylist()]
            out["attributes"] = [s[0] for s in split]
            out["_attributes_enc"] = self.cipher.encrypt_many([s[1] for s in split], "attributes", ids)
        return pa.table({k: pa.array(v, pa.string()) for k, v in out.items()})


def _has_ciphertext(con: duckdb.DuckDBPyConnection) -> bool:
    ensure_columns(con)
    cond = " OR ".join(f"_{c}_enc IS NOT NULL" for c in (*SEALED, "attributes"))
    return bool(con.execute(f"SELECT count(*) FROM (SELECT 1 FROM users WHERE {cond} LIMIT 1)").fetchall()[0][0])


def _sealed_select(sealer: Sealer, alias: str) -> tuple[str, str]:
    """(replacements of the clear columns, added columns) for a SELECT over ``alias`` joined to ``_sealed s``."""
    if sealer.cipher is None:
        return "", ", ".join(f"s._{c}_ps" for c in PSEUDONYMISED)
    nulls = ", ".join(f"CAST(NULL AS {USERS.column(c).sql_type}) AS {c}" for c in SEALED)
    added = ", ".join(f"s.{c}" for c in SEALED_COLUMNS)
    return f" REPLACE ({nulls}, s.attributes AS attributes)", added


def seal_insert(con: duckdb.DuckDBPyConnection, sealer: Sealer) -> list[str]:
    """Seal the users staged in the temp table ``_insert`` in place; returns the columns it added."""
    rows = con.sql(f"SELECT _line, {', '.join(_READ)} FROM _insert").to_arrow_table()
    sealed = sealer.seal(rows).append_column("_line", rows.column("_line"))
    con.register("_sealed", sealed)
    try:
        replace, added = _sealed_select(sealer, "i")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _insert AS SELECT i.*{replace}, {added} "
                    "FROM _insert i JOIN _sealed s ON s._line = i._line")
    finally:
        con.unregister("_sealed")
    return [c for c in SEALED_COLUMNS if sealer.cipher is not None or c.endswith("_ps")]


def seal_stored(con: duckdb.DuckDBPyConnection, sealer: Sealer) -> int:
    """Seal stored users still in clear (rows from before encryption was on, or without pseudonyms):
    the number of rows rewritten. Their clear values may remain in the file's free blocks until
    DuckDB reuses them; docs/security.md §9 says how to compact the file."""
    ensure_columns(con)
    need = [f"({c} IS NOT NULL AND _{c}_ps IS NULL)" for c in PSEUDONYMISED]
    if sealer.cipher is not None:
        need += [f"{c} IS NOT NULL" for c in SEALED]
    rows = con.sql(f"SELECT {', '.join(_READ)} FROM users WHERE {' OR '.join(need)}").to_arrow_table()
    if not rows.num_rows:
        return 0
    sealed = sealer.seal(rows).append_column("user_id", rows.column("user_id"))
    con.register("_sealed", sealed)
    try:
        sets = [f"_{c}_ps = s._{c}_ps" for c in PSEUDONYMISED]
        if sealer.cipher is not None:
            sets += [f"{c} = NULL" for c in SEALED] + ["attributes = s.attributes"]
            sets += [f"_{c}_enc = s._{c}_enc" for c in (*SEALED, "attributes")]
        con.execute(f"UPDATE users SET {', '.join(sets)} FROM _sealed s WHERE users.user_id = s.user_id")
    finally:
        con.unregister("_sealed")
    return rows.num_rows


def _cipher(settings: Settings, service: ServiceSettings | None) -> FieldCipher | None:
    service = service or load_service_settings(settings)
    key = vault.data_key(settings.home, service, create=False)
    return FieldCipher(key=key) if key is not None else None


def _typed(column: str, value: str | None) -> Any:
    if value is None or column != "birth_date":
        return value
    return dt.date.fromisoformat(value)


def reveal(wh: Any, rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None, *,
           service: ServiceSettings | None = None) -> list[dict[str, Any]]:
    """Rows of ``users`` (dicts carrying ``user_id``) with their sealed personal columns decrypted.

    Only the columns asked for (default: those of :data:`SEALED` and ``attributes`` present in
    each row) and only where the row holds NULL are filled, so rows stored in clear pass through.
    The caller has checked the role may see raw data; masked roles get pseudonyms (``_phone_ps``)
    and bands without decrypting. One query by user id and one AES-GCM pass per column.
    """
    out = [dict(r) for r in rows]
    wanted = [c for c in (columns or (*SEALED, "attributes")) if c in (*SEALED, "attributes")]
    ids = sorted({str(r["user_id"]) for r in out if r.get("user_id") is not None
                  and any(c in r and (r[c] is None or c == "attributes") for c in wanted)})
    if not ids or not wanted:
        return out
    ensure_read = wh.con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = '_name_enc'"
    ).fetchall()[0][0]
    if not ensure_read:
        return out  # a warehouse from before encryption existed holds no ciphertext
    enc = ", ".join(f"_{c}_enc" for c in wanted)
    found = wh.con.execute(f"SELECT user_id, {enc} FROM users WHERE user_id IN (SELECT unnest(?))", [ids]).fetchall()
    if not any(v is not None for row in found for v in row[1:]):
        return out
    cipher = _cipher(wh.settings, service)
    if cipher is None:
        raise JingyunError("missing_key", f"users' personal columns are encrypted but $JINGYUN_HOME/{vault.KEY_FILE} "
                           "is missing; restore it from a backup", "JINGYUN_SECRET_KEY")
    found_ids = [str(r[0]) for r in found]
    clear: dict[str, dict[str, Any]] = {u: {} for u in found_ids}
    for i, col in enumerate(wanted, start=1):
        values = cipher.decrypt_many([r[i] for r in found], col, found_ids)
        for uid, value in zip(found_ids, values, strict=True):
            clear[uid][col] = _typed(col, value)
    for row in out:
        plain = clear.get(str(row.get("user_id")))
        if not plain:
            continue
        for col in wanted:
            if col not in row:
                continue
            if col == "attributes":
                if plain.get(col) is not None:
                    row[col] = _merge_attributes(row[col], plain[col])
            elif row[col] is None:
                row[col] = plain.get(col)
    return out


def _merge_attributes(current: Any, personal: str) -> Any:
    extra = json.loads(personal)
    if isinstance(current, dict):
        return {**current, **extra}
    base = json.loads(current) if current else {}
    return json.dumps({**base, **extra}, ensure_ascii=False, separators=(",", ":"))


BIRTH_DATE_SQL = "coalesce(birth_date, personal_birth_date(user_id, _birth_date_enc))"
"""The users' birth date for analyses (ages, age bands): the clear column, else the sealed one
decrypted inside DuckDB by :func:`register_functions` (exact, so age rules keep their edges)."""


def register_functions(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Register ``personal_birth_date(user_id, _birth_date_enc)``: a vectorised (Arrow) decrypting UDF,
    so analyses that need exact ages read sealed birth dates without leaving SQL. The data key is
    loaded at the first sealed value, so a connection that never asks pays nothing."""
    state: dict[str, FieldCipher] = {}

    def birth_date(ids: pa.Array, tokens: pa.Array) -> pa.Array:
        if tokens.null_count == len(tokens):
            return pa.nulls(len(tokens), pa.date32())
        if "cipher" not in state:
            cipher = _cipher(settings, None)
            if cipher is None:
                raise JingyunError("missing_key", f"birth dates are encrypted but $JINGYUN_HOME/{vault.KEY_FILE} is "
                                   "missing; restore it from a backup", "JINGYUN_SECRET_KEY")
            state["cipher"] = cipher
        values = state["cipher"].decrypt_many(tokens.to_pylist(), "birth_date", [str(u) for u in ids.to_pylist()])
        return pa.array([None if v is None else dt.date.fromisoformat(v) for v in values], pa.date32())

    # a cursor of a connection that has it already (the service's readers): same workspace, same key
    with contextlib.suppress(duckdb.CatalogException):
        con.create_function("personal_birth_date", birth_date, ["VARCHAR", "VARCHAR"], "DATE",  # type: ignore[call-overload]
                            type="arrow", null_handling="special", side_effects=False)


def require_groupable(service: ServiceSettings, ref: str, field_name: str = "by") -> None:
    """Refuse a breakdown by a column sealed at rest (422 ``encrypted_field``): each value is encrypted under
    its own nonce, so nothing can group by it. Profiles and exports still decrypt for roles allowed raw data."""
    head, _, column = ref.partition(".")
    if service.encrypt_personal and head == "users" and column in SEALED:
        raise JingyunError("encrypted_field", f"{ref} is encrypted at rest and cannot be grouped by; break down by "
                           "users.province or the age_band tag, or read single profiles", field_name, status=422)
