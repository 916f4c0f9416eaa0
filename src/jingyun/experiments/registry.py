"""Experiment and flag definitions, stored as YAML under ``$JINGYUN_HOME/experiments/``.

One file per experiment (``<key>.yaml``) and per flag (``flags/<key>.yaml``)
until the metadata store exists; the files are human-readable so a reviewer can
diff a definition. The decision log (ship / rollback / iterate, reason, time)
lives in the experiment's own record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.experiments.definition import (
    DECISIONS,
    Decision,
    Experiment,
    Flag,
    Targeting,
    Variation,
    check_key,
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _dir(settings: Settings) -> Path:
    return settings.home / "experiments"


def _ts(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise JingyunError("bad_time", f"cannot read time {value!r}; use ISO form 2026-06-01T00:00:00", "time") from None


def experiment_to_dict(e: Experiment) -> dict[str, Any]:
    def iso(t: dt.datetime | None) -> str | None:
        return t.isoformat() if t else None

    return {
        "key": e.key, "name": e.name, "hypothesis": e.hypothesis, "status": e.status,
        "variations": [{"name": v.name, "weight": v.weight} for v in e.variations],
        "traffic": e.traffic, "targeting": e.targeting.to_dict(),
        "primary_metric": e.primary_metric, "secondary_metrics": list(e.secondary_metrics),
        "guardrail_metrics": list(e.guardrail_metrics), "conversion_event": e.conversion_event,
        "window_days": e.window_days, "seed": e.seed,
        "start": iso(e.start), "stop": iso(e.stop), "created_at": iso(e.created_at),
        "decisions": [{"decision": d.decision, "reason": d.reason, "at": d.at.isoformat(), "by": d.by} for d in e.decisions],
    }


def experiment_from_dict(raw: Mapping[str, Any]) -> Experiment:
    try:
        variations = tuple(Variation(str(v["name"]), float(v["weight"])) for v in raw.get("variations") or [])
        return Experiment(
            key=str(raw["key"]), name=str(raw.get("name") or ""), hypothesis=str(raw.get("hypothesis") or ""),
            status=str(raw.get("status") or "running"),
            variations=variations or (Variation("control", 0.5), Variation("treatment", 0.5)),
            traffic=float(raw.get("traffic", 1.0)), targeting=Targeting.parse(raw.get("targeting")),
            primary_metric=str(raw.get("primary_metric") or "conversion"),
            secondary_metrics=tuple(raw.get("secondary_metrics") or ()),
            guardrail_metrics=tuple(raw.get("guardrail_metrics") or ()),
            conversion_event=str(raw.get("conversion_event") or "pay"),
            window_days=int(raw.get("window_days", 7)), seed=str(raw.get("seed") or ""),
            start=_ts(raw.get("start")), stop=_ts(raw.get("stop")), created_at=_ts(raw.get("created_at")),
            decisions=tuple(
                Decision(str(d["decision"]), str(d.get("reason") or ""), _ts(d["at"]) or _now(), str(d.get("by") or ""))
                for d in raw.get("decisions") or []
            ),
        ).validate()
    except (KeyError, TypeError, ValueError) as exc:
        raise JingyunError("bad_experiment", f"cannot read experiment definition: {exc}", "experiment") from None


def _path(settings: Settings, key: str) -> Path:
    return _dir(settings) / f"{check_key(key)}.yaml"


def save_experiment(settings: Settings, e: Experiment) -> Path:
    e.validate()
    path = _path(settings, e.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(experiment_to_dict(e), allow_unicode=True, sort_keys=False), encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves half a definition
    return path


def get_experiment(settings: Settings, key: str) -> Experiment:
    path = _path(settings, key)
    if not path.exists():
        raise JingyunError("unknown_experiment", f"no experiment {key!r}; see `jingyun exp list`", "key", status=404)
    return experiment_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def list_experiments(settings: Settings) -> list[Experiment]:
    folder = _dir(settings)
    if not folder.exists():
        return []
    return [get_experiment(settings, p.stem) for p in sorted(folder.glob("*.yaml"))]


def create_experiment(
    settings: Settings, key: str, *, variations: Sequence[tuple[str, float]] = (("control", 0.5), ("treatment", 0.5)),
    overwrite: bool = False, **fields: Any,
) -> Experiment:
    if _path(settings, key).exists() and not overwrite:
        raise JingyunError("experiment_exists", f"experiment {key!r} already exists; pick another key", "key", status=409)
    if "targeting" in fields and not isinstance(fields["targeting"], Targeting):
        fields["targeting"] = Targeting.parse(fields["targeting"])
    status = fields.setdefault("status", "running")
    now = _now()
    fields.setdefault("created_at", now)
    if status == "running":
        fields.setdefault("start", now)
    e = Experiment(key=key, variations=tuple(Variation(n, float(w)) for n, w in variations), **fields).validate()
    save_experiment(settings, e)
    return e


def stop_experiment(settings: Settings, key: str, at: dt.datetime | None = None) -> Experiment:
    e = get_experiment(settings, key)
    if e.status == "concluded":
        raise JingyunError("already_concluded", f"experiment {key!r} is already concluded", "key", status=409)
    e = replace(e, status="stopped", stop=at or e.stop or _now())
    save_experiment(settings, e)
    return e


def conclude_experiment(
    settings: Settings, key: str, decision: str, reason: str, *, by: str = "", at: dt.datetime | None = None
) -> Experiment:
    """Record the decision in the experiment's log and close it."""
    if decision not in DECISIONS:
        raise JingyunError("bad_decision", f"decision must be one of {', '.join(DECISIONS)}", "decision")
    if not reason.strip():
        raise JingyunError("bad_reason", "give the reason for the decision (--reason)", "reason")
    e = get_experiment(settings, key)
    when = at or _now()
    e = replace(
        e, status="concluded", stop=e.stop or when,
        decisions=(*e.decisions, Decision(decision, reason.strip(), when, by)),
    )
    save_experiment(settings, e)
    return e


# -- flags ------------------------------------------------------------------
def _flag_path(settings: Settings, key: str) -> Path:
    return _dir(settings) / "flags" / f"{check_key(key)}.yaml"


def save_flag(settings: Settings, flag: Flag) -> Flag:
    flag.validate()
    path = _flag_path(settings, flag.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = {"key": flag.key, "rollout": flag.rollout, "enabled": flag.enabled,
           "targeting": flag.targeting.to_dict(), "seed": flag.seed}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return flag


def get_flag(settings: Settings, key: str) -> Flag:
    path = _flag_path(settings, key)
    if not path.exists():
        raise JingyunError("unknown_flag", f"no flag {key!r}", "key", status=404)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return Flag(str(raw["key"]), float(raw.get("rollout", 0)), bool(raw.get("enabled", True)),
                Targeting.parse(raw.get("targeting")), str(raw.get("seed") or "")).validate()
