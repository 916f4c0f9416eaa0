"""Files under the home that may hold a person: exports (CSV, Excel, JSON lines) written there.

A row (a CSV or JSON line, a worksheet row) that mentions any of the person's identifiers is removed
and the file rewritten in place; the warehouse, the metadata database and key files are not files of
this kind and are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

SUFFIXES = (".csv", ".tsv", ".ndjson", ".jsonl", ".json", ".txt", ".xlsx")


def scrub(home: Path, needles: Sequence[str], *, dry_run: bool = False) -> dict[str, int]:
    """{path: rows removed} for each file under ``home`` that mentioned the person."""
    out: dict[str, int] = {}
    if not needles or not home.exists():
        return out
    for path in sorted(home.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in SUFFIXES:
            continue
        n = _scrub_xlsx(path, needles, dry_run) if path.suffix.lower() == ".xlsx" else _scrub_text(path, needles, dry_run)
        if n:
            out[str(path)] = n
    return out


def _scrub_text(path: Path, needles: Sequence[str], dry_run: bool) -> int:
    data = path.read_bytes()
    encoded = [n.encode() for n in needles]
    if not any(n in data for n in encoded):
        return 0
    lines = data.splitlines(keepends=True)
    kept = [ln for ln in lines if not any(n in ln for n in encoded)]
    if not dry_run:
        _replace(path, b"".join(kept))
    return len(lines) - len(kept)


def _scrub_xlsx(path: Path, needles: Sequence[str], dry_run: bool) -> int:
    from openpyxl import Workbook, load_workbook

    wb = load_workbook(path, read_only=True)
    sheets = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    wb.close()

    def hit(row: list[object]) -> bool:
        return any(v is not None and any(n in str(v) for n in needles) for v in row)

    removed = sum(1 for rows in sheets.values() for r in rows if hit(r))
    if removed and not dry_run:
        out = Workbook(write_only=True)
        for title, rows in sheets.items():
            ws = out.create_sheet(title)
            for r in rows:
                if not hit(r):
                    ws.append(r)
        tmp = path.with_name(path.name + ".privacy-tmp.xlsx")
        out.save(tmp)
        os.replace(tmp, path)
    return removed


def _replace(path: Path, data: bytes) -> None:
    # the old bytes are overwritten in place first (same inode), then the file is cut to its new length
    with path.open("r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        fh.write(data + b"\0" * max(0, size - len(data)))
        fh.flush()
        os.fsync(fh.fileno())
        fh.truncate(len(data))
