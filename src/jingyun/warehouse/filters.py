"""One filter type (筛选条件) for every capability: funnel steps, metric filters, audience rules.

A :class:`Filter` is ``field op value``. ``field`` means what the caller says it
means — a property key of the event JSON (funnel steps, audience ``where``), a
source column, ``users.<column>`` or ``properties.<key>`` (metric filters), a user
attribute or tag (audience conditions). The operator vocabulary is one list::

    eq neq in not_in gt gte lt lte between is_set is_not_set contains

``not_null`` and ``is_null`` — the metric dictionary's first spelling — are read
as ``is_set`` and ``is_not_set`` wherever filters are parsed, so older YAML loads.

A missing value (SQL NULL) satisfies only ``neq`` and ``is_not_set`` in a row
filter (:meth:`Filter.sql`): "not equal to x" includes "not there". The strict
form (:meth:`Filter.test`) never matches NULL; the audience builder uses it to
compile negative operators as "no row where the positive one holds".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from jingyun.errors import JingyunError
from jingyun.warehouse.sqltext import literal, quote

FilterOp = Literal["eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set", "contains"]
OPS: tuple[str, ...] = get_args(FilterOp)
ALIASES: dict[str, str] = {"not_null": "is_set", "is_null": "is_not_set"}
ORDERED: tuple[str, ...] = ("gt", "gte", "lt", "lte", "between")
LISTS: tuple[str, ...] = ("in", "not_in")
NO_VALUE: tuple[str, ...] = ("is_set", "is_not_set")
NEGATIVE: dict[str, str] = {"neq": "eq", "not_in": "in", "is_not_set": "is_set"}
ValueType = Literal["string", "number", "bool", "timestamp", "date"]
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_CMP = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def as_text(value: Any) -> str:
    """A value as ``json_extract_string`` returns it (JSON booleans are ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Filter:
    """``field op value``; ``value`` is a tuple for in/not_in/between, None for is_set/is_not_set."""

    field: str
    op: FilterOp = "eq"
    value: Any = None

    @property
    def values(self) -> tuple[Any, ...]:
        return tuple(self.value) if isinstance(self.value, tuple | list) else (self.value,)

    def positive(self) -> Filter:
        """The filter a negative operator negates (``neq`` → ``eq``); itself otherwise."""
        op = NEGATIVE.get(self.op)
        return Filter(self.field, op, self.value) if op else self  # type: ignore[arg-type]

    def test(self, expr: str, lit: Callable[[Any], str] = literal) -> str:
        """A predicate on ``expr`` that is TRUE only where the filter holds; NULL never matches."""
        op, v = self.op, self.value
        if op == "is_set":
            return f"{expr} IS NOT NULL"
        if op == "is_not_set":
            return f"{expr} IS NULL"
        if op in LISTS:
            return f"{expr} {'NOT IN' if op == 'not_in' else 'IN'} ({', '.join(lit(x) for x in v)})"
        if op == "between":
            return f"{expr} BETWEEN {lit(v[0])} AND {lit(v[1])}"
        if op == "contains":
            # LIKE wildcards in the value are dropped, not escaped: Spark and DuckDB disagree on ESCAPE.
            return f"{expr} LIKE {quote('%' + str(v).replace('%', '').replace('_', '') + '%')}"
        return f"{expr} {_CMP[op]} {lit(v)}"

    def sql(self, expr: str, lit: Callable[[Any], str] = literal) -> str:
        """A row filter on ``expr``: as :meth:`test`, but a missing value satisfies ``neq``."""
        if self.op == "neq":
            return f"({expr} IS NULL OR {self.test(expr, lit)})"
        return self.test(expr, lit)

    def json_sql(self, text: str) -> str:
        """A row filter on a JSON value read as text (``json_extract_string``): compared as text,
        or as DOUBLE for the ordered operators, the same on both engines."""
        if self.op in ORDERED:
            return self.sql(f"CAST({text} AS DOUBLE)", lambda v: repr(float(v)))
        return self.sql(text, lambda v: quote(as_text(v)))


def parse_op(raw: Any, path: str, code: str, allowed: tuple[str, ...] = OPS) -> FilterOp:
    """The operator at ``path`` (old spellings accepted); the error names ``path``."""
    op = ALIASES.get(raw, raw) if isinstance(raw, str) else raw
    if op not in allowed:
        raise JingyunError(code, f"unknown operator {raw!r}; use one of {', '.join(allowed)}", path)
    return op  # type: ignore[return-value]


def check_value(op: str, value: Any, path: str, code: str, vtype: ValueType | None = None) -> Any:
    """The value of ``op`` at ``path``, checked and typed: a tuple for lists and between, None where
    the operator takes none. ``vtype`` None accepts text, numbers and booleans (typed by the caller's
    column); otherwise values must be of that type (timestamps and dates are read from ISO text)."""
    if op in NO_VALUE:
        return None
    if op in LISTS:
        if not isinstance(value, list | tuple) or not value:
            raise JingyunError(code, f"operator {op} needs a non-empty list of values", f"{path}.value")
        return tuple(_typed(v, op, vtype, f"{path}.value[{i}]", code) for i, v in enumerate(value))
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise JingyunError(code, "operator between needs [low, high]", f"{path}.value")
        if vtype in ("string", "bool"):
            raise JingyunError(code, f"operator between does not apply to a {vtype} value", f"{path}.op")
        return tuple(_typed(v, op, vtype or "number", f"{path}.value[{i}]", code) for i, v in enumerate(value))
    if op in ORDERED and vtype in ("string", "bool"):
        raise JingyunError(code, f"operator {op} does not apply to a {vtype} value; use eq, neq, in or contains",
                           f"{path}.op")
    if op == "contains" and vtype not in (None, "string"):
        raise JingyunError(code, f"operator contains needs a text value, this field is {vtype}", f"{path}.op")
    if value is None:
        raise JingyunError(code, f"operator {op} needs a value", f"{path}.value")
    return _typed(value, op, vtype or ("number" if op in ORDERED else None), f"{path}.value", code)


def _typed(value: Any, op: str, vtype: ValueType | None, path: str, code: str) -> Any:
    if vtype == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise JingyunError(code, f"type mismatch: operator {op} needs a number, got {value!r}", path)
        return value
    if vtype == "bool":
        if not isinstance(value, bool):
            raise JingyunError(code, f"type mismatch: expected true or false, got {value!r}", path)
        return value
    if vtype in ("timestamp", "date"):
        if not isinstance(value, str):
            raise JingyunError(code, f"type mismatch: expected an ISO date/time text, got {value!r}", path)
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise JingyunError(code, f"type mismatch: cannot read {value!r} as YYYY-MM-DD[THH:MM:SS]", path) from None
        return parsed.date() if vtype == "date" else parsed
    if vtype == "string":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise JingyunError(code, f"type mismatch: expected text, got {value!r}", path)
        return str(value)
    if not isinstance(value, str | int | float | bool):
        raise JingyunError(code, f"operator {op} needs a string, number or boolean, got {value!r}", path)
    return value


def parse(raw: Any, path: str, *, code: str = "bad_filter", field_key: str = "key",
          vtype: ValueType | None = None, check_field: Callable[[str, str], None] | None = None) -> Filter:
    """A filter from its JSON/YAML form ``{<field_key>, op, value}``; every error names the exact spot
    (``steps[1].filters[0].op``). ``check_field(name, path)`` validates the field (default: a plain key)."""
    if not isinstance(raw, Mapping):
        raise JingyunError(code, f"a filter is an object {{{field_key}, op, value}}", path)
    extra = sorted(set(raw) - {field_key, "op", "value"})
    if extra:
        raise JingyunError(code, f"unknown key {extra[0]!r}; allowed here: {field_key}, op, value", f"{path}.{extra[0]}")
    name = raw.get(field_key)
    if check_field is not None:
        assert isinstance(name, str)  # the caller checked the field's type
        check_field(name, f"{path}.{field_key}")
    elif not isinstance(name, str) or not KEY.match(name):
        raise JingyunError(code, f"{field_key} {name!r} must be letters, digits or _", f"{path}.{field_key}")
    op = parse_op(raw.get("op", "eq"), f"{path}.op", code)
    return Filter(str(name), op, check_value(op, raw.get("value"), path, code, vtype))
