"""Export the warehouse as a Parquet lake: one folder per table, facts
partitioned by local date (``dt=YYYY-MM-DD`` in the workspace time zone)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from jingyun.errors import JingyunError
from jingyun.schema.tables import TABLES
from jingyun.warehouse.connection import Warehouse
from jingyun.warehouse.sqltext import ident, local_date, quote


@dataclass(frozen=True)
class LakeTable:
    table: str
    rows: int
    partitioned: bool
    path: str


def export_lake(wh: Warehouse, target: Path, *, overwrite: bool = False) -> list[LakeTable]:
    target = target.expanduser()
    if target.exists() and not target.is_dir():
        raise JingyunError("not_a_dir", f"{target} is a file; give a folder for the lake", "dir")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise JingyunError("exists", f"{target} is not empty; pass --overwrite to replace it", "dir")
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".jingyun-write-check"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise JingyunError("cannot_write", f"cannot write the lake to {target}: {exc.strerror or exc}", "dir") from None
    out = []
    for table in TABLES.values():
        folder = target / table.name
        rows = wh.count(table.name)
        if folder.exists():
            shutil.rmtree(folder)
        partitioned = bool(table.ts_column) and rows > 0
        if partitioned:
            local = local_date(ident(str(table.ts_column)), wh.settings.timezone)
            wh.con.execute(
                f"COPY (SELECT *, strftime(coalesce({local}, DATE '1970-01-01'), '%Y-%m-%d') AS dt FROM {table.name}) "
                f"TO {quote(str(folder))} (FORMAT parquet, PARTITION_BY (dt), OVERWRITE_OR_IGNORE)"
            )
        else:
            folder.mkdir(parents=True)
            wh.con.execute(f"COPY (SELECT * FROM {table.name}) TO {quote(str(folder / 'data.parquet'))} (FORMAT parquet)")
        out.append(LakeTable(table.name, rows, partitioned, str(folder)))
    return out
