"""The portable SQL subset: one analysis definition, two engines.

Analyses are written in a subset of DuckDB's dialect (CTEs, window functions,
``UNION ALL``, ``CASE``, aggregates with ``FILTER``) and transpiled to Spark SQL
with sqlglot. sqlglot does not refuse what Spark lacks (it passes ``ASOF JOIN``
through, which Spark reads as a table alias), so :func:`lint` walks the parsed
tree and rejects nodes outside the subset. Time zones: write local time as
``(ts AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Shanghai'`` — both engines agree.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from jingyun.errors import JingyunError

# Node types with no faithful Spark equivalent (or whose DuckDB semantics differ).
_FORBIDDEN_NODES: dict[type[exp.Expression], str] = {
    exp.Lambda: "lambda functions are DuckDB-only",
    exp.Qualify: "QUALIFY is not portable; filter a window in an outer query",
    exp.Pivot: "PIVOT syntax differs between engines",
}
for _name, _why in (
    ("PositionalJoin", "POSITIONAL JOIN is DuckDB-only"),
    ("Columns", "COLUMNS(...) is DuckDB-only"),
):
    if hasattr(exp, _name):
        _FORBIDDEN_NODES[getattr(exp, _name)] = _why

# Functions sqlglot does not model (exp.Anonymous) that both engines share.
# PERSONAL_BIRTH_DATE decrypts a sealed birth date (warehouse.personal.register_functions); the
# DuckDB backend registers it, the Spark backend does not yet (docs/security.md §9).
_ALLOWED_ANONYMOUS = {"GREATEST", "LEAST", "COALESCE", "NULLIF", "PERSONAL_BIRTH_DATE"}


class NotPortable(JingyunError):
    def __init__(self, message: str):
        super().__init__("not_portable", message, "sql")


def parse(sql: str) -> Any:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        first = str(exc).split("\n")[0]  # sqlglot adds the query and a marker on lines below
        raise NotPortable(f"cannot parse query: {first}") from None
    if tree is None:
        raise NotPortable("empty query")
    return tree


def lint(sql: str) -> list[str]:
    """Problems that make ``sql`` non-portable; empty when it is in the subset."""
    problems: list[str] = []
    for node in parse(sql).walk():
        for kind, why in _FORBIDDEN_NODES.items():
            if isinstance(node, kind):
                problems.append(why)
        if isinstance(node, exp.Join):
            method = str(node.args.get("method") or "").upper()
            side_kind = f"{node.args.get('side') or ''} {node.args.get('kind') or ''}".upper()
            if "ASOF" in method or "ASOF" in side_kind or "POSITIONAL" in method:
                problems.append("ASOF/POSITIONAL joins are DuckDB-only")
        if isinstance(node, exp.Anonymous) and str(node.name).upper() not in _ALLOWED_ANONYMOUS:
            problems.append(f"function {node.name}() is not in the portable subset")
    return sorted(set(problems))


def check(sql: str) -> str:
    problems = lint(sql)
    if problems:
        raise NotPortable("; ".join(problems))
    return sql


def to_spark(sql: str) -> str:
    """Transpile a portable query to Spark SQL (after checking it is portable)."""
    check(sql)
    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]
