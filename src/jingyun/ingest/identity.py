"""Identity mapping: anonymous ids and phone/email merges → one ``person_id``.

- A user's person is itself, unless it shares a phone (else an email) with an
  earlier user: then it joins that user's person (stored users first, then by
  registration time and id). Merges are rows ``('user_id', id, person)`` in
  ``identities``; users without a row are their own person.
- An event carrying both an anonymous id and a user id links the anonymous id
  to that user's person (first link wins); events seen earlier with only the
  anonymous id (person ``anon:<id>``) are re-pointed.

Every function works on the chunk staged in ``_insert`` (the rows about to be
stored) inside the chunk's transaction.
"""

from __future__ import annotations

import duckdb

from jingyun.warehouse import person_orders

FACT_TABLES = ("events", "orders", "touches", "feedback")


def link_anonymous(con: duckdb.DuckDBPyConnection) -> int:
    """Record new anonymous → person links from the events being stored."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _new_links AS
        SELECT s.anonymous_id AS id_value, arg_min(coalesce(iu.person_id, s.user_id), s._line) AS person_id
        FROM _insert s
        LEFT JOIN identities iu ON iu.id_type = 'user_id' AND iu.id_value = s.user_id
        WHERE s.anonymous_id IS NOT NULL AND s.user_id IS NOT NULL
          AND s.anonymous_id NOT IN (SELECT id_value FROM identities WHERE id_type = 'anonymous_id')
        GROUP BY s.anonymous_id
        """
    )
    n = con.execute("SELECT count(*) FROM _new_links").fetchall()[0][0]
    if n:
        con.execute(
            "INSERT INTO identities SELECT 'anonymous_id', id_value, person_id, now() AT TIME ZONE 'UTC' FROM _new_links"
        )
        con.execute(
            """UPDATE events SET person_id = l.person_id FROM _new_links l
               WHERE events.user_id IS NULL AND events.anonymous_id = l.id_value"""
        )
    return int(n)


def merge_users(con: duckdb.DuckDBPyConnection) -> int:
    """Person ids for the users being stored, merging by phone then email.

    They are compared through their keyed pseudonyms (``_phone_ps``, ``_email_ps``), which every
    stored user has whether or not its clear values are encrypted at rest
    (:mod:`jingyun.warehouse.personal`)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _people AS
        WITH cand AS (
            SELECT user_id, user_id AS person_id, _phone_ps AS phone, _email_ps AS email, registered_at, 1 AS fresh, _line
            FROM _insert
            UNION ALL
            SELECT u.user_id, u.person_id, u._phone_ps, u._email_ps, u.registered_at, 0, 0 FROM users u
            WHERE u._phone_ps IN (SELECT _phone_ps FROM _insert WHERE _phone_ps IS NOT NULL)
               OR u._email_ps IN (SELECT _email_ps FROM _insert WHERE _email_ps IS NOT NULL)
        ),
        by_phone AS (
            SELECT phone, arg_min(person_id, (fresh, registered_at, _line, user_id)) AS person_id
            FROM cand WHERE phone IS NOT NULL GROUP BY phone
        ),
        by_email AS (
            SELECT email, arg_min(person_id, (fresh, registered_at, _line, user_id)) AS person_id
            FROM cand WHERE email IS NOT NULL GROUP BY email
        )
        SELECT i.user_id, coalesce(p.person_id, e.person_id, i.user_id) AS person_id
        FROM _insert i
        LEFT JOIN by_phone p ON p.phone = i._phone_ps
        LEFT JOIN by_email e ON e.email = i._email_ps
        """
    )
    con.execute("UPDATE _insert SET person_id = p.person_id FROM _people p WHERE _insert.user_id = p.user_id")
    merged = con.execute("SELECT count(*) FROM _people WHERE person_id <> user_id").fetchall()[0][0]
    if merged:
        con.execute(
            """INSERT INTO identities SELECT 'user_id', user_id, person_id, now() AT TIME ZONE 'UTC'
               FROM _people WHERE person_id <> user_id"""
        )
        # the persons whose orders move: where they were and where they go
        moved = ("SELECT o.person_id FROM orders o JOIN _people p ON o.user_id = p.user_id "
                 "WHERE p.person_id <> p.user_id UNION SELECT person_id FROM _people WHERE person_id <> user_id")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _moved AS {moved}")
        for table in FACT_TABLES:
            con.execute(
                f"""UPDATE {table} SET person_id = p.person_id FROM _people p
                    WHERE {table}.user_id = p.user_id AND p.person_id <> p.user_id"""
            )
        person_orders.refresh_persons(con, "SELECT * FROM _moved")
        con.execute("DROP TABLE _moved")
    return int(merged)


def flag_test_users(con: duckdb.DuckDBPyConnection) -> None:
    """Facts stored before their user was known to be a test account get flagged now."""
    for table in FACT_TABLES:
        con.execute(
            f"""UPDATE {table} SET is_test = TRUE
                WHERE NOT is_test AND user_id IN (SELECT user_id FROM _insert WHERE is_test)"""
        )
    person_orders.refresh_persons(
        con, "SELECT person_id FROM orders WHERE user_id IN (SELECT user_id FROM _insert WHERE is_test)")


def person_sql(table: str) -> tuple[str, str]:
    """(join clauses, person expression) that resolve a staged fact row's person."""
    joins = "LEFT JOIN identities iu ON iu.id_type = 'user_id' AND iu.id_value = s.user_id"
    if table == "events":
        joins += " LEFT JOIN identities ia ON ia.id_type = 'anonymous_id' AND ia.id_value = s.anonymous_id"
        return joins, "coalesce(iu.person_id, s.user_id, ia.person_id, 'anon:' || s.anonymous_id)"
    return joins, "coalesce(iu.person_id, s.user_id)"
