"""Retention limited to what is necessary (PIPL Art. 19, 保存期限): per-table policies, run on the scheduler.

``$JINGYUN_HOME/retention.yaml``::

    policies:
      - {table: events, days: 365, action: delete}      # behaviour older than a year goes
      - {table: orders, days: 1095, action: anonymise}  # orders kept for the accounts, without the person

``delete`` removes the rows whose time column is before now − days. ``anonymise`` keeps them with
``user_id`` / ``person_id`` set to ``anonymised`` (one shared value, so nothing links rows to one
another), ``anonymous_id`` / ``session_id`` cleared, the person's sensitive columns and sealed copies
cleared, and ``attributes`` / ``properties`` emptied: counts and money totals stay. A dry run counts
exactly the rows a run would change, and both are recorded in ``privacy_retention_runs``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.localtime import local_iso
from jingyun.schema.tables import TABLES
from jingyun.store.db import Store
from jingyun.store.privacy import RetentionRun
from jingyun.warehouse.connection import Warehouse

FILE = "retention.yaml"
ANONYMISED = "anonymised"
# tables a policy may name, with the time column their age is read from
TIME_COLUMNS: dict[str, str] = {**{t.name: t.ts_column for t in TABLES.values() if t.ts_column},
                                "_quarantine": "received_at"}


class Policy(BaseModel):
    table: str
    days: int = Field(gt=0)
    action: Literal["delete", "anonymise"] = "delete"

    @field_validator("table")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in TIME_COLUMNS:
            raise ValueError(f"unknown table {v!r}; tables with a time column: {', '.join(sorted(TIME_COLUMNS))}")
        return v


@dataclass(frozen=True)
class RetentionResult:
    table: str
    action: str
    days: int
    cutoff: str  # local time with the workspace offset
    rows: int
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_policies(data: Any) -> list[Policy]:
    items = (data or {}).get("policies", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise JingyunError("bad_retention", "retention.yaml needs a list under `policies:`", "policies")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(Policy.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise JingyunError("bad_retention", f"policies[{i}].{where}: {err['msg']}", f"policies[{i}].{where}") from None
    if action_conflicts := {p.table for p in out if sum(q.table == p.table for q in out) > 1}:
        raise JingyunError("bad_retention", f"one policy per table: {', '.join(sorted(action_conflicts))} repeated", "policies")
    return out


def load_policies(settings: Settings) -> list[Policy]:
    path = settings.home / FILE
    if not path.exists():
        return []
    try:
        return parse_policies(yaml.safe_load(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise JingyunError("bad_retention", f"{path}: not YAML ({exc})", "policies") from None


def _anonymise_sets(wh: Warehouse, table: str) -> str:
    cols = {r[0] for r in wh.rows("SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
                                 "AND table_name = ?", [table])}
    spec = TABLES.get(table)
    sets = [f"{c} = '{ANONYMISED}'" for c in ("user_id", "person_id") if c in cols]
    sets += [f"{c} = NULL" for c in ("anonymous_id", "session_id", "raw") if c in cols]
    sets += [f"{c} = '{{}}'" for c in ("attributes", "properties") if c in cols]
    if spec is not None:
        sets += [f'"{c.name}" = NULL' for c in spec.columns
                 if (c.classification == "sensitive" or (c.name.startswith("_") and c.name.endswith(("_enc", "_ps"))))]
    return ", ".join(dict.fromkeys(sets))


def run(wh: Warehouse, store: Store, policies: list[Policy], *, dry_run: bool = False,
        now: dt.datetime | None = None) -> list[RetentionResult]:
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    results = []
    for p in policies:
        ts = TIME_COLUMNS[p.table]
        cutoff = now - dt.timedelta(days=p.days)
        where = f'"{ts}" < ?'
        if p.action == "anonymise":
            id_col = "user_id" if p.table != "_quarantine" else "raw"
            where += f" AND {id_col} IS DISTINCT FROM '{ANONYMISED}'" if id_col == "user_id" else " AND raw IS NOT NULL"
        with wh.transaction():
            n = int(wh.scalar(f'SELECT count(*) FROM "{p.table}" WHERE {where}', [cutoff]) or 0)
            if n and not dry_run:
                if p.action == "delete":
                    wh.con.execute(f'DELETE FROM "{p.table}" WHERE {where}', [cutoff])
                else:
                    wh.con.execute(f'UPDATE "{p.table}" SET {_anonymise_sets(wh, p.table)} WHERE {where}', [cutoff])
        results.append(RetentionResult(p.table, p.action, p.days, local_iso(cutoff, wh.settings.timezone) or "", n, dry_run))
        with store.session() as ses:
            ses.add(RetentionRun(table_name=p.table, action=p.action, days=p.days, cutoff=cutoff, rows=n, dry_run=dry_run))
    return results
