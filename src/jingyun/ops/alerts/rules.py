"""Alert rules (预警规则), read from YAML once into typed rules.

::

    channels: {webhook: ops-hook}   # optional: also post every alert to this messaging endpoint (by name)
    rules:
      - id: gmv-mom                 # unique; letters, digits, - _ .
        kind: change                # threshold | change | consecutive | anomaly | stop_loss
        metric: gmv                 # any metric of the dictionary (`jingyun metrics list`)
        period: month               # day | week | month: complete periods, judged on their last day
        compare: previous           # previous (period) | year (the same period a year earlier)
        yellow: 10%                 # a move the bad way of 10 % or more is yellow ...
        red: 20%                    # ... 20 % or more red (the metric's direction says which way is bad)
        department: 交易运营          # whose light it is (default: the metric's owner)
        owner: alice                # the console user who owns the metric (green/blue alerts go here)
      - {id: cac-stop, kind: stop_loss, metric: cac, op: ">", value: 25, period: month, plan: 紧急预案}
      - {id: gmv-target-3m, kind: consecutive, target: gmv, periods: 3, period: month, level: yellow}
      - {id: approval-timeouts, kind: consecutive, source: approvals.timeout_rate, op: ">", value: 10%, periods: 3}
      - {id: gmv-anomaly, kind: anomaly, metric: gmv, level: yellow}

A rule on ``target:`` (a KPI target id of kpi_targets.yaml) measures attainment, actual / target
(target / actual for a lower-is-better target), so ``value: 80%`` means "below 80 % of target";
a consecutive rule on a target defaults to "below target" (attainment < 100 %).
Comparisons are inclusive where the playbooks say "or more" (a drop of exactly 10 % is yellow).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from jingyun.config import Settings
from jingyun.errors import JingyunError, yaml_problem
from jingyun.metrics.kpi import TargetSet
from jingyun.metrics.model import Dictionary

Kind = Literal["threshold", "change", "consecutive", "anomaly", "stop_loss"]
Level = Literal["green", "blue", "yellow", "red"]
PeriodKind = Literal["day", "week", "month"]
KINDS: tuple[str, ...] = ("threshold", "change", "consecutive", "anomaly", "stop_loss")
LEVELS: tuple[str, ...] = ("green", "blue", "yellow", "red")
SEVERITY = {"green": 0, "blue": 1, "yellow": 2, "red": 3}
OPS: tuple[str, ...] = (">", ">=", "<", "<=")
SOURCES: tuple[str, ...] = ("approvals.timeout_rate",)
RULES_FILE = "alert_rules.yaml"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_KEYS = {"id", "kind", "metric", "target", "source", "period", "compare", "yellow", "red", "blue", "op", "value",
         "level", "periods", "plan", "department", "owner", "direction", "by", "threshold", "lookback", "name",
         "playbook", "incident_level", "enabled"}


@dataclass(frozen=True)
class Rule:
    id: str
    kind: Kind
    subject: str  # the metric, target id or source the rule watches
    metric: str  # the dictionary metric behind it (for a source: the source name)
    period: PeriodKind = "day"
    target: str | None = None
    source: str | None = None
    compare: Literal["previous", "year"] = "previous"
    yellow: float = 0.10
    red: float = 0.20
    blue: float | None = None
    op: str = "<"
    value: float | None = None
    level: Level = "yellow"
    periods: int = 3
    plan: str | None = None
    department: str = ""
    owner: str | None = None
    direction: Literal["higher", "lower"] = "higher"  # which way is good
    by: str = "channel"  # the diagnosis breakdown
    threshold: float = 3.5  # anomaly: robust z
    lookback: int = 120  # anomaly: days of history fitted
    name: str = ""
    playbook: str | None = None  # a red alert opens an incident from this playbook (jingyun.incidents)
    incident_level: int | None = None  # None: the playbook's level for the alert's colour, else 2
    enabled: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    webhook: str | None = None
    origin: str = ""

    def get(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise JingyunError("unknown_rule", f"no alert rule {rule_id!r}; see `jingyun alerts rules`", "rule", status=404)


def _fail(origin: str, path: str, message: str) -> JingyunError:
    return JingyunError("bad_alert_rule", f"{origin}: {path}: {message}", path)


def _fraction(origin: str, value: Any, path: str) -> float:
    """``10%`` → 0.1; a plain number is taken as written (``0.1``, or ``25`` yuan)."""
    text = str(value).strip()
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise _fail(origin, path, f"must be a number or a percentage such as 10%, got {value!r}") from None


def _choice(origin: str, item: dict[str, Any], key: str, path: str, choices: tuple[str, ...], default: str) -> str:
    value = str(item.get(key, default)).strip()
    if value not in choices:
        raise _fail(origin, f"{path}.{key}", f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _rule(origin: str, item: Any, i: int, d: Dictionary, targets: TargetSet | None) -> Rule:
    path = f"rules[{i}]"
    if not isinstance(item, dict):
        raise _fail(origin, path, "must be a mapping")
    for key in item:
        if key not in _KEYS:
            raise _fail(origin, f"{path}.{key}", f"unknown field; allowed: {', '.join(sorted(_KEYS))}")
    rid = str(item.get("id", "")).strip()
    if not _ID.match(rid):
        raise _fail(origin, f"{path}.id", "is required: 1-100 letters, digits, - _ . (starting with a letter or digit)")
    kind = _choice(origin, item, "kind", path, KINDS, "threshold")
    named = [k for k in ("metric", "target", "source") if item.get(k)]
    if len(named) != 1:
        raise _fail(origin, f"{path}.metric", "name exactly one of metric, target or source")
    period = _choice(origin, item, "period", path, ("day", "week", "month"), "day")
    target = source = None
    if "target" in named:
        target = str(item["target"])
        known = {t.id: t for t in targets.targets} if targets else {}
        if target not in known:
            raise _fail(origin, f"{path}.target", f"no KPI target {target!r}; ids: {', '.join(sorted(known)) or 'none'}")
        metric = known[target].metric
        direction = "higher"  # attainment: higher is better whatever the metric
    elif "source" in named:
        source = str(item["source"])
        if source not in SOURCES:
            raise _fail(origin, f"{path}.source", f"must be one of {', '.join(SOURCES)}")
        metric, direction = source, "lower"
    else:
        metric = str(item["metric"])
        if metric not in d.metrics:
            raise _fail(origin, f"{path}.metric", f"unknown metric {metric!r}; see `jingyun metrics list`")
        direction = d.metrics[metric].direction
    direction = _choice(origin, item, "direction", path, ("higher", "lower"), direction)
    if kind == "anomaly":
        from jingyun.analysis.anomaly import SERIES

        if metric not in SERIES or target or source:
            raise _fail(origin, f"{path}.metric", f"the anomaly detector watches {', '.join(SERIES)}")
    if kind == "change" and source:
        raise _fail(origin, f"{path}.kind", "a change rule needs a metric or a target")
    value = _fraction(origin, item["value"], f"{path}.value") if "value" in item else None
    if kind in ("threshold", "stop_loss") and value is None:
        raise _fail(origin, f"{path}.value", "is required: the line to compare with, e.g. 25 or 12%")
    if kind == "consecutive" and value is None and not target:
        raise _fail(origin, f"{path}.value", "is required (or watch a target: below target N periods in a row)")
    default_op = "<" if direction == "higher" else ">"
    op = _choice(origin, item, "op", path, OPS, default_op)
    yellow = _fraction(origin, item.get("yellow", "10%"), f"{path}.yellow")
    red = _fraction(origin, item.get("red", "20%"), f"{path}.red")
    blue = _fraction(origin, item["blue"], f"{path}.blue") if "blue" in item else None
    if kind == "change" and not 0 < yellow <= red:
        raise _fail(origin, f"{path}.red", "need 0 < yellow ≤ red (fractions of the previous value)")
    if kind == "change" and blue is not None and not 0 < blue < yellow:
        raise _fail(origin, f"{path}.blue", "need 0 < blue < yellow")
    periods_n = item.get("periods", 3)
    if not isinstance(periods_n, int) or not 1 <= periods_n <= 60:
        raise _fail(origin, f"{path}.periods", "must be a whole number from 1 to 60")
    if kind == "stop_loss" and not str(item.get("plan", "")).strip():
        raise _fail(origin, f"{path}.plan", "a stop-loss line names its response plan, e.g. 紧急预案 emergency plan")
    level = _choice(origin, item, "level", path, LEVELS, "red" if kind == "stop_loss" else "yellow")
    incident_level = item.get("incident_level")
    if incident_level is not None and incident_level not in (1, 2, 3):
        raise _fail(origin, f"{path}.incident_level", "must be 1, 2 or 3 (24/48/72 h)")
    department = str(item.get("department") or (d.metrics[metric].owner if metric in d.metrics else "")).strip()
    return Rule(
        id=rid, kind=kind, subject=target or source or metric, metric=metric,  # type: ignore[arg-type]
        period=period, target=target, source=source,  # type: ignore[arg-type]
        compare=_choice(origin, item, "compare", path, ("previous", "year"), "previous"),  # type: ignore[arg-type]
        yellow=yellow, red=red, blue=blue, op=op, value=value, level=level,  # type: ignore[arg-type]
        periods=periods_n, plan=str(item["plan"]).strip() if item.get("plan") else None,
        department=department, owner=str(item["owner"]).strip() if item.get("owner") else None,
        direction=direction, by=str(item.get("by", "channel")),  # type: ignore[arg-type]
        threshold=_fraction(origin, item.get("threshold", 3.5), f"{path}.threshold"),
        lookback=int(item.get("lookback", 120)), name=str(item.get("name", "")),
        playbook=_playbook(origin, item.get("playbook"), f"{path}.playbook"), incident_level=incident_level,
        enabled=bool(item.get("enabled", True)),
    )


def _playbook(origin: str, value: Any, path: str) -> str | None:
    if value is None:
        return None
    import importlib

    try:
        known = importlib.import_module("jingyun.incidents").library()
    except (ImportError, AttributeError):
        return str(value)  # the incident library is not installed: checked when the incident opens
    if str(value) not in known:
        raise _fail(origin, path, f"no incident playbook {value!r}; playbooks: {', '.join(sorted(known))}")
    return str(value)


def parse_rules(data: Any, d: Dictionary, targets: TargetSet | None, origin: str = "<rules>") -> RuleSet:
    if data is None:
        return RuleSet((), None, origin)
    if not isinstance(data, dict):
        raise _fail(origin, "rules", "the top level must be a mapping with rules: [...]")
    items = data.get("rules") or []
    if not isinstance(items, list):
        raise _fail(origin, "rules", "must be a list")
    rules = [_rule(origin, item, i, d, targets) for i, item in enumerate(items)]
    seen: set[str] = set()
    for i, r in enumerate(rules):
        if r.id in seen:
            raise _fail(origin, f"rules[{i}].id", f"{r.id!r} is used twice")
        seen.add(r.id)
    channels = data.get("channels") or {}
    webhook = channels.get("webhook") if isinstance(channels, dict) else None
    if webhook is not None and not str(webhook).strip():
        raise _fail(origin, "channels.webhook", "name a messaging webhook endpoint (see docs/messaging.md)")
    return RuleSet(tuple(rules), str(webhook) if webhook else None, origin)


def rules_path(settings: Settings) -> Path:
    return settings.home / RULES_FILE


def load_rules(settings: Settings, d: Dictionary, targets: TargetSet | None, path: Path | None = None) -> RuleSet:
    """The workspace's rules (none when the file does not exist yet)."""
    path = path or rules_path(settings)
    if not path.exists():
        return RuleSet((), None, str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JingyunError("bad_alert_rule", f"cannot read {path}: {exc.strerror}", "rules") from None
    except yaml.YAMLError as exc:
        raise JingyunError("bad_alert_rule", f"{path}: not valid YAML: {yaml_problem(exc)}", "rules") from None
    return parse_rules(data, d, targets, str(path))
