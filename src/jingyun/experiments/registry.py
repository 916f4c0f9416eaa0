"""Experiment and flag definitions, in the metadata store (tables ``experiments`` and ``flags``).

Experiments are created by ``jingyun exp create`` (or the library), not written
by hand, so they are state, not input: one row per experiment holding its
definition as JSON (the same dict ``experiment_to_dict`` prints), with the
status beside it for listing. The decision log (ship / rollback / iterate,
reason, time) lives in the experiment's own record. Creating a key is an
INSERT guarded by the primary key, so two processes creating the same key at
once get one experiment and one ``experiment_exists``.

Older workspaces kept one YAML file per experiment under
``$JINGYUN_HOME/experiments/`` (``flags/`` for flags); they are imported the
first time a process opens the registry and renamed ``*.yaml.imported``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

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
from jingyun.store.db import Store
from jingyun.store.models import ExperimentRow, FlagRow


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


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


def _store(settings: Settings) -> Store:
    from jingyun.store.shared import metadata_store

    store = metadata_store(settings)
    key = (str(store.engine.url), str(settings.home))
    if key not in _IMPORTED:
        with _IMPORT_LOCK:
            if key not in _IMPORTED:
                import_files(settings, store)
                _IMPORTED.add(key)
    return store


def _write(settings: Settings, e: Experiment, *, create: bool) -> None:
    text = json.dumps(experiment_to_dict(e), ensure_ascii=False, sort_keys=True)
    with _store(settings).session() as ses:
        row = None if create else ses.get(ExperimentRow, e.key)
        if row is None:
            ses.add(ExperimentRow(key=e.key, status=e.status, definition=text, created_at=e.created_at or _now(),
                                  updated_at=_now()))
            try:
                ses.flush()
            except IntegrityError:
                raise JingyunError("experiment_exists", f"experiment {e.key!r} already exists; pick another key", "key",
                                   status=409) from None
        else:
            row.status, row.definition, row.updated_at = e.status, text, _now()


def save_experiment(settings: Settings, e: Experiment) -> None:
    """Write an experiment (a new key is created, an existing one replaced)."""
    e.validate()
    check_key(e.key)
    _write(settings, e, create=False)


def get_experiment(settings: Settings, key: str) -> Experiment:
    with _store(settings).session() as ses:
        text = ses.scalar(select(ExperimentRow.definition).where(ExperimentRow.key == key))
    if text is None:
        raise JingyunError("unknown_experiment", f"no experiment {key!r}; see `jingyun exp list`", "key", status=404)
    return experiment_from_dict(json.loads(text))


def list_experiments(settings: Settings) -> list[Experiment]:
    with _store(settings).session() as ses:
        texts = ses.scalars(select(ExperimentRow.definition).order_by(ExperimentRow.key)).all()
    return [experiment_from_dict(json.loads(t)) for t in texts]


def create_experiment(
    settings: Settings, key: str, *, variations: Sequence[tuple[str, float]] = (("control", 0.5), ("treatment", 0.5)),
    overwrite: bool = False, **fields: Any,
) -> Experiment:
    check_key(key)
    if "targeting" in fields and not isinstance(fields["targeting"], Targeting):
        fields["targeting"] = Targeting.parse(fields["targeting"])
    status = fields.setdefault("status", "running")
    now = _now()
    fields.setdefault("created_at", now)
    if status == "running":
        fields.setdefault("start", now)
    e = Experiment(key=key, variations=tuple(Variation(n, float(w)) for n, w in variations), **fields).validate()
    _write(settings, e, create=not overwrite)
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
def _flag_dict(flag: Flag) -> dict[str, Any]:
    return {"key": flag.key, "rollout": flag.rollout, "enabled": flag.enabled,
            "targeting": flag.targeting.to_dict(), "seed": flag.seed}


def _flag(raw: Mapping[str, Any]) -> Flag:
    return Flag(str(raw["key"]), float(raw.get("rollout", 0)), bool(raw.get("enabled", True)),
                Targeting.parse(raw.get("targeting")), str(raw.get("seed") or "")).validate()


def save_flag(settings: Settings, flag: Flag) -> Flag:
    flag.validate()
    check_key(flag.key)
    text = json.dumps(_flag_dict(flag), ensure_ascii=False, sort_keys=True)
    for attempt in range(3):  # create-or-replace; a concurrent first save of the same key is retried as an update
        try:
            with _store(settings).session() as ses:
                row = ses.get(FlagRow, flag.key)
                if row is None:
                    ses.add(FlagRow(key=flag.key, definition=text, updated_at=_now()))
                else:
                    row.definition, row.updated_at = text, _now()
            return flag
        except IntegrityError:
            if attempt == 2:
                raise
    return flag  # pragma: no cover


def get_flag(settings: Settings, key: str) -> Flag:
    with _store(settings).session() as ses:
        text = ses.scalar(select(FlagRow.definition).where(FlagRow.key == key))
    if text is None:
        raise JingyunError("unknown_flag", f"no flag {key!r}", "key", status=404)
    return _flag(json.loads(text))


# -- the YAML files of older workspaces, imported once -----------------------------
_IMPORTED: set[tuple[str, str]] = set()
_IMPORT_LOCK = threading.Lock()


def _imported(path: Path) -> None:
    if path.exists():
        target = path.with_name(path.name + ".imported")
        path.rename(target if not target.exists() else path.with_name(f"{path.name}.imported.{_now():%Y%m%d%H%M%S}"))


def import_files(settings: Settings, store: Store) -> dict[str, int]:
    """Import ``experiments/*.yaml`` and ``experiments/flags/*.yaml`` into the store, then rename each
    ``*.yaml.imported``. A key already in the store keeps its row (so a second run imports nothing)."""
    folder = settings.home / "experiments"
    out = {"experiments": 0, "flags": 0}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        e = experiment_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        with store.session() as ses:
            if ses.get(ExperimentRow, e.key) is None:
                ses.add(ExperimentRow(key=e.key, status=e.status, created_at=e.created_at or _now(), updated_at=_now(),
                                      definition=json.dumps(experiment_to_dict(e), ensure_ascii=False, sort_keys=True)))
                out["experiments"] += 1
        _imported(path)
    flags = folder / "flags"
    for path in sorted(flags.glob("*.yaml")) if flags.is_dir() else []:
        flag = _flag(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        with store.session() as ses:
            if ses.get(FlagRow, flag.key) is None:
                ses.add(FlagRow(key=flag.key, updated_at=_now(),
                                definition=json.dumps(_flag_dict(flag), ensure_ascii=False, sort_keys=True)))
                out["flags"] += 1
        _imported(path)
    return out
