"""Tombstones: keyed digests of an erased person's identifiers, checked by ingestion.

A digest is SHA-256 of a tombstone key (derived from the workspace's masking salt, so it equals no
pseudonym shown anywhere else) and the value normalised as :func:`jingyun.security.masking.normalise`
does. The metadata store keeps the list (``privacy_tombstones``); the warehouse keeps a copy
(``_erased_subjects``) so a chunk is checked by one semi-join inside DuckDB, with the same digest
computed in SQL (:func:`digest_sql`, tested against the Python one).
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb

from jingyun.config import Settings
from jingyun.security.config import load_service_settings
from jingyun.security.masking import normalise

TABLE = "_erased_subjects"
REASON = "erased_subject"
DDL = f"CREATE TABLE IF NOT EXISTS {TABLE} (digest VARCHAR NOT NULL, kind VARCHAR NOT NULL)"
# the staged columns that identify a person, per table (users also by phone and email)
CHECKED: dict[str, tuple[str, ...]] = {
    "events": ("user_id", "anonymous_id"),
    "users": ("user_id", "phone", "email"),
    "orders": ("user_id",),
    "touches": ("user_id",),
    "feedback": ("user_id",),
}


def key(settings: Settings) -> bytes:
    return hmac.new(load_service_settings(settings).mask_salt, b"privacy-tombstone", hashlib.sha256).digest()


def digest(value: str, tomb_key: bytes) -> str:
    return hashlib.sha256(tomb_key + normalise(value).encode()).hexdigest()


def digest_sql(column: str) -> str:
    """The digest of ``column`` in DuckDB SQL; the key is the statement's first parameter (BLOB)."""
    text = f"lower(trim(CAST({column} AS VARCHAR)))"
    digits = f"regexp_replace({text}, '[\\s\\-()]', '', 'g')"
    norm = (f"CASE WHEN regexp_full_match({digits}, '(?:\\+|00)?(?:86)?1[3-9]\\d{{9}}') "
            f"THEN '+86' || right({digits}, 11) ELSE {text} END")
    return f"sha256(CAST(? AS BLOB) || encode({norm}))"


def has_any(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [TABLE]).fetchall()
    if not found[0][0]:
        return False
    return bool(con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {TABLE} LIMIT 1)").fetchall()[0][0])


def add(con: duckdb.DuckDBPyConnection, digests: list[tuple[str, str]]) -> None:
    """Copy (digest, kind) pairs into the warehouse's list (idempotent)."""
    con.execute(DDL)
    for d, kind in digests:
        con.execute(f"INSERT INTO {TABLE} SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM {TABLE} WHERE digest = ?)",
                    [d, kind, d])


def drop_staged(con: duckdb.DuckDBPyConnection, settings: Settings, table: str) -> None:
    """Mark the staged rows (``_staged``) of an erased person as quarantined ``erased_subject:<column>``,
    with their payload cut: counted and reconciled like any rejected row, and nothing personal kept."""
    columns = CHECKED.get(table)
    if not columns or not has_any(con):
        return
    tomb_key = key(settings)
    for col in columns:
        con.execute(
            f"UPDATE _staged SET _reason = '{REASON}:{col}', _raw = NULL WHERE _reason IS NULL AND {col} IS NOT NULL "
            f"AND {digest_sql(col)} IN (SELECT digest FROM {TABLE})", [tomb_key])
