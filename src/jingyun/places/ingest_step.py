"""The users-table step of ingestion: province and city to their official names.

Runs on a chunk's staged rows (``_staged``), after validation and before dedup, so a
re-run of the same file hashes the same normalised row and finds it a duplicate. Only the
distinct (province, city) pairs are normalised in Python (a few hundred even in a
million-row chunk); the rows that change are updated in one statement.

- a matched place: the official names (广东 → 广东省; 深圳 → 深圳市, with its province
  filled in where none was given; 广东省广州市 split into province and city);
- the text as it came is kept in ``attributes`` (``province_raw``, ``city_raw``) where it differed;
- an unknown place stays as given and is counted (``unknown_places`` in the ingest
  report), never quarantined.
"""

from __future__ import annotations

import json
from collections import Counter

import duckdb
import pyarrow as pa

from jingyun.places.divisions import clean, normalise
from jingyun.schema.tables import Table
from jingyun.warehouse.sqltext import ident


def normalise_staged(con: duckdb.DuckDBPyConnection, table: Table) -> Counter[str]:
    unknown: Counter[str] = Counter()
    pairs = con.execute(
        "SELECT province, city, count(*) FROM _staged WHERE _reason IS NULL "
        "AND (province IS NOT NULL OR city IS NOT NULL) GROUP BY ALL"
    ).fetchall()
    rows: dict[str, list[object]] = {"p_in": [], "c_in": [], "p_out": [], "c_out": [], "patch": []}
    for province, city, n in pairs:
        place = normalise(province, city)
        if clean(province) and place.province is None:
            unknown["province"] += n
        if clean(city) and place.city is None:
            unknown["city"] += n
        p_out = place.province or province
        c_out = place.city or city
        if p_out == province and c_out == city:
            continue
        patch = {}
        if province is not None and p_out != province:
            patch["province_raw"] = province
        if city is not None and c_out != city:
            patch["city_raw"] = city
        for key, value in (("p_in", province), ("c_in", city), ("p_out", p_out), ("c_out", c_out),
                           ("patch", json.dumps(patch, ensure_ascii=False))):
            rows[key].append(value)
    if not rows["p_in"]:
        return unknown
    con.register("_places", pa.table({k: pa.array(v, pa.string()) for k, v in rows.items()}))
    try:
        attributes = "CAST(json_merge_patch(coalesce(attributes, '{}'), m.patch) AS VARCHAR)"
        new = {"province": "m.p_out", "city": "m.c_out", "attributes": attributes}
        # SET reads the row as it was: the hash is of the new values, spelt out (the staging hash's order)
        hashed = ", ".join(new.get(c.name, ident(c.name)) for c in table.source_columns)
        con.execute(
            f"""UPDATE _staged SET province = m.p_out, city = m.c_out, attributes = {attributes}, _hash = hash({hashed})
                FROM _places m
                WHERE _staged._reason IS NULL AND _staged.province IS NOT DISTINCT FROM m.p_in
                  AND _staged.city IS NOT DISTINCT FROM m.c_in"""
        )
    finally:
        con.unregister("_places")
    return unknown
