"""Approval workflows: the shipped defaults (``workflows.yaml``) or ``$JINGYUN_HOME/approvals.yaml``, parsed once
into typed tiers. Input, not state: edited by hand, validated with the field at fault named."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml

from jingyun.approvals.money import parse_amount
from jingyun.config import Settings
from jingyun.errors import JingyunError, yaml_problem

DEFAULTS = Path(__file__).with_name("workflows.yaml")
Clock = Literal["calendar", "business"]
_SPEC = re.compile(r"^(general_manager|superior|person:[^\s]{1,100}|[A-Za-z0-9_-]{1,100}\.(manager|director))$")


@dataclass(frozen=True)
class Tier:
    lower: Decimal
    inclusive: bool  # from (inclusive) or above (exclusive)
    stages: tuple[tuple[str, ...], ...]

    def applies(self, amount: Decimal) -> bool:
        return amount >= self.lower if self.inclusive else amount > self.lower


@dataclass(frozen=True)
class Workflow:
    type: str
    zh: str
    en: str
    tiers: tuple[Tier, ...]

    def tier_for(self, amount: Decimal) -> tuple[int, Tier]:
        """The highest tier whose lower bound the amount reaches (tiers are ordered by their bounds)."""
        chosen = 0
        for i, tier in enumerate(self.tiers):
            if tier.applies(amount):
                chosen = i
        return chosen, self.tiers[chosen]


@dataclass(frozen=True)
class Workflows:
    types: dict[str, Workflow]
    after_hours: float = 24.0
    clock: Clock = "calendar"
    source: str = "default"

    def workflow(self, type: str) -> Workflow:
        if type not in self.types:
            raise JingyunError("unknown_type", f"no approval workflow for type {type!r}; types: "
                               f"{', '.join(sorted(self.types))}", "type", status=422)
        return self.types[type]


def workflows_path(settings: Settings) -> Path:
    return settings.home / "approvals.yaml"


def load_workflows(settings: Settings | None = None) -> Workflows:
    """The workspace's workflows when it has ``approvals.yaml``, else the shipped defaults."""
    path = workflows_path(settings) if settings is not None else None
    if path is not None and path.exists():
        return parse_workflows(path.read_text(encoding="utf-8"), path.name)
    return parse_workflows(DEFAULTS.read_text(encoding="utf-8"), "default")


def parse_workflows(text: str, source: str) -> Workflows:
    def bad(message: str, field: str) -> JingyunError:
        return JingyunError("bad_workflows", f"{source}: {message}", field, status=422)

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise bad(f"not valid YAML ({yaml_problem(exc)})", "approvals") from None
    if not isinstance(data, dict) or not isinstance(data.get("types"), dict) or not data["types"]:
        raise bad("needs a mapping under 'types' (marketing, pricing, budget, journey, ...)", "types")
    esc = data.get("escalation") or {}
    if not isinstance(esc, dict) or set(esc) - {"after_hours", "clock"}:
        raise bad("escalation takes after_hours and clock", "escalation")
    after = esc.get("after_hours", 24)
    if isinstance(after, bool) or not isinstance(after, int | float) or not 0 < after <= 24 * 30:
        raise bad("after_hours must be a number of hours from 1 minute to 30 days", "escalation.after_hours")
    clock = esc.get("clock", "calendar")
    if clock not in ("calendar", "business"):
        raise bad("clock must be 'calendar' or 'business'", "escalation.clock")
    types: dict[str, Workflow] = {}
    for name, raw in data["types"].items():
        where = f"types.{name}"
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,29}", name):
            raise bad("a type name is 1-30 lowercase letters, digits or '_'", where)
        if not isinstance(raw, dict) or not isinstance(raw.get("tiers"), list) or not raw["tiers"]:
            raise bad("needs a list of tiers", f"{where}.tiers")
        tiers: list[Tier] = []
        for i, t in enumerate(raw["tiers"]):
            tw = f"{where}.tiers[{i}]"
            if not isinstance(t, dict) or set(t) - {"from", "above", "stages", "name"}:
                raise bad("a tier has stages and, after the first, from or above", tw)
            if i == 0 and ("from" in t or "above" in t):
                raise bad("the first tier applies from 0: give it no from/above", tw)
            if i > 0 and ("from" in t) == ("above" in t):
                raise bad("give exactly one of from (inclusive) or above (exclusive)", tw)
            key = "from" if "from" in t else "above"
            lower = parse_amount(t[key], f"{tw}.{key}") if i > 0 else Decimal("0.00")
            if tiers and (lower, key == "above") <= (tiers[-1].lower, not tiers[-1].inclusive):
                raise bad("tiers must be in increasing order of their bounds", tw)
            stages = t.get("stages")
            if not isinstance(stages, list) or not stages:
                raise bad("stages is a list of stages, each a list of approvers", f"{tw}.stages")
            parsed: list[tuple[str, ...]] = []
            for j, stage in enumerate(stages):
                sw = f"{tw}.stages[{j}]"
                if isinstance(stage, str):
                    stage = [stage]
                if not isinstance(stage, list) or not stage:
                    raise bad("a stage is a list of approvers who co-sign", sw)
                for k, spec in enumerate(stage):
                    if not isinstance(spec, str) or not _SPEC.match(spec):
                        raise bad(f"{spec!r} is not an approver (department.manager, department.director, "
                                  "general_manager, superior or person:<username>)", f"{sw}[{k}]")
                if len(set(stage)) != len(stage):
                    raise bad("an approver appears twice in one stage", sw)
                parsed.append(tuple(stage))
            tiers.append(Tier(lower, i == 0 or key == "from", tuple(parsed)))
        types[name] = Workflow(name, str(raw.get("zh", name)), str(raw.get("en", name)), tuple(tiers))
    return Workflows(types, float(after), clock, source)
