"""Source mappings: rename and convert a source's columns to the canonical ones.

A mapping is YAML::

    columns:
      用户编号: user_id                       # rename
      金额(分): {to: amount, scale: 0.01}     # rename + multiply
      下单时间: {to: ts, format: "%Y/%m/%d %H:%M", timezone: Asia/Shanghai}
      渠道: {to: channel, values: {抖音: short_video, 门店: store}}   # recode values
      性别: {to: gender, convert: gender}      # 男/女/男性/女士/保密… → male/female/unknown
      实付金额: {to: amount, convert: amount}  # ¥1,234.50 / 1234.5元 / ¥1.2万 → 12000.00
      下单日期: {to: ts, convert: datetime}    # 2026年10月1日 9:00, 2026/10/1 9:00, Excel serial 46296.375
    constants:
      platform: pos                           # a column the source lacks
    timezone: Asia/Shanghai                   # for naive timestamps of this source

Source columns the mapping does not name keep their names: canonical ones are
used as they are, the rest land in the table's JSON extras column.

Conversions (``convert:``) turn the formats Chinese exports use into canonical text
before the column's own type check, in SQL over the whole chunk. A value a conversion
cannot read stays as it was, so the column's check quarantines the row with its line
and field (``bad_timestamp:ts``, ``wrong_type:amount``, ``unknown_enum:gender``):
nothing is dropped. Times read by ``datetime`` are wall-clock times in the column's
``timezone``, else the mapping's, else the workspace's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from jingyun.errors import JingyunError, yaml_problem
from jingyun.schema.tables import Table
from jingyun.warehouse.sqltext import quote

CONVERSIONS = {"gender": ("enum",), "amount": ("money", "number", "int"), "datetime": ("ts", "date")}
GENDER_WORDS = {
    "male": ("男", "男性", "男士", "先生", "m", "male", "man", "1"),
    "female": ("女", "女性", "女士", "小姐", "f", "female", "woman", "2"),
    "unknown": ("未知", "保密", "不详", "未填", "其他", "u", "unknown", "0"),
}
# 2026年10月1日 [上午|下午] 9:00[:05] / 9时30分 / 2026/10/1 9:00 / 2026-10-1 / 2026.10.1
_ZH_DATETIME = (r"^(\d{4})\s*[年/.\-]\s*(\d{1,2})\s*[月/.\-]\s*(\d{1,2})\s*[日号]?\s*"
                r"(?:[T ]?\s*(上午|下午|晚上|中午|凌晨|早上)?\s*(\d{1,2})\s*[:：时点]\s*(\d{1,2})?\s*"
                r"(?:[:：分]\s*(\d{1,2}(?:\.\d+)?)?\s*秒?)?)?$")


@dataclass(frozen=True)
class ColumnRule:
    source: str
    to: str
    scale: float | None = None
    format: str | None = None
    timezone: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    convert: str | None = None  # gender | amount | datetime (see CONVERSIONS)

    def convert_sql(self, text: str, kind: str) -> str:
        """SQL turning the trimmed text ``text`` into what the column's type check reads."""
        return conversion_sql(self.convert, text, kind) if self.convert else text


def conversion_sql(convert: str, s: str, kind: str) -> str:
    if convert == "gender":
        cases = " ".join(f"WHEN {quote(word)} THEN {quote(canon)}" for canon, words in GENDER_WORDS.items() for word in words)
        return f"coalesce(CASE lower({s}) {cases} END, {s})"
    if convert == "amount":
        cleaned = f"regexp_replace({s}, '[,，\\s¥￥]|^(RMB|CNY|人民币)|[元圆]$', '', 'g')"
        scaled = " ".join(
            f"WHEN ends_with({cleaned}, '{unit}') THEN CAST(TRY_CAST(rtrim({cleaned}, '{unit}') AS DECIMAL(24,8)) * {factor} AS VARCHAR)"
            for unit, factor in (("亿", 100_000_000), ("万", 10_000)))
        return f"CASE {scaled} ELSE {cleaned} END"
    if convert == "datetime":
        out = "%Y-%m-%d" if kind == "date" else "%Y-%m-%d %H:%M:%S.%f"
        # an Excel serial: days since 1899-12-30 (Excel's 1900 leap-year bug is before its day 61)
        serial = f"TIMESTAMP '1899-12-30' + to_microseconds(CAST(round(TRY_CAST({s} AS DOUBLE) * 86400000000) AS BIGINT))"
        g = f"regexp_extract({s}, {quote(_ZH_DATETIME)}, ['y', 'mo', 'd', 'ap', 'h', 'mi', 'sec'])"
        hour = f"coalesce(TRY_CAST(NULLIF({g}.h, '') AS BIGINT), 0)"
        hour = f"CASE WHEN {g}.ap IN ('下午', '晚上') AND {hour} < 12 THEN {hour} + 12 WHEN {g}.ap = '中午' AND {hour} < 11 THEN {hour} + 12 ELSE {hour} END"
        made = (f"TRY(make_timestamp(CAST({g}.y AS BIGINT), CAST({g}.mo AS BIGINT), CAST({g}.d AS BIGINT), {hour}, "
                f"coalesce(TRY_CAST(NULLIF({g}.mi, '') AS BIGINT), 0), coalesce(TRY_CAST(NULLIF({g}.sec, '') AS DOUBLE), 0)))")
        return (f"CASE WHEN regexp_full_match({s}, '\\d{{1,5}}(\\.\\d+)?') THEN strftime({serial}, '{out}') "
                f"WHEN regexp_matches({s}, {quote(_ZH_DATETIME)}) THEN coalesce(strftime({made}, '{out}'), {s}) "
                f"ELSE {s} END")
    raise AssertionError(convert)


@dataclass(frozen=True)
class Mapping:
    rules: dict[str, ColumnRule] = field(default_factory=dict)  # keyed by source column
    constants: dict[str, Any] = field(default_factory=dict)
    timezone: str | None = None

    def target_of(self, source_column: str) -> str:
        rule = self.rules.get(source_column)
        return rule.to if rule else source_column

    def rule_for_target(self, target: str) -> ColumnRule | None:
        for rule in self.rules.values():
            if rule.to == target:
                return rule
        return None

    def to_dict(self) -> dict[str, Any]:
        """The YAML form, so a quarantined record can be replayed through the same mapping."""
        columns: dict[str, Any] = {}
        for source, rule in self.rules.items():
            spec: dict[str, Any] = {"to": rule.to}
            if rule.scale is not None:
                spec["scale"] = rule.scale
            if rule.format:
                spec["format"] = rule.format
            if rule.timezone:
                spec["timezone"] = rule.timezone
            if rule.values:
                spec["values"] = rule.values
            if rule.convert:
                spec["convert"] = rule.convert
            columns[source] = spec
        out: dict[str, Any] = {"columns": columns, "constants": self.constants}
        if self.timezone:
            out["timezone"] = self.timezone
        return out

    def check_against(self, table: Table) -> None:
        names = set(table.column_names)
        for rule in self.rules.values():
            if rule.to not in names:
                raise JingyunError(
                    "bad_mapping", f"mapping sends {rule.source!r} to {rule.to!r}, which {table.name} does not have",
                    f"columns.{rule.source}",
                )
        for name in self.constants:
            if name not in names:
                raise JingyunError("bad_mapping", f"constant for unknown column {name!r} of {table.name}", f"constants.{name}")
        targets = [r.to for r in self.rules.values()]
        kinds = {c.name: c.kind for c in table.columns}
        for rule in self.rules.values():
            if rule.convert and kinds.get(rule.to) not in CONVERSIONS[rule.convert]:
                raise JingyunError(
                    "bad_mapping", f"convert: {rule.convert} does not apply to {table.name}.{rule.to} "
                    f"(a {kinds.get(rule.to)} column)", f"columns.{rule.source}.convert")
        dupes = {t for t in targets if targets.count(t) > 1}
        if dupes:
            raise JingyunError("bad_mapping", f"several source columns map to {sorted(dupes)}", "columns")


def _check_tz(value: Any, where: str) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise JingyunError("bad_mapping", f"unknown time zone {value!r}", where) from None
    return str(value)


def parse_mapping(data: Any) -> Mapping:
    if data is None:
        return Mapping()
    if not isinstance(data, dict):
        raise JingyunError("bad_mapping", "a mapping must be a YAML object with 'columns'", "mapping")
    unknown = set(data) - {"columns", "constants", "timezone"}
    if unknown:
        raise JingyunError("bad_mapping", f"unknown mapping keys {sorted(unknown)}", "mapping")
    rules: dict[str, ColumnRule] = {}
    for source, spec in (data.get("columns") or {}).items():
        where = f"columns.{source}"
        if isinstance(spec, str):
            rules[str(source)] = ColumnRule(str(source), spec)
            continue
        if not isinstance(spec, dict) or "to" not in spec:
            raise JingyunError("bad_mapping", "each column needs a target name or {to: ...}", where)
        extra = set(spec) - {"to", "scale", "format", "timezone", "values", "convert"}
        if extra:
            raise JingyunError("bad_mapping", f"unknown keys {sorted(extra)}", where)
        scale = spec.get("scale")
        if scale is not None and not isinstance(scale, int | float):
            raise JingyunError("bad_mapping", "scale must be a number", f"{where}.scale")
        values = spec.get("values") or {}
        if not isinstance(values, dict):
            raise JingyunError("bad_mapping", "values must map source values to canonical ones", f"{where}.values")
        convert = spec.get("convert")
        if convert is not None and convert not in CONVERSIONS:
            raise JingyunError("bad_mapping", f"unknown conversion {convert!r}; use {', '.join(CONVERSIONS)}",
                               f"{where}.convert")
        if convert and spec.get("format"):
            raise JingyunError("bad_mapping", "give either format or convert, not both", f"{where}.convert")
        rules[str(source)] = ColumnRule(
            str(source), str(spec["to"]),
            float(scale) if scale is not None else None,
            str(spec["format"]) if spec.get("format") else None,
            _check_tz(spec["timezone"], f"{where}.timezone") if spec.get("timezone") else None,
            {str(k): str(v) for k, v in values.items()},
            str(convert) if convert else None,
        )
    constants = data.get("constants") or {}
    if not isinstance(constants, dict):
        raise JingyunError("bad_mapping", "constants must be an object", "constants")
    tz = _check_tz(data["timezone"], "timezone") if data.get("timezone") else None
    return Mapping(rules, dict(constants), tz)


def load_mapping(path: Path | None) -> Mapping:
    if path is None:
        return Mapping()
    if not path.exists():
        raise JingyunError("no_file", f"no such mapping file: {path}", "mapping")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise JingyunError("bad_mapping", f"{path.name}: not valid YAML ({yaml_problem(exc)})", "mapping") from None
    return parse_mapping(data)
