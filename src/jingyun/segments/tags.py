"""The tag system (标签体系): declarative tags, computed into ``user_tags``.

A tag is defined in YAML (shipped ones in ``segments/tags/*.yaml``) or through
the API (versioned in the store; tags that feed campaigns take effect only once
approved by someone other than the author). Kinds:

  first_value / last_value  the first/last value of a column (first purchase channel, last active day)
  preference                the most frequent value (preferred platform, preferred category)
  distribution              a per-person measure put into labelled buckets
  sql                       any portable ``SELECT person_id, value`` (power users)
  imported                  values uploaded from a CSV (person_id,value)
  rule                      an audience rule: true for members, false for everyone else
  computed                  named computations (coupon share above a threshold, early adopter…)
  model                     a score from ``model_scores`` (filled by the churn/CLV models)
  builtin                   RFM scores and group, lifecycle stage, need-based groups

Every kind compiles to one portable query returning (person_id, value); the
value is stored as text and typed by the tag's ``type``. Recomputing a tag
replaces its rows in one transaction. Ties in preferences go to the
alphabetically first value, so reruns agree.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import yaml

from jingyun import localtime
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.metrics import definitions
from jingyun.metrics.definitions import real_people
from jingyun.security import age_bands
from jingyun.segments import audience
from jingyun.segments.common import NOT_TEST, VALID_ORDER, check_name, ensure_segment_tables, now_utc
from jingyun.segments.store import SegmentStore
from jingyun.warehouse import portable
from jingyun.warehouse.backends import Engine, Source, engine_of, require, writer
from jingyun.warehouse.personal import BIRTH_DATE_SQL
from jingyun.warehouse.sqltext import local_date, local_ts, quote, ts_literal

Kind = Literal["first_value", "last_value", "preference", "distribution", "sql", "imported", "rule",
               "computed", "model", "builtin"]
KINDS = ("first_value", "last_value", "preference", "distribution", "sql", "imported", "rule",
         "computed", "model", "builtin")
GROUPS = ("demographic", "behaviour", "value", "preference", "model")
SHIPPED = Path(__file__).parent / "tags"
_TABLES = {"events": "events", "orders": "orders"}


@dataclass(frozen=True)
class TagDef:
    name: str
    kind: Kind
    group: str
    zh: str
    en: str
    description_zh: str = ""
    description_en: str = ""
    owner: str = "ops"
    refresh: str = "daily"  # daily | hourly | on_demand
    type: audience.ValueType = "string"
    campaign: bool = False  # feeds campaigns: custom versions need approval
    spec: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: dict[str, Any], where: str = "tag") -> TagDef:
        known = {f for f in cls.__dataclass_fields__}
        extra = sorted(set(raw) - known)
        if extra:
            raise JingyunError("bad_tag", f"unknown key {extra[0]!r} in {where}", f"{where}.{extra[0]}")
        for req in ("name", "kind", "group", "zh", "en"):
            if not raw.get(req):
                raise JingyunError("bad_tag", f"{where} needs {req}", f"{where}.{req}")
        check_name(raw["name"], f"{where}.name")
        if raw["kind"] not in KINDS:
            raise JingyunError("bad_tag", f"unknown tag kind {raw['kind']!r}; use {', '.join(KINDS)}", f"{where}.kind")
        if raw["group"] not in GROUPS:
            raise JingyunError("bad_tag", f"unknown tag group {raw['group']!r}; use {', '.join(GROUPS)}",
                               f"{where}.group")
        if raw.get("type", "string") not in ("string", "number", "bool", "timestamp", "date"):
            raise JingyunError("bad_tag", "type must be string, number, bool, timestamp or date", f"{where}.type")
        return cls(**raw)


@dataclass(frozen=True)
class TagRun:
    tag: str
    rows: int
    coverage: float  # share of persons with a value
    seconds: float
    computed_at: str
    status: str = "ok"
    error: str | None = None


def shipped_tags() -> dict[str, TagDef]:
    out: dict[str, TagDef] = {}
    for path in sorted(SHIPPED.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        for i, raw in enumerate(data):
            tag = TagDef.parse(raw, f"{path.name}[{i}]")
            if tag.name in out:
                raise JingyunError("bad_tag", f"tag {tag.name!r} is defined twice", f"{path.name}[{i}].name")
            out[tag.name] = tag
    return out


def load_tags(settings: Settings) -> dict[str, TagDef]:
    """Shipped tags plus custom ones; a campaign tag uses its latest *approved* version."""
    tags = shipped_tags()
    store = SegmentStore(settings)
    latest: dict[str, Any] = {}
    for v in store.tag_versions():
        campaign = bool(v.definition.get("campaign"))
        if v.status == "rejected" or (campaign and v.status != "approved"):
            continue
        if v.tag not in latest or v.version > latest[v.tag].version:
            latest[v.tag] = v
    for name, v in latest.items():
        tags[name] = TagDef.parse(v.definition, f"tag[{name}]")
    return tags


def tag_types(settings: Settings) -> dict[str, audience.ValueType]:
    return {t.name: t.type for t in load_tags(settings).values()}


def define_tag(settings: Settings, raw: dict[str, Any], author: str) -> tuple[TagDef, int, str]:
    """Validate and store a new version of a custom tag; returns (tag, version, status)."""
    tag = TagDef.parse(raw)
    tag_query(tag, settings)  # compiles, so a bad definition is refused before it is stored
    v = SegmentStore(settings).add_tag_version(tag.name, asdict(tag), author)
    return tag, v.version, v.status


# -- compilation ---------------------------------------------------------------------


def _spec(tag: TagDef, key: str, default: Any = None) -> Any:
    if key in tag.spec:
        return tag.spec[key]
    if default is None:
        raise JingyunError("bad_tag", f"tag {tag.name} ({tag.kind}) needs spec.{key}", f"{tag.name}.spec.{key}")
    return default


def _source(tag: TagDef) -> tuple[str, str]:
    """(table, where) for first/last/preference/distribution tags."""
    table = _spec(tag, "table", "events")
    if table not in _TABLES:
        raise JingyunError("bad_tag", "spec.table must be events or orders", f"{tag.name}.spec.table")
    where = ["person_id IS NOT NULL", VALID_ORDER if table == "orders" else NOT_TEST]
    if "event" in tag.spec:
        where.append(f"event = {quote(tag.spec['event'])}")
    return table, " AND ".join(where)


def _value_expr(tag: TagDef, tz: str) -> str:
    if "prop" in tag.spec:
        return f"json_extract_string(properties, {quote('$.' + str(tag.spec['prop']))})"
    column = _spec(tag, "column")
    if column == "local_date":
        return f"CAST({local_date('ts', tz)} AS VARCHAR)"
    if column == "local_daypart":
        hour = f"EXTRACT(HOUR FROM {local_ts('ts', tz)})"
        return (f"CASE WHEN {hour} < 6 THEN 'night' WHEN {hour} < 12 THEN 'morning' "
                f"WHEN {hour} < 18 THEN 'afternoon' ELSE 'evening' END")
    if not isinstance(column, str) or not column.isidentifier():
        raise JingyunError("bad_tag", f"spec.column {column!r} is not a column name", f"{tag.name}.spec.column")
    return f"CAST({column} AS VARCHAR)"


def tag_query(tag: TagDef, settings: Settings, as_of: Any = None) -> str | None:
    """The portable query computing ``tag`` (person_id, value); None for imported tags."""
    tz = settings.timezone
    k = tag.kind
    if k == "imported":
        return None
    if k in ("first_value", "last_value"):
        table, where = _source(tag)
        order = "ASC" if k == "first_value" else "DESC"
        key = "order_id" if table == "orders" else "event_id"
        sql = (f"SELECT person_id, value FROM (SELECT person_id, {_value_expr(tag, tz)} AS value, "
               f"ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY ts {order}, {key} {order}) AS rn "
               f"FROM {table} WHERE {where}) x WHERE rn = 1 AND value IS NOT NULL")
    elif k == "preference":
        table, where = _source(tag)
        sql = (f"SELECT person_id, value FROM (SELECT person_id, value, ROW_NUMBER() OVER "
               "(PARTITION BY person_id ORDER BY n DESC, value ASC) AS rn FROM (SELECT person_id, "
               f"{_value_expr(tag, tz)} AS value, count(*) AS n FROM {table} WHERE {where} GROUP BY 1, 2) c "
               "WHERE value IS NOT NULL) r WHERE rn = 1")
    elif k == "distribution":
        sql = _distribution(tag, as_of)
    elif k == "sql":
        sql = str(_spec(tag, "sql")).strip().rstrip(";")
        if not sql.upper().startswith(("SELECT", "WITH")):
            raise JingyunError("bad_tag", "an SQL tag is one SELECT returning person_id, value", f"{tag.name}.spec.sql")
        sql = (f"SELECT person_id, CAST(value AS VARCHAR) AS value FROM ({sql}) q "
               f"WHERE person_id IN ({audience.universe_sql()})")
    elif k == "rule":
        compiled = audience.compile_rule(_spec(tag, "rule"), audience.RuleContext(tag_types(settings), as_of=as_of))
        sql = (f"SELECT u.person_id, CASE WHEN m.person_id IS NULL THEN 'false' ELSE 'true' END AS value "
               f"FROM ({audience.universe_sql()}) u LEFT JOIN ({compiled.sql}) m ON m.person_id = u.person_id")
    elif k == "computed":
        sql = _computed(tag, as_of, tz)
    elif k == "model":
        sql = (f"SELECT person_id, CAST(value AS VARCHAR) AS value FROM (SELECT person_id, value, ROW_NUMBER() "
               "OVER (PARTITION BY person_id ORDER BY scored_at DESC) AS rn FROM model_scores "
               f"WHERE model = {quote(_spec(tag, 'model'))} AND score_name = {quote(_spec(tag, 'score_name'))}) s "
               "WHERE rn = 1")
    else:  # builtin: computed by rfm/lifecycle/needs modules (see compute_tags)
        return None
    return portable.check(sql)


def _window(tag: TagDef, as_of: Any) -> str:
    days = tag.spec.get("within_days")
    if days is None:
        return ""
    start, end = definitions.window(audience.as_naive_utc(as_of), int(days))
    return f" AND ts >= {ts_literal(start)} AND ts < {ts_literal(end)}"


def _distribution(tag: TagDef, as_of: Any) -> str:
    table, where = _source(tag)
    agg = {"count": "count(*)", "sum_amount": "CAST(sum(amount) AS DOUBLE)",
           "avg_amount": "CAST(avg(amount) AS DOUBLE)", "active_days": "count(DISTINCT CAST(ts AS DATE))"}
    measure = _spec(tag, "measure", "count")
    if measure not in agg:
        raise JingyunError("bad_tag", f"spec.measure must be one of {', '.join(agg)}", f"{tag.name}.spec.measure")
    cuts = list(_spec(tag, "buckets"))
    labels = list(_spec(tag, "labels"))
    if len(labels) != len(cuts) + 1 or cuts != sorted(cuts):
        raise JingyunError("bad_tag", "spec.labels needs one label more than the ascending spec.buckets",
                           f"{tag.name}.spec.labels")
    # bucket i holds cuts[i-1] <= x < cuts[i]; people without rows measure 0
    case = "CASE " + " ".join(f"WHEN x < {c!r} THEN {quote(lab)}" for c, lab in zip(cuts, labels, strict=False))
    case += f" ELSE {quote(labels[-1])} END"
    return (f"SELECT u.person_id, {case.replace('x <', 'COALESCE(m.x, 0) <')} AS value FROM "
            f"({audience.universe_sql()}) u LEFT JOIN (SELECT person_id, {agg[measure]} AS x FROM {table} "
            f"WHERE {where}{_window(tag, as_of)} GROUP BY person_id) m ON m.person_id = u.person_id")


def _computed(tag: TagDef, as_of: Any, tz: str = "UTC") -> str:
    what = _spec(tag, "compute")
    if what == "age_band":
        # exact age on the as-of local day, banded by the one scheme masking uses too
        ref = localtime.aware(audience.as_naive_utc(as_of), tz)
        assert ref is not None
        age = age_bands.age_sql("b", ref.date())
        return (f"SELECT person_id, value FROM (SELECT person_id, {age_bands.band_sql('a')} AS value FROM "
                f"(SELECT person_id, {age} AS a FROM (SELECT person_id, {BIRTH_DATE_SQL} AS b FROM users "
                "WHERE birth_date IS NOT NULL OR _birth_date_enc IS NOT NULL) x) y) z WHERE value IS NOT NULL "
                f"AND person_id IN ({audience.universe_sql()})")
    if what == "coupon_share":
        # price-sensitive by rule: share of valid orders with a coupon or discount above a threshold
        th = float(_spec(tag, "threshold", 0.5))
        min_orders = int(_spec(tag, "min_orders", 2))
        return ("SELECT person_id, CASE WHEN count(*) FILTER (WHERE coupon_id IS NOT NULL OR discount > 0) "
                f">= {th!r} * count(*) THEN 'true' ELSE 'false' END AS value FROM orders "
                f"WHERE person_id IS NOT NULL AND {VALID_ORDER} GROUP BY person_id HAVING count(*) >= {min_orders}")
    if what == "early_adopter":
        # bought a product within N days of its launch
        days = int(_spec(tag, "days", 30))
        return ("SELECT o.person_id, 'true' AS value FROM order_items i JOIN orders o ON o.order_id = i.order_id "
                "JOIN products p ON p.product_id = i.product_id WHERE o.person_id IS NOT NULL "
                f"AND {definitions.SHIPPED.order_rows('valid_orders', 'o')} "
                f"AND p.launched_at IS NOT NULL AND CAST(o.ts AS DATE) >= p.launched_at "
                f"AND CAST(o.ts AS DATE) < p.launched_at + INTERVAL {days} DAY GROUP BY o.person_id")
    if what == "preferred_category":
        return ("SELECT person_id, value FROM (SELECT person_id, value, ROW_NUMBER() OVER (PARTITION BY person_id "
                "ORDER BY n DESC, value ASC) AS rn FROM (SELECT o.person_id, p.category AS value, "
                "sum(i.quantity) AS n FROM order_items i JOIN orders o ON o.order_id = i.order_id "
                "JOIN products p ON p.product_id = i.product_id WHERE o.person_id IS NOT NULL "
                f"AND {real_people('o')} GROUP BY 1, 2) c) r WHERE rn = 1")
    if what == "premium_share":
        th = float(_spec(tag, "threshold", 0.4))
        return ("SELECT o.person_id, CASE WHEN count(*) FILTER (WHERE json_extract_string(p.attributes, "
                f"'$.premium') = 'true') >= {th!r} * count(*) THEN 'true' ELSE 'false' END AS value "
                "FROM order_items i JOIN orders o ON o.order_id = i.order_id JOIN products p "
                f"ON p.product_id = i.product_id WHERE o.person_id IS NOT NULL AND {real_people('o')} "
                "GROUP BY o.person_id HAVING count(*) >= 2")
    raise JingyunError("bad_tag", f"unknown computation {what!r}; use coupon_share, early_adopter, "
                       "preferred_category, premium_share or age_band", f"{tag.name}.spec.compute")


# -- computation ---------------------------------------------------------------------


def _builtin_rows(engine: Engine, tags: list[TagDef], as_of: Any) -> dict[str, pa.Table]:
    from jingyun.segments.lifecycle import LifecycleParams, lifecycle_query
    from jingyun.segments.needs import compute_needs
    from jingyun.segments.rfm import RfmParams, compute_rfm, resolve_as_of

    wanted = {str(t.spec.get("source")) for t in tags}
    out: dict[str, pa.Table] = {}
    if wanted & {"rfm_r", "rfm_f", "rfm_m", "rfm_group"}:
        res = compute_rfm(engine, RfmParams(as_of=as_of), with_persons=True)
        ids = [str(p["person_id"]) for p in res.persons]
        for key, col in (("rfm_r", "r"), ("rfm_f", "f"), ("rfm_m", "m"), ("rfm_group", "group")):
            out[key] = pa.table({"person_id": ids, "value": [str(p[col]) for p in res.persons]})
    if "lifecycle_stage" in wanted:
        q = lifecycle_query(LifecycleParams(), resolve_as_of(engine, as_of))
        out["lifecycle_stage"] = engine.run(f"SELECT person_id, stage AS value FROM ({q}) s")
    needs = {"price_sensitive", "quality_sensitive", "service_sensitive"} & wanted
    if needs:
        res_n = compute_needs(engine, keep_posteriors=True)
        for need in needs:
            pairs = [(pid, lab[need]) for pid, lab in res_n.labels.items() if lab[need] is not None]
            out[need] = pa.table({"person_id": [p for p, _ in pairs],
                                  "value": ["true" if v else "false" for _, v in pairs]})
    return out


def compute_tags(source: Source, names: list[str] | None = None, *, as_of: Any = None) -> list[TagRun]:
    """Recompute tags (all, or ``names``): each tag's rows are replaced in one transaction
    (written to the warehouse of record: a declared gap on other engines)."""
    engine = engine_of(source)
    wh = writer(engine)
    ensure_segment_tables(engine)
    defs = load_tags(engine.settings)
    unknown = [n for n in (names or []) if n not in defs]
    if unknown:
        raise JingyunError("unknown_tag", f"unknown tag {unknown[0]!r}; see `jingyun tags list`", "tag")
    chosen = [defs[n] for n in names] if names else list(defs.values())
    from jingyun.segments.rfm import resolve_as_of

    as_of = resolve_as_of(engine, as_of)  # windows end at the latest data unless told otherwise
    universe = int(engine.scalar(f"SELECT count(*) FROM ({audience.universe_sql()}) u") or 0)
    builtin = _builtin_rows(engine, [t for t in chosen if t.kind == "builtin"], as_of)
    runs: list[TagRun] = []
    for tag in chosen:
        if tag.kind == "imported":
            n = _tagged(engine, tag.name)
            runs.append(TagRun(tag.name, n, round(n / universe, 6) if universe else 0.0, 0.0, now_utc().isoformat()))
            continue
        t0 = time.perf_counter()
        stamp = now_utc()
        with wh.transaction() as con:
            con.execute("DELETE FROM user_tags WHERE tag = ?", [tag.name])
            if tag.kind == "builtin":
                batch = builtin[str(tag.spec.get("source"))]
                con.register("_tag_batch", batch)
                try:
                    con.execute("INSERT INTO user_tags SELECT person_id, ?, value, ? FROM _tag_batch",
                                [tag.name, stamp])
                finally:
                    con.unregister("_tag_batch")
            else:
                sql = tag_query(tag, engine.settings, as_of)
                con.execute(f"INSERT INTO user_tags SELECT person_id, {quote(tag.name)}, value, "
                            f"{ts_literal(stamp)} FROM ({sql}) t")
        n = _tagged(engine, tag.name)
        runs.append(TagRun(tag.name, n, round(n / universe, 6) if universe else 0.0,
                           round(time.perf_counter() - t0, 4), stamp.isoformat()))
    return runs


def _tagged(engine: Engine, tag: str) -> int:
    return int(engine.scalar(f"SELECT count(DISTINCT person_id) FROM user_tags WHERE tag = {quote(tag)}") or 0)


def import_tag_csv(source: Source, tag: str, path: Path) -> int:
    """Load an imported tag from a CSV with columns person_id,value (replaces earlier values)."""
    engine = engine_of(source)
    wh = writer(engine)
    defs = load_tags(engine.settings)
    if tag not in defs or defs[tag].kind != "imported":
        raise JingyunError("bad_tag", f"{tag!r} is not an imported tag", "tag")
    ensure_segment_tables(engine)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or {"person_id", "value"} - set(reader.fieldnames):
            raise JingyunError("bad_csv", f"{path} needs the columns person_id,value", "file")
        rows = [(r["person_id"].strip(), r["value"].strip()) for r in reader if r.get("person_id", "").strip()]
    batch = pa.table({"person_id": [r[0] for r in rows], "value": [r[1] for r in rows]})
    stamp = now_utc()
    with wh.transaction() as con:
        con.execute("DELETE FROM user_tags WHERE tag = ?", [tag])
        con.register("_tag_batch", batch)
        try:
            con.execute("INSERT INTO user_tags SELECT person_id, ?, value, ? FROM _tag_batch", [tag, stamp])
        finally:
            con.unregister("_tag_batch")
    return len(rows)


def person_tags(source: Source, person_id: str) -> dict[str, str]:
    engine = engine_of(source)
    require(engine, "derived_tables")
    if not engine.has_table("user_tags"):
        return {}
    return {str(t): str(v) for t, v in engine.rows(
        f"SELECT tag, value FROM user_tags WHERE person_id = {quote(person_id)} ORDER BY tag")}
