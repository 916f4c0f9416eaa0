"""Load and validate the metric dictionary (指标字典).

The shipped catalogue (``catalog.yaml`` beside this module) is read first, then
every ``$JINGYUN_HOME/metrics/*.yaml`` in name order; a user file may add
datasets and metrics but never silently redefine one (the dictionary exists so
that "active user" means one thing everywhere). Every problem raises
:class:`JingyunError` whose ``field`` is the YAML path at fault, e.g.
``metrics.my_rate.formula.denominator``, and whose message names the file.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import sqlglot
import yaml
from sqlglot import exp

from jingyun.config import Settings
from jingyun.errors import JingyunError, yaml_problem
from jingyun.metrics import definitions as defs
from jingyun.metrics.definitions import SHIPPED, Definitions, OrderSet
from jingyun.metrics.model import (
    DERIVED_KINDS,
    DIRECTIONS,
    GRAINS,
    LEAF_KINDS,
    PER_PERIODS,
    PERSPECTIVES,
    Derived,
    Dictionary,
    Leaf,
    Metric,
    Source,
)
from jingyun.schema.tables import TABLES, USERS
from jingyun.warehouse import filters, portable
from jingyun.warehouse.filters import Filter

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Columns of a users row a metric may filter or break down on (never the sensitive ones).
USER_COLUMNS = tuple(c.name for c in USERS.columns if c.classification != "sensitive" and c.kind in ("text", "enum", "bool", "id"))
# Tables whose fact time is a DATE (already a local calendar day), not a UTC timestamp.
_DATE_TIME = {"marketing_spend": "date", "inventory": "snapshot_date", "competitor_prices": "date"}


class _Ctx:
    """Where we are in which file, so every error names the file and the YAML path."""

    def __init__(self, origin: str, definitions: Definitions = SHIPPED):
        self.origin = origin
        self.definitions = definitions

    def fail(self, path: str, message: str) -> JingyunError:
        return JingyunError("bad_metric", f"{self.origin}: {path}: {message}", path)


def canonical_sources() -> dict[str, Source]:
    out: dict[str, Source] = {}
    for table in TABLES.values():
        names = table.column_names
        time = _DATE_TIME.get(table.name) or table.ts_column
        out[table.name] = Source(
            name=table.name, sql=table.name, time=time or "",
            time_type="date" if table.name in _DATE_TIME else "ts", columns=names,
            person="person_id" if "person_id" in names else None,
            test="is_test" if "is_test" in names else None,
            extras=table.extras_column, zh=table.zh, en=table.en,
        )
    return out


# -- small readers -----------------------------------------------------------
def _map(ctx: _Ctx, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.fail(path, f"must be a mapping, got {type(value).__name__}")
    return value


def _str(ctx: _Ctx, data: dict[str, Any], key: str, path: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if value is None:
        raise ctx.fail(f"{path}.{key}", "is required")
    if not isinstance(value, str) or not value.strip():
        raise ctx.fail(f"{path}.{key}", f"must be a non-empty string, got {value!r}")
    return value.strip()


def _choice(ctx: _Ctx, data: dict[str, Any], key: str, path: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = _str(ctx, data, key, path, default)
    if value not in choices:
        raise ctx.fail(f"{path}.{key}", f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _int(ctx: _Ctx, data: dict[str, Any], key: str, path: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ctx.fail(f"{path}.{key}", f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def _bilingual(ctx: _Ctx, data: dict[str, Any], key: str, path: str) -> tuple[str, str]:
    value = data.get(key)
    if value is None:
        raise ctx.fail(f"{path}.{key}", "is required, as {zh: ..., en: ...}")
    value = _map(ctx, value, f"{path}.{key}")
    return _str(ctx, value, "zh", f"{path}.{key}"), _str(ctx, value, "en", f"{path}.{key}")


def _check_keys(ctx: _Ctx, data: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in data:
        if key not in allowed:
            raise ctx.fail(f"{path}.{key}", f"unknown field; allowed: {', '.join(sorted(allowed))}")


# -- filters and columns -----------------------------------------------------
def check_column(ctx: _Ctx, source: Source, column: str, path: str, *, plain: bool = False) -> None:
    """A source column, or (unless ``plain``) ``users.<col>`` / ``properties.<key>``."""
    if not isinstance(column, str):
        raise ctx.fail(path, f"must be a column name, got {column!r}")
    if column in source.columns:
        return
    head, _, rest = column.partition(".")
    if not plain and head == "users" and rest in USER_COLUMNS:
        if source.person is None:
            raise ctx.fail(path, f"{source.name} has no person column, so users.{rest} cannot be joined")
        return
    if not plain and head in ("properties", "attributes") and _KEY.match(rest) and source.extras:
        return
    extra = "" if plain else f", users.<{'|'.join(USER_COLUMNS)}>" + (" or properties.<key>" if source.extras else "")
    raise ctx.fail(path, f"{source.name} has no column {column!r}; use one of {', '.join(source.columns)}{extra}")


def _filters(ctx: _Ctx, value: Any, source: Source, path: str) -> tuple[Filter, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ctx.fail(path, "must be a list of {column, op, value}")
    out: list[Filter] = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        item = _map(ctx, item, where)
        _check_keys(ctx, item, {"column", "op", "value"}, where)
        column = _str(ctx, item, "column", where)
        check_column(ctx, source, column, f"{where}.column")
        try:  # the one filter vocabulary; not_null/is_null (the first spelling) still read
            out.append(filters.parse(item, where, code="bad_metric", field_key="column",
                                     check_field=lambda _name, _path: None))
        except JingyunError as err:
            raise ctx.fail(err.field or where, err.message) from None
    return tuple(out)


# -- datasets ----------------------------------------------------------------
def _dataset(ctx: _Ctx, name: str, data: Any, sources: dict[str, Source]) -> Source:
    path = f"datasets.{name}"
    if not _NAME.match(name):
        raise ctx.fail(path, "dataset names are lower-case letters, digits and _")
    if name in sources:
        raise ctx.fail(path, f"{name} is already defined ({sources[name].name}); pick another name")
    data = _map(ctx, data, path)
    _check_keys(ctx, data, {"zh", "en", "base", "filter", "sql", "time", "time_type", "person", "test",
                            "definition"}, path)
    rules = _rules(ctx, data, path)
    zh, en = str(data.get("zh", rules[0].zh.split(":")[0] if rules else name)), \
        str(data.get("en", rules[0].en.split(":")[0] if rules else name))
    if "base" in data or ("sql" not in data and rules):
        base_name = _str(ctx, data, "base", path, "orders")
        if base_name not in sources:
            raise ctx.fail(f"{path}.base", f"unknown table or dataset {base_name!r}")
        base = sources[base_name]
        if rules and "status" not in base.columns:
            raise ctx.fail(f"{path}.definition", f"{base_name} has no status column for an order definition")
        flts = _filters(ctx, data.get("filter"), base, f"{path}.filter")
        return Source(name, base.sql, base.time, base.time_type, base.columns, base.person, base.test,
                      base.extras, base.filters + flts, zh, en, base.rules + rules)
    sql = _str(ctx, data, "sql", path)
    problems = portable.lint(sql) if _parses(sql) else ["the query does not parse"]
    if problems:
        raise ctx.fail(f"{path}.sql", "; ".join(problems))
    tree = sqlglot.parse_one(sql, read="duckdb")
    if not isinstance(tree, exp.Query):
        raise ctx.fail(f"{path}.sql", "must be a SELECT query")
    columns = tuple(tree.named_selects)
    if "*" in columns or not columns:
        raise ctx.fail(f"{path}.sql", "name every output column (no SELECT *)")
    time = _str(ctx, data, "time", path)
    time_type = _choice(ctx, data, "time_type", path, ("ts", "date"), "ts")
    person = data.get("person", "person_id" if "person_id" in columns else None)
    test = data.get("test", "is_test" if "is_test" in columns else None)
    if rules and "status" not in columns:
        raise ctx.fail(f"{path}.definition", "an order definition needs the query to select status")
    src = Source(name, f"({sql.strip().rstrip(';')})", time, time_type, columns,  # type: ignore[arg-type]
                 person, test, None, (), zh, en, rules)
    for key in ("time", "person", "test"):
        col = getattr(src, key)
        if col is not None:
            check_column(ctx, src, col, f"{path}.{key}", plain=True)
    return src


def _rules(ctx: _Ctx, data: dict[str, Any], path: str) -> tuple[OrderSet, ...]:
    """``definition: paid_orders``: the named business definition (metrics.definitions) the rows satisfy."""
    if "definition" not in data:
        return ()
    name = _str(ctx, data, "definition", path)
    if name not in ctx.definitions.order_sets:
        raise ctx.fail(f"{path}.definition", f"unknown definition {name!r}; use one of "
                       f"{', '.join(ctx.definitions.order_sets)}")
    return (ctx.definitions.orders(name),)


def _parses(sql: str) -> bool:
    try:
        portable.parse(sql)
    except JingyunError:
        return False
    return True


# -- formulas ----------------------------------------------------------------
_ARITH = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.UAdd,
          ast.Name, ast.Load, ast.Constant)


def formula_names(ctx: _Ctx, text: str, path: str) -> tuple[str, ...]:
    """Metric names in an arithmetic formula; anything but + - * / ( ) numbers and names is refused."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ctx.fail(path, f"cannot read formula {text!r}; write e.g. 100 * (a - b) / c") from None
    names: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, _ARITH):
            raise ctx.fail(path, f"only + - * / ( ), numbers and metric names are allowed, found {type(node).__name__}")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
            raise ctx.fail(path, f"only numbers may appear as constants, found {node.value!r}")
        if isinstance(node, ast.Name) and node.id not in names:
            names.append(node.id)
    if not names:
        raise ctx.fail(path, "a formula must use at least one metric")
    return tuple(names)


def _sql_expression(ctx: _Ctx, text: str, source: Source, path: str) -> str:
    """Lint a power user's aggregate expression: one aggregate over the source's own columns."""
    try:
        node = sqlglot.parse_one(text, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ctx.fail(path, f"cannot parse SQL expression: {str(exc).splitlines()[0]}") from None
    if ";" in text or any(isinstance(n, exp.Query | exp.Subquery) for n in node.walk()):
        raise ctx.fail(path, "must be one aggregate expression, without subqueries or statements")
    if not any(isinstance(n, exp.AggFunc) for n in node.walk()):
        raise ctx.fail(path, "must contain an aggregate such as sum(...), count(...) or avg(...)")
    for col in node.find_all(exp.Column):
        if col.name not in source.columns:
            raise ctx.fail(path, f"{source.name} has no column {col.name!r}")
    problems = portable.lint(f"SELECT {text} FROM t")
    if problems:
        raise ctx.fail(path, "; ".join(problems))
    return text


def _source(ctx: _Ctx, data: dict[str, Any], key: str, path: str, sources: dict[str, Source], *, timed: bool = True) -> Source:
    name = _str(ctx, data, key, path)
    if name not in sources:
        raise ctx.fail(f"{path}.{key}", f"unknown table or dataset {name!r}; known: {', '.join(sorted(sources))}")
    src = sources[name]
    if timed and not src.time:
        raise ctx.fail(f"{path}.{key}", f"{name} has no time column, so it cannot be placed on a calendar")
    return src


_LEAF_FIELDS: dict[str, set[str]] = {
    "count": {"table", "filter"},
    "count_distinct": {"table", "filter", "column", "per", "min_rows", "first"},
    "sum": {"table", "filter", "column"},
    "avg": {"table", "filter", "column"},
    "sql": {"table", "filter", "expression"},
    "interval": {"table", "filter", "column"},
    "retention": {"table", "filter", "returns", "returns_filter", "day"},
    "cohort_revenue": {"table", "filter", "returns", "returns_filter", "column", "horizon_days"},
}


def _formula(ctx: _Ctx, data: Any, path: str, sources: dict[str, Source]) -> Leaf | Derived:
    data = _map(ctx, data, path)
    kind = _choice(ctx, data, "kind", path, LEAF_KINDS + DERIVED_KINDS)
    if kind == "ratio":
        _check_keys(ctx, data, {"kind", "numerator", "denominator", "scale"}, path)
        num, den = _str(ctx, data, "numerator", path), _str(ctx, data, "denominator", path)
        scale = data.get("scale", 1)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or scale == 0:
            raise ctx.fail(f"{path}.scale", f"must be a non-zero number, got {scale!r}")
        return Derived("ratio", f"{num} / {den}", (num, den), float(scale))
    if kind == "formula":
        _check_keys(ctx, data, {"kind", "expression"}, path)
        text = _str(ctx, data, "expression", path)
        return Derived("formula", text, formula_names(ctx, text, f"{path}.expression"))
    _check_keys(ctx, data, {"kind"} | _LEAF_FIELDS[kind], path)
    src = _source(ctx, data, "table", path, sources)
    flts = _filters(ctx, data.get("filter"), src, f"{path}.filter")
    leaf: dict[str, Any] = {"kind": kind, "source": src.name, "filters": flts}
    if kind in ("sum", "avg"):
        leaf["column"] = _str(ctx, data, "column", path)
        check_column(ctx, src, leaf["column"], f"{path}.column", plain=True)
    elif kind in ("count_distinct", "interval"):
        leaf["column"] = _str(ctx, data, "column", path, src.person)
        check_column(ctx, src, leaf["column"], f"{path}.column", plain=True)
    if kind == "count_distinct":
        if data.get("per") is not None:
            leaf["per"] = _choice(ctx, data, "per", path, PER_PERIODS)
        leaf["min_rows"] = _int(ctx, data, "min_rows", path, 1, 1, 1000)
        first = data.get("first", False)
        if not isinstance(first, bool):
            raise ctx.fail(f"{path}.first", f"must be true or false, got {first!r}")
        if first and src.person is None:
            raise ctx.fail(f"{path}.first", f"{src.name} has no person column to find first rows by")
        leaf["first"] = first
    if kind == "sql":
        leaf["expression"] = _sql_expression(ctx, _str(ctx, data, "expression", path), src, f"{path}.expression")
    if kind in ("retention", "cohort_revenue"):
        if src.person is None:
            raise ctx.fail(f"{path}.table", f"{src.name} has no person column to build cohorts from")
        ret = _source(ctx, data, "returns", path, sources)
        if ret.person is None:
            raise ctx.fail(f"{path}.returns", f"{ret.name} has no person column")
        leaf["returns"] = ret.name
        leaf["returns_filters"] = _filters(ctx, data.get("returns_filter"), ret, f"{path}.returns_filter")
        if kind == "retention":
            leaf["day"] = _int(ctx, data, "day", path, 1, 0, 3660)
        else:
            leaf["column"] = _str(ctx, data, "column", path)
            check_column(ctx, ret, leaf["column"], f"{path}.column", plain=True)
            leaf["horizon_days"] = _int(ctx, data, "horizon_days", path, 365, 1, 3660)
    return Leaf(**leaf)


_METRIC_FIELDS = {"name", "description", "unit", "direction", "grain", "owner", "perspective", "formula"}


def _metric(ctx: _Ctx, name: str, data: Any, sources: dict[str, Source]) -> Metric:
    path = f"metrics.{name}"
    if not _NAME.match(str(name)):
        raise ctx.fail(path, "metric names are lower-case letters, digits and _ (starting with a letter)")
    data = _map(ctx, data, path)
    _check_keys(ctx, data, _METRIC_FIELDS, path)
    zh, en = _bilingual(ctx, data, "name", path)
    dzh, den = _bilingual(ctx, data, "description", path)
    return Metric(
        name=name, zh=zh, en=en,
        unit=_str(ctx, data, "unit", path),
        direction=_choice(ctx, data, "direction", path, DIRECTIONS),  # type: ignore[arg-type]
        grain=_choice(ctx, data, "grain", path, GRAINS, "day"),  # type: ignore[arg-type]
        owner=_str(ctx, data, "owner", path),
        description_zh=dzh, description_en=den,
        formula=_formula(ctx, data.get("formula"), f"{path}.formula", sources),
        perspective=_choice(ctx, data, "perspective", path, PERSPECTIVES, "financial"),  # type: ignore[arg-type]
        origin=ctx.origin,
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JingyunError("bad_file", f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}", "file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise JingyunError("bad_metric", f"{path}: not valid YAML: {yaml_problem(exc)}", str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise JingyunError("bad_metric", f"{path}: the top level must be a mapping with datasets/metrics", str(path))
    return data


def add_file(metrics: dict[str, Metric], sources: dict[str, Source], data: dict[str, Any], origin: str,
             definitions: Definitions = SHIPPED) -> None:
    """Validate one file's datasets and metrics and add them (in place)."""
    ctx = _Ctx(origin, definitions)
    _check_keys(ctx, data, {"datasets", "metrics"}, "(top level)")
    for name, body in _map(ctx, data.get("datasets") or {}, "datasets").items():
        sources[str(name)] = _dataset(ctx, str(name), body, sources)
    for name, body in _map(ctx, data.get("metrics") or {}, "metrics").items():
        if name in metrics:
            raise ctx.fail(f"metrics.{name}", f"already defined in {metrics[name].origin}; choose another name")
        metrics[str(name)] = _metric(ctx, str(name), body, sources)


def _check_references(metrics: dict[str, Metric]) -> None:
    for metric in metrics.values():
        if isinstance(metric.formula, Derived):
            for ref in metric.formula.references:
                if ref not in metrics:
                    field = "numerator/denominator" if metric.formula.kind == "ratio" else "expression"
                    raise JingyunError("bad_metric", f"{metric.origin}: metrics.{metric.name}.formula: "
                                       f"refers to unknown metric {ref!r}", f"metrics.{metric.name}.formula.{field}")

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name):], name))
            m = metrics[stack[0]]
            raise JingyunError("bad_metric", f"{m.origin}: metrics.{m.name}.formula: circular definition {cycle}",
                               f"metrics.{m.name}.formula")
        formula = metrics[name].formula
        if isinstance(formula, Derived):
            for ref in formula.references:
                visit(ref, (*stack, name))

    for name in metrics:
        visit(name, ())


def load_dictionary(settings: Settings | None = None, *, extra_files: tuple[Path, ...] = ()) -> Dictionary:
    """The shipped catalogue plus the workspace's ``metrics/*.yaml`` (and any ``extra_files``).

    Datasets naming a ``definition`` take it from the workspace (``definitions.yaml``).
    """
    definitions = defs.for_settings(settings)
    sources = canonical_sources()
    metrics: dict[str, Metric] = {}
    files = [CATALOG_PATH]
    if settings is not None:
        user_dir = settings.home / "metrics"
        if user_dir.is_dir():
            files += sorted([*user_dir.glob("*.yaml"), *user_dir.glob("*.yml")])
    files += list(extra_files)
    for path in files:
        origin = "catalog.yaml" if path == CATALOG_PATH else str(path)
        add_file(metrics, sources, _read_yaml(path), origin, definitions)
    _check_references(metrics)
    return Dictionary(metrics=metrics, sources=sources, files=tuple(str(f) for f in files), definitions=definitions)


def dictionary_for(backend: object) -> Dictionary:
    """The dictionary of the workspace a backend reads (the shipped one when it has no settings)."""
    settings = getattr(backend, "settings", None) or getattr(getattr(backend, "warehouse", None), "settings", None)
    return load_dictionary(settings if isinstance(settings, Settings) else None)


def load_text(text: str, origin: str = "<text>", settings: Settings | None = None) -> Dictionary:
    """The catalogue plus metrics given as YAML text (tests, the API)."""
    base = load_dictionary(settings)
    metrics, sources = dict(base.metrics), dict(base.sources)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise JingyunError("bad_metric", f"{origin}: not valid YAML: {yaml_problem(exc)}", origin) from None
    if not isinstance(data, dict):
        raise JingyunError("bad_metric", f"{origin}: the top level must be a mapping with datasets/metrics", origin)
    add_file(metrics, sources, data, origin, base.definitions)
    _check_references(metrics)
    return Dictionary(metrics=metrics, sources=sources, files=(*base.files, origin), definitions=base.definitions)
