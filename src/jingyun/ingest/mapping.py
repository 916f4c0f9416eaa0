"""Source mappings: rename and convert a source's columns to the canonical ones.

A mapping is YAML::

    columns:
      用户编号: user_id                       # rename
      金额(分): {to: amount, scale: 0.01}     # rename + multiply
      下单时间: {to: ts, format: "%Y/%m/%d %H:%M", timezone: Asia/Shanghai}
      渠道: {to: channel, values: {抖音: short_video, 门店: store}}   # recode values
    constants:
      platform: pos                           # a column the source lacks
    timezone: Asia/Shanghai                   # for naive timestamps of this source

Source columns the mapping does not name keep their names: canonical ones are
used as they are, the rest land in the table's JSON extras column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from jingyun.errors import JingyunError, yaml_problem
from jingyun.schema.tables import Table


@dataclass(frozen=True)
class ColumnRule:
    source: str
    to: str
    scale: float | None = None
    format: str | None = None
    timezone: str | None = None
    values: dict[str, str] = field(default_factory=dict)


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
        extra = set(spec) - {"to", "scale", "format", "timezone", "values"}
        if extra:
            raise JingyunError("bad_mapping", f"unknown keys {sorted(extra)}", where)
        scale = spec.get("scale")
        if scale is not None and not isinstance(scale, int | float):
            raise JingyunError("bad_mapping", "scale must be a number", f"{where}.scale")
        values = spec.get("values") or {}
        if not isinstance(values, dict):
            raise JingyunError("bad_mapping", "values must map source values to canonical ones", f"{where}.values")
        rules[str(source)] = ColumnRule(
            str(source), str(spec["to"]),
            float(scale) if scale is not None else None,
            str(spec["format"]) if spec.get("format") else None,
            _check_tz(spec["timezone"], f"{where}.timezone") if spec.get("timezone") else None,
            {str(k): str(v) for k, v in values.items()},
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
