"""The data dictionary (数据字典) as rows, for the CLI, docs and (later) the console."""

from __future__ import annotations

from typing import Any

from jingyun.schema.tables import TABLES, get_table


def dictionary(table: str | None = None) -> list[dict[str, Any]]:
    tables = [get_table(table)] if table else list(TABLES.values())
    out = []
    for t in tables:
        for c in t.columns:
            out.append({
                "table": t.name, "table_zh": t.zh, "column": c.name, "type": c.sql_type, "zh": c.zh, "en": c.en,
                "meaning_zh": c.meaning_zh, "meaning_en": c.meaning_en, "required": c.required,
                "classification": c.classification, "key": c.name in t.key, "derived": c.derived,
                "values": list(c.enum),
            })
    return out
