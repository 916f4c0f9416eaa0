"""The audience builder (人群圈选): a JSON rule tree compiled to ONE portable query.

Rule nodes (JSON)::

    {"and": [node, ...]}      every child holds; an empty list holds for everyone
    {"or":  [node, ...]}      some child holds; an empty list holds for no one
    {"not": node}
    {"attr": "province", "op": "eq", "value": "浙江省"}             user attribute
    {"tag": "price_sensitive", "op": "eq", "value": true}           tag value (user_tags)
    {"event": "view_product", "within_days": 30,
     "where": [{"prop": "category", "op": "eq", "value": "服饰"}],
     "count": {"op": "gte", "value": 2}}                            windowed event count
    {"orders": "sum_amount", "within_days": 90, "op": "gte", "value": 500}
    {"segment": "high_value"}                                       saved segment membership

Every leaf becomes ``person_id IN (SELECT person_id ...)`` (a semi-join) or, when
the condition also holds for people with no matching rows at all (``count < 2``,
``sum_amount <= 100``), ``person_id NOT IN (... rows where it fails)`` — so "no
events" is counted as zero without a join that multiplies rows. Saved segments
are inlined (with cycle detection), so a rule stays one query that is always
fresh. Conditions are two-valued: a missing attribute never satisfies ``eq`` and
always satisfies ``not eq``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jingyun.errors import JingyunError
from jingyun.metrics import definitions
from jingyun.security import age_bands
from jingyun.security.masking import require_field_access
from jingyun.segments.common import KEY, NOT_TEST, VALID_ORDER, as_naive_utc
from jingyun.warehouse import person_orders, portable
from jingyun.warehouse.filters import NEGATIVE, Filter, ValueType, check_value, parse_op
from jingyun.warehouse.filters import OPS as OPS
from jingyun.warehouse.personal import BIRTH_DATE_SQL
from jingyun.warehouse.sqltext import date_literal, quote, ts_literal

# User attributes: the users table's columns, and two derived ones computed against as_of.
ATTRIBUTES: dict[str, ValueType] = {
    "user_id": "string", "channel": "string", "gender": "string", "province": "string", "city": "string",
    "member_level": "string", "registered_at": "timestamp", "birth_date": "date",
    "age": "number", "days_since_registration": "number",
}
ORDER_METRICS: dict[str, str] = {
    "count": "count(*)", "sum_amount": "sum(amount)", "avg_amount": "avg(amount)",
    "max_amount": "max(amount)", "days_since_last": "", "coupon_orders": "count(coupon_id)",
}
# Metrics whose value for a person without any order is 0 (so "< x" must include them).
_ZERO_AT_NONE = {"count", "sum_amount", "coupon_orders"}


@dataclass(frozen=True)
class Node:
    kind: Literal["and", "or", "not", "attr", "tag", "event", "orders", "segment"]
    path: str
    children: tuple[Node, ...] = ()
    name: str = ""  # attribute, tag, event, order metric or segment name
    cond: Filter | None = None  # field: the node's name (attribute, tag, order aggregate) or count
    within_days: int | None = None
    where: tuple[Filter, ...] = ()  # on event properties
    value_type: ValueType = "string"


@dataclass
class RuleContext:
    """What validation needs to know: tag types, and how to load saved segments."""

    tag_types: Mapping[str, ValueType] = field(default_factory=dict)
    segment_rule: Callable[[str], dict[str, Any] | None] = lambda _name: None
    as_of: dt.datetime | None = None
    _stack: tuple[str, ...] = ()
    # all-time order conditions may read the maintained per-person summary: set by
    # callers from ``engine.summary_usable(as_of)`` (False on engines without it)
    order_summary: bool = False


@dataclass(frozen=True)
class CompiledAudience:
    sql: str  # one query returning person_id, one row per person
    as_of: dt.datetime
    conditions: int  # leaves, segments inlined


def _err(path: str, message: str) -> JingyunError:
    return JingyunError("bad_rule", message, path)


def parse(rule: Any, ctx: RuleContext | None = None, path: str = "rule") -> Node:
    """Validate a rule tree; errors name the bad node, e.g. ``rule.and[2].op``."""
    ctx = ctx or RuleContext()
    if not isinstance(rule, dict):
        raise _err(path, f"a rule node must be a JSON object, got {type(rule).__name__}")
    heads = [k for k in ("and", "or", "not", "attr", "tag", "event", "orders", "segment") if k in rule]
    if len(heads) != 1:
        raise _err(path, "a rule node needs exactly one of and, or, not, attr, tag, event, orders, segment"
                   + (f" (found {', '.join(heads)})" if heads else f" (found keys {sorted(rule)})"))
    head = heads[0]
    if head in ("and", "or"):
        _only(rule, {head}, path)
        items = rule[head]
        if not isinstance(items, list):
            raise _err(f"{path}.{head}", f"{head} needs a list of rule nodes")
        return Node("and" if head == "and" else "or", path, tuple(parse(c, ctx, f"{path}.{head}[{i}]") for i, c in enumerate(items)))
    if head == "not":
        _only(rule, {"not"}, path)
        return Node("not", path, (parse(rule["not"], ctx, f"{path}.not"),))
    if head == "attr":
        return _parse_attr(rule, path)
    if head == "tag":
        return _parse_tag(rule, ctx, path)
    if head == "event":
        return _parse_event(rule, path)
    if head == "orders":
        return _parse_orders(rule, path)
    return _parse_segment(rule, ctx, path)


def _only(rule: dict[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(set(rule) - allowed)
    if extra:
        raise _err(f"{path}.{extra[0]}", f"unknown key {extra[0]!r}; allowed here: {', '.join(sorted(allowed))}")


def _cond(raw: dict[str, Any], vtype: ValueType, path: str, name: str = "") -> Filter:
    op = parse_op(raw.get("op", "eq"), f"{path}.op", "bad_rule")
    return Filter(name, op, check_value(op, raw.get("value"), path, "bad_rule", vtype))


def _parse_attr(rule: dict[str, Any], path: str) -> Node:
    _only(rule, {"attr", "op", "value"}, path)
    name = rule["attr"]
    if name not in ATTRIBUTES:
        raise _err(f"{path}.attr", f"unknown field {name!r}; user attributes are {', '.join(ATTRIBUTES)}")
    vtype = ATTRIBUTES[name]
    return Node("attr", path, name=name, cond=_cond(rule, vtype, path, name), value_type=vtype)


def _parse_tag(rule: dict[str, Any], ctx: RuleContext, path: str) -> Node:
    _only(rule, {"tag", "op", "value"}, path)
    name = rule["tag"]
    if name not in ctx.tag_types:
        raise _err(f"{path}.tag", f"unknown tag {name!r}; list tags with `jingyun tags list`")
    vtype = ctx.tag_types[name]
    if name == "age_band":  # rules saved with the old 18_24-style labels mean the same bands
        rule = {**rule, "value": age_bands.normalise(rule.get("value"))}
    return Node("tag", path, name=name, cond=_cond(rule, vtype, path, name), value_type=vtype)


def _window(rule: dict[str, Any], path: str) -> int | None:
    days = rule.get("within_days")
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise _err(f"{path}.within_days", f"within_days must be a whole number of days >= 1, got {days!r}")
    return days


def _parse_event(rule: dict[str, Any], path: str) -> Node:
    _only(rule, {"event", "within_days", "where", "count"}, path)
    name = rule["event"]
    if not isinstance(name, str) or not name.strip() or "'" in name or len(name) > 128:
        raise _err(f"{path}.event", f"event name {name!r} must be non-empty text without quotes")
    where: list[Filter] = []
    raw_where = rule.get("where", [])
    if not isinstance(raw_where, list):
        raise _err(f"{path}.where", "where needs a list of property filters")
    for i, flt in enumerate(raw_where):
        fpath = f"{path}.where[{i}]"
        if not isinstance(flt, dict):
            raise _err(fpath, "a property filter is an object {prop, op, value}")
        _only(flt, {"prop", "op", "value"}, fpath)
        prop = flt.get("prop")
        if not isinstance(prop, str) or not KEY.match(prop):
            raise _err(f"{fpath}.prop", f"property key {prop!r} must be letters, digits or _")
        value = flt.get("value")
        vtype: ValueType = "number" if isinstance(value, int | float) and not isinstance(value, bool) else "string"
        if flt.get("op") == "between" or (isinstance(value, list) and value and isinstance(value[0], int | float)):
            vtype = "number"
        where.append(_cond(flt, vtype, fpath, prop))
    count = rule.get("count", {"op": "gte", "value": 1})
    if not isinstance(count, dict):
        raise _err(f"{path}.count", "count is an object {op, value}")
    _only(count, {"op", "value"}, f"{path}.count")
    cond = _cond(count, "number", f"{path}.count", "count")
    if cond.op in ("is_set", "is_not_set", "contains"):
        raise _err(f"{path}.count.op", f"operator {cond.op} does not apply to a count")
    return Node("event", path, name=name, cond=cond, within_days=_window(rule, path), where=tuple(where),
                value_type="number")


def _parse_orders(rule: dict[str, Any], path: str) -> Node:
    _only(rule, {"orders", "within_days", "op", "value"}, path)
    metric = rule["orders"]
    if metric not in ORDER_METRICS:
        raise _err(f"{path}.orders", f"unknown order aggregate {metric!r}; use {', '.join(ORDER_METRICS)}")
    cond = _cond(rule, "number", path, metric)
    if cond.op in ("is_set", "is_not_set", "contains", "in", "not_in"):
        raise _err(f"{path}.op", f"operator {cond.op} does not apply to an order aggregate")
    return Node("orders", path, name=metric, cond=cond, within_days=_window(rule, path), value_type="number")


def _parse_segment(rule: dict[str, Any], ctx: RuleContext, path: str) -> Node:
    _only(rule, {"segment"}, path)
    name = rule["segment"]
    if name in ctx._stack:
        raise _err(f"{path}.segment", f"segment {name!r} refers to itself ({' → '.join([*ctx._stack, name])})")
    inner = ctx.segment_rule(str(name))
    if inner is None:
        raise _err(f"{path}.segment", f"unknown segment {name!r}; list saved segments with `jingyun segment list`")
    sub = RuleContext(ctx.tag_types, ctx.segment_rule, ctx.as_of, (*ctx._stack, str(name)), ctx.order_summary)
    return Node("segment", path, (parse(inner, sub, f"segment[{name}]"),), name=str(name))


# -- compilation ------------------------------------------------------------------


# Fields that single out one person however they are compared: a rule on them selects people one by one.
PINNING_ATTRIBUTES = frozenset({"user_id"})


def guard(rule: Any, *, sees_raw: bool, path: str = "rule") -> None:
    """Refuse (403, naming the node) what a role without raw access may not select people by: a rule that
    pins one person (``user_id``, any operator: ``neq`` pins by difference) or a condition on personal data
    (``birth_date``, an event property such as ``phone``), so repeated counts cannot recover a person's value."""
    if sees_raw or not isinstance(rule, dict):
        return
    for head in ("and", "or"):
        if isinstance(rule.get(head), list):
            for i, child in enumerate(rule[head]):
                guard(child, sees_raw=sees_raw, path=f"{path}.{head}[{i}]")
    if "not" in rule:
        guard(rule["not"], sees_raw=sees_raw, path=f"{path}.not")
    attr = rule.get("attr")
    if isinstance(attr, str):
        if attr in PINNING_ATTRIBUTES:
            raise JingyunError("pins_person", f"a rule on {attr} selects one person; your role selects groups only",
                               f"{path}.attr", status=403)
        require_field_access(f"users.{attr}", sees_raw=False, field_name=f"{path}.attr")
    where = rule.get("where")
    if "event" in rule and isinstance(where, list):
        for i, flt in enumerate(where):
            if isinstance(flt, dict) and isinstance(flt.get("prop"), str):
                require_field_access(f"properties.{flt['prop']}", sees_raw=False, field_name=f"{path}.where[{i}].prop")


def compile_rule(rule: Any, ctx: RuleContext | None = None) -> CompiledAudience:
    """Validate and compile to one portable query (``SELECT person_id ...``); runs nothing."""
    ctx = ctx or RuleContext()
    node = parse(rule, ctx)
    as_of = as_naive_utc(ctx.as_of)
    sql = _plan(node, as_of, ctx.order_summary)
    portable.check(sql)
    return CompiledAudience(sql, as_of, _leaves(node))


def naive_sql(rule: Any, ctx: RuleContext | None = None) -> str:
    """The plain form: one semi-join per leaf over the whole universe. Same answer as
    :func:`compile_rule`, several times slower on big data; kept as the reference the
    tests compare the planned query with."""
    ctx = ctx or RuleContext()
    node = parse(rule, ctx)
    return (f"SELECT u.person_id FROM ({universe_sql()}) u WHERE {_sql(node, as_naive_utc(ctx.as_of))}")


def universe_sql() -> str:
    """The audience universe is the people population (definitions.people_sql): someone with
    orders but no users row can be selected, as RFM counts them."""
    return definitions.people_sql()


def _leaves(node: Node) -> int:
    if node.kind in ("and", "or", "not", "segment"):
        return sum(_leaves(c) for c in node.children)
    return 1


def _sql(node: Node, as_of: dt.datetime) -> str:
    if node.kind == "and":
        return "(" + " AND ".join(_sql(c, as_of) for c in node.children) + ")" if node.children else "TRUE"
    if node.kind == "or":
        return "(" + " OR ".join(_sql(c, as_of) for c in node.children) + ")" if node.children else "FALSE"
    if node.kind == "not":
        return f"NOT {_sql(node.children[0], as_of)}"
    if node.kind == "segment":
        return _sql(node.children[0], as_of)
    if node.kind == "attr":
        return _attr_sql(node, as_of)
    if node.kind == "tag":
        return _tag_sql(node)
    if node.kind == "event":
        return _event_sql(node, as_of)
    return _orders_sql(node, as_of)


def _semi(sub: str, negate: bool = False) -> str:
    return f"(u.person_id {'NOT IN' if negate else 'IN'} ({sub}))"


# Negative operators are compiled as "not (the positive condition)" so a person
# without the value (NULL, no tag) satisfies them, the way marketers read them.
_NEGATIVE = NEGATIVE


def _attr_sql(node: Node, as_of: dt.datetime) -> str:
    negate, where = _attr_where(node, as_of)
    return _semi(f"SELECT person_id FROM users WHERE person_id IS NOT NULL AND {where}", negate)


def _attr_where(node: Node, as_of: dt.datetime) -> tuple[bool, str]:
    """(negated, users-row predicate): negative operators hold where no users row has the positive one."""
    cond = node.cond
    assert cond is not None
    pos = cond.positive()
    derived = node.name in ("age", "days_since_registration")
    return cond.op in _NEGATIVE, _derived(node.name, pos, as_of) if derived else pos.test(node.name)


def _derived(name: str, cond: Filter, as_of: dt.datetime) -> str:
    """Age and account age as bounds on the stored date, computed here (portable, index-friendly)."""
    if cond.op == "is_set":
        return f"{BIRTH_DATE_SQL} IS NOT NULL" if name == "age" else "registered_at IS NOT NULL"
    values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
    if cond.op == "in":
        return "(" + " OR ".join(_derived(name, Filter(name, "eq", v), as_of) for v in values) + ")"
    if cond.op == "between":
        lo, hi = values
        return f"({_derived(name, Filter(name, 'gte', lo), as_of)} AND {_derived(name, Filter(name, 'lte', hi), as_of)})"
    n = int(cond.value)
    # value >= n  <=>  stamp <= cut(n); gt n <=> >= n+1; lte n <=> not >= n+1; lt n <=> not >= n.
    ge = {"gte": n, "gt": n + 1, "eq": n}.get(cond.op)
    lt = {"lt": n, "lte": n + 1, "eq": n + 1}.get(cond.op)
    parts = []
    col = BIRTH_DATE_SQL if name == "age" else "registered_at"  # sealed birth dates decrypt in DuckDB
    for bound, op in ((ge, "<="), (lt, ">")):
        if bound is None:
            continue
        if name == "age":
            parts.append(f"{BIRTH_DATE_SQL} {op} {date_literal(_years_before(as_of.date(), bound))}")
        else:
            parts.append(f"registered_at {op} {ts_literal(as_of - dt.timedelta(days=bound))}")
    return "(" + " AND ".join(parts) + f" AND {col} IS NOT NULL)"


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap year: birthdays count from 28 February
        return day.replace(year=day.year - years, day=28)


def _tag_sql(node: Node) -> str:
    negate, where = _tag_where(node, "value")
    return _semi(f"SELECT person_id FROM user_tags WHERE tag = {quote(node.name)} AND {where}", negate)


def _tag_where(node: Node, value: str) -> tuple[bool, str]:
    """(negated, row predicate on ``value``): negative operators hold where the positive one has no row."""
    cond = node.cond
    assert cond is not None
    negate = cond.op in _NEGATIVE
    pos = cond.positive()
    vtype = node.value_type
    if pos.op == "is_set":
        where = f"{value} IS NOT NULL"
    elif vtype == "number":
        where = pos.test(f"CAST({value} AS DOUBLE)")
    elif vtype == "bool":
        vals = pos.value if isinstance(pos.value, tuple) else (pos.value,)
        where = f"{value} IN (" + ", ".join(quote("true" if v else "false") for v in vals) + ")"
    elif vtype in ("timestamp", "date"):
        where = pos.test(f"CAST({value} AS {'TIMESTAMP' if vtype == 'timestamp' else 'DATE'})")
    else:
        where = pos.test(value)
    return negate, where


def _holds_at_zero(cond: Filter) -> bool:
    v = cond.value
    if cond.op == "between":
        return bool(v[0] <= 0 <= v[1])
    if cond.op in ("in", "not_in"):
        return (0 in v) == (cond.op == "in")
    return {"eq": v == 0, "neq": v != 0, "gt": v < 0, "gte": v <= 0, "lt": v > 0, "lte": v >= 0}[cond.op]


def _window_sql(days: int | None, as_of: dt.datetime) -> str:
    """(as_of − days, as_of], or everything up to as_of inclusive (definitions.window)."""
    if days is None:
        return f"ts < {ts_literal(definitions.window_end(as_of))}"
    start, end = definitions.window(as_of, days)
    return f"ts >= {ts_literal(start)} AND ts < {ts_literal(end)}"


def _since(days: int, as_of: dt.datetime) -> str:
    """The lower bound of a window of ``days`` as of ``as_of`` (rows are already cut at its end)."""
    return f"ts >= {ts_literal(definitions.window(as_of, days)[0])}"


def _prop_sql(flt: Filter) -> str:
    text = f"json_extract_string(properties, '$.{flt.field}')"
    num = any(isinstance(v, int | float) and not isinstance(v, bool) for v in flt.values)
    expr = f"CAST({text} AS DOUBLE)" if num else text
    if flt.op in _NEGATIVE:
        return f"NOT COALESCE({flt.positive().test(expr)}, FALSE)"
    test = flt.test(expr)
    if not num and flt.op in ("eq", "in"):
        # A JSON text whose property equals "服饰" holds 服饰 literally, or writes it (or the
        # key) with escapes, which need a backslash. So this substring test never drops a
        # match, and lets the scan skip the JSON parse on most rows (a few times cheaper).
        hints = [f"contains(properties, {quote(str(v))})" for v in dict.fromkeys(flt.values)]
        return f"({' OR '.join([*hints, _HAS_BACKSLASH])}) AND {test}"
    return test


_HAS_BACKSLASH = "contains(properties, '\\')"


def _grouped(base: str, agg: str, cond: Filter, zero_ok: bool) -> str:
    """Persons whose aggregate satisfies ``cond``; with zero_ok, persons without rows too."""
    if not zero_ok:
        return _semi(f"{base} GROUP BY person_id HAVING {cond.test(agg)}")
    return _semi(f"{base} GROUP BY person_id HAVING NOT ({cond.test(agg)})", negate=True)


def _event_sql(node: Node, as_of: dt.datetime) -> str:
    cond = node.cond
    assert cond is not None
    where = [f"event = {quote(node.name)}", "person_id IS NOT NULL", NOT_TEST, _window_sql(node.within_days, as_of)]
    where += [_prop_sql(f) for f in node.where]
    base = "SELECT person_id FROM events WHERE " + " AND ".join(where)
    if cond.op == "gte" and cond.value == 1:  # "did it at least once": a plain semi-join
        return _semi(base)
    return _grouped(base, "count(*)", cond, _holds_at_zero(cond))


def _orders_sql(node: Node, as_of: dt.datetime) -> str:
    cond = node.cond
    assert cond is not None
    base = (f"SELECT person_id FROM orders WHERE person_id IS NOT NULL AND {VALID_ORDER} AND "
            + _window_sql(node.within_days, as_of))
    if node.name == "days_since_last":
        # whole days since the last order >= n  <=>  last order at or before as_of - n days
        return _semi(f"{base} GROUP BY person_id HAVING {_days_since(cond, as_of)}")
    zero_ok = node.name in _ZERO_AT_NONE and _holds_at_zero(cond)
    return _grouped(base, ORDER_METRICS[node.name], cond, zero_ok)


def _days_since(cond: Filter, as_of: dt.datetime, last: str = "max(ts)") -> str:
    """``floor((as_of - last) / 1 day) <op> n`` as bounds on ``last`` (the last order time)."""

    def at_least(days: float) -> str:  # whole days since >= days
        return f"{last} <= {ts_literal(as_of - dt.timedelta(days=days))}"

    def below(days: float) -> str:  # whole days since < days
        return f"{last} > {ts_literal(as_of - dt.timedelta(days=days))}"

    op, v = cond.op, cond.value
    if op == "between":
        return f"{at_least(v[0])} AND {below(v[1] + 1)}"
    if op == "in":
        return "(" + " OR ".join(f"({at_least(x)} AND {below(x + 1)})" for x in v) + ")"
    parts = {
        "eq": f"{at_least(v)} AND {below(v + 1)}" if op == "eq" else "",
        "gte": at_least(v) if op == "gte" else "",
        "gt": at_least(v + 1) if op == "gt" else "",
        "lt": below(v) if op == "lt" else "",
        "lte": below(v + 1) if op == "lte" else "",
        "neq": f"NOT ({at_least(v)} AND {below(v + 1)})" if op == "neq" else "",
    }
    if op not in parts:
        raise JingyunError("bad_rule", f"operator {op} does not apply to days_since_last", "op")
    return parts[op]


# -- planning ---------------------------------------------------------------------
# The plain form (naive_sql) tests every person of the universe against each leaf's
# whole match set: one hash semi-join of ~1M text ids per condition, and each grouped
# leaf (order totals, event counts) aggregates every person in the warehouse first.
# The planner narrows a candidate set instead, along the rule's top-level AND:
#   1. users: ONE grouped pass; every attribute condition is a flag in HAVING
#      (``max(CASE ...)`` keeps "some user row of the person matches", as before);
#   2. per source table (user_tags, events, orders), in the order the rule first names
#      them: ONE join of the candidates with that table's rows, each leaf an aggregate
#      with FILTER, all tested together in HAVING. Only surviving candidates are grouped,
#      and property filters (JSON) run on their rows only;
#   3. what is left (an OR mixing tables, NOT over a group) is tested last, with the
#      plain semi-joins, on the few remaining candidates.
# NOT (a OR b) is split into NOT a AND NOT b first: conditions are two-valued.

_SOURCE = {"tag": "user_tags", "event": "events", "orders": "orders"}


def _plan(node: Node, as_of: dt.datetime, summary: bool = False) -> str:
    attr_terms: list[str] = []
    steps: dict[str, list[tuple[Node, bool]]] = {}
    rest: list[Node] = []
    for leaf, positive in _conjuncts(node):
        if leaf.kind in _SOURCE:
            steps.setdefault(_SOURCE[leaf.kind], []).append((leaf, positive))
        elif _attr_only(leaf):
            attr_terms.append(_flags(leaf, as_of))
        else:
            rest.append(leaf)
    users = f"max(CASE WHEN {NOT_TEST} THEN 1 ELSE 0 END) = 1" + "".join(f" AND {t}" for t in attr_terms)
    # Start from the event conditions that only people with rows in a time window can
    # meet (usually few: "viewed 服饰 twice in the last 30 days"), grouping those rows
    # alone; users then joins the candidates rather than grouping every user. Without
    # such a condition, start from users.
    needed = [(n, pos) for n, pos in steps.get("events", []) if n.within_days and _inner([(n, pos)])]
    if not needed:
        # every person (definitions.people_sql), with their users rows if any: attribute
        # conditions read NULL for someone known only from orders
        sql = (f"SELECT p.person_id FROM ({universe_sql()}) p LEFT JOIN users r ON r.person_id = p.person_id "
               f"GROUP BY p.person_id HAVING {users}")
    else:
        steps["events"] = [x for x in steps["events"] if x not in needed]
        # here the leaves' own filters go in WHERE, so only matching rows are grouped
        match = " OR ".join(f"({_event_match(n, as_of)})" for n, _ in needed)
        if len(needed) == 1:  # WHERE already keeps exactly the leaf's rows: count them, not re-test them
            (leaf, positive), = needed
            assert leaf.cond is not None
            held = f"({leaf.cond.test('count(*)')})"
            having = held if positive else f"NOT {held}"
        else:
            having = _terms(needed, as_of)
        sql = (f"SELECT r.person_id FROM ({_rows_sql('events', [n for n, _ in needed], as_of)} AND ({match})) r "
               f"GROUP BY r.person_id HAVING {having}")
        sql = (f"SELECT c.person_id FROM ({sql}) c LEFT JOIN users r ON r.person_id = c.person_id "
               f"GROUP BY c.person_id HAVING {users}")
    order = [t for t in steps if steps[t]]
    for table in order:
        if table == "orders" and summary and all(leaf.within_days is None for leaf, _ in steps[table]):
            sql = _summary_step(sql, steps[table], as_of)
        else:
            sql = _step(sql, table, steps[table], as_of)
    if rest:
        sql = f"SELECT u.person_id FROM ({sql}) u WHERE " + " AND ".join(_sql(n, as_of) for n in rest)
    return sql


def _strip(node: Node) -> Node:
    while node.kind == "segment":
        node = node.children[0]
    return node


def _conjuncts(node: Node) -> list[tuple[Node, bool]]:
    """The rule as a list of (node, holds-if-positive) that must all hold."""
    node = _strip(node)
    if node.kind == "and":
        return [x for c in node.children for x in _conjuncts(c)]
    if node.kind == "not":
        inner = _strip(node.children[0])
        if inner.kind == "not":
            return _conjuncts(inner.children[0])
        if inner.kind == "or":
            return [x for c in inner.children for x in _conjuncts(Node("not", c.path, (c,)))]
        if inner.kind in _SOURCE:
            return [(inner, False)]
    return [(node, True)]


def _attr_only(node: Node) -> bool:
    if node.kind == "attr":
        return True
    return node.kind in ("and", "or", "not", "segment") and all(_attr_only(c) for c in node.children)


def _flags(node: Node, as_of: dt.datetime) -> str:
    """An attribute-only subtree as a HAVING predicate over the person's user rows."""
    if node.kind in ("and", "or"):
        joined = f" {node.kind.upper()} ".join(_flags(c, as_of) for c in node.children)
        return f"({joined})" if node.children else ("TRUE" if node.kind == "and" else "FALSE")
    if node.kind == "not":
        return f"NOT {_flags(node.children[0], as_of)}"
    if node.kind == "segment":
        return _flags(node.children[0], as_of)
    negate, where = _attr_where(node, as_of)
    flag = f"(max(CASE WHEN {where} THEN 1 ELSE 0 END) = 1)"
    return f"NOT {flag}" if negate else flag


def _step(cand: str, table: str, leaves: list[tuple[Node, bool]], as_of: dt.datetime) -> str:
    """Candidates for which every leaf on ``table`` holds (or fails, when not positive)."""
    rows = _rows_sql(table, [leaf for leaf, _ in leaves], as_of)
    return (f"SELECT c.person_id FROM ({cand}) c {'JOIN' if _inner(leaves) else 'LEFT JOIN'} ({rows}) r "
            f"ON r.person_id = c.person_id GROUP BY c.person_id HAVING {_terms(leaves, as_of)}")


# All-time order aggregates read off the per-person summary (one row a person, or none):
# the same values the grouped orders rows give, NULL where the person has no valid order.
_SUMMARY_METRICS: dict[str, str] = {
    "count": "coalesce(max(r.orders), 0)", "sum_amount": "max(r.amount)",
    "avg_amount": "max(r.amount) / max(r.priced_orders)", "max_amount": "max(r.max_amount)",
    "coupon_orders": "coalesce(max(r.coupon_orders), 0)",
}


def _summary_step(cand: str, leaves: list[tuple[Node, bool]], as_of: dt.datetime) -> str:
    """Like :func:`_step` on ``orders`` with no window, reading ``person_orders``:
    the candidates join one summary row each instead of all their order rows."""
    terms = []
    for leaf, positive in leaves:
        assert leaf.cond is not None
        held, at_zero = _order_holds(leaf.name, leaf.cond, as_of, _SUMMARY_METRICS.get(leaf.name, ""), "max(r.last_ts)")
        terms.append((held if positive else f"NOT {held}", at_zero != positive))
    join = "JOIN" if any(fails for _, fails in terms) else "LEFT JOIN"
    return (f"SELECT c.person_id FROM ({cand}) c {join} {person_orders.TABLE} r ON r.person_id = c.person_id "
            f"GROUP BY c.person_id HAVING {' AND '.join(t for t, _ in terms)}")


def _terms(leaves: list[tuple[Node, bool]], as_of: dt.datetime) -> str:
    return " AND ".join(h if positive else f"NOT {h}" for (leaf, positive) in leaves
                        for h in [_leaf_holds(leaf, as_of)[0]])


def _inner(leaves: list[tuple[Node, bool]]) -> bool:
    """Whether some leaf fails for people without rows, so an inner join loses no one."""
    return any(_leaf_holds(leaf, dt.datetime(2000, 1, 1))[1] != positive for leaf, positive in leaves)


def _rows_sql(table: str, leaves: list[Node], as_of: dt.datetime) -> str:
    """The rows of ``table`` any of the leaves can look at (the union of their windows)."""
    if table == "user_tags":
        names = ", ".join(sorted({quote(n.name) for n in leaves}))
        return f"SELECT person_id, tag, value FROM user_tags WHERE tag IN ({names})"
    windows = [n.within_days for n in leaves]
    widest = None if None in windows else max(w for w in windows if w is not None)
    if table == "events":
        names = ", ".join(sorted({quote(n.name) for n in leaves}))
        return (f"SELECT person_id, event, ts, properties FROM events WHERE person_id IS NOT NULL AND {NOT_TEST} "
                f"AND event IN ({names}) AND {_window_sql(widest, as_of)}")
    return (f"SELECT person_id, ts, amount, coupon_id FROM orders WHERE person_id IS NOT NULL AND {VALID_ORDER} "
            f"AND {_window_sql(widest, as_of)}")


def _leaf_holds(node: Node, as_of: dt.datetime) -> tuple[str, bool]:
    """(predicate over the joined rows' aggregates, whether it holds for a person with no rows)."""
    cond = node.cond
    assert cond is not None
    if node.kind == "tag":
        negate, where = _tag_where(node, f"CASE WHEN tag = {quote(node.name)} THEN value END")
        has = f"(count(*) FILTER (WHERE tag = {quote(node.name)} AND {where}) >= 1)"
        return (f"NOT {has}", True) if negate else (has, False)
    window = (_since(node.within_days, as_of) if node.within_days
              else "ts IS NOT NULL")  # ts IS NOT NULL: no row from the outer join's missing side
    if node.kind == "event":
        match = _event_match(node, as_of)
        return f"({cond.test(f'count(*) FILTER (WHERE {match})')})", _holds_at_zero(cond)
    agg = {"count": "count(*)", "coupon_orders": "count(coupon_id)"}.get(node.name, ORDER_METRICS[node.name])
    return _order_holds(node.name, cond, as_of, f"{agg} FILTER (WHERE {window})", f"max(ts) FILTER (WHERE {window})")


def _order_holds(name: str, cond: Filter, as_of: dt.datetime, value: str, last: str) -> tuple[str, bool]:
    """(predicate, whether it holds for a person with no orders) for an order metric whose
    aggregate is ``value`` (the last order time ``last`` for days_since_last)."""
    if name == "days_since_last":
        return f"COALESCE({_days_since(cond, as_of, last)}, FALSE)", False
    test = cond.test(value)
    if name in ("count", "coupon_orders"):  # counts are 0, never NULL, without rows
        return f"({test})", _holds_at_zero(cond)
    if name in _ZERO_AT_NONE and _holds_at_zero(cond):  # a sum over no rows counts as 0
        return f"(NOT COALESCE(NOT ({test}), FALSE))", True
    return f"COALESCE({test}, FALSE)", False


def _event_match(node: Node, as_of: dt.datetime) -> str:
    window = _since(node.within_days, as_of) if node.within_days else "ts IS NOT NULL"
    return " AND ".join([f"event = {quote(node.name)}", window, *(_prop_sql(f) for f in node.where)])
