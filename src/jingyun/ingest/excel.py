"""Excel workbooks (``.xlsx``): one sheet streamed as text chunks, like a CSV.

openpyxl reads the sheet in read-only mode, row by row, so memory stays bounded by the
chunk. The first row is the header; every later row keeps its Excel row number as its
line (row 2 is the first record), so a quarantined row names the row a person sees in
Excel. Values become text the validation reads as it reads CSV:

- a cell formatted as a date or time (openpyxl gives ``datetime``): ISO text without an
  offset, read in the source's time zone like any naive time (Excel stores wall-clock time);
- a number: its shortest exact form (``1234.5``, ``12``), never ``1234.5000000001``;
- a boolean: ``true`` / ``false``; an empty cell: blank; a formula: its cached value
  (an error such as ``#N/A`` stays text and fails its column's check).

A date typed as a plain number (an Excel serial such as ``46296.375``) is converted by a
mapping rule ``convert: datetime`` (see :mod:`jingyun.ingest.mapping`).
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from jingyun.errors import JingyunError
from jingyun.ingest.readers import BadRecord, Chunk


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.timedelta):  # a duration cell
        return str(value.total_seconds())
    return str(value)


def _open_sheet(path: Path, sheet: str | None) -> tuple[Any, Any]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise JingyunError("bad_file", f"{path.name}: not a readable .xlsx workbook ({exc})", "file") from None
    names = book.sheetnames
    if sheet is None or sheet == "":
        return book, book.worksheets[0]
    if sheet in names:
        return book, book[sheet]
    if sheet.strip().isdigit() and 1 <= int(sheet) <= len(names):
        return book, book.worksheets[int(sheet) - 1]  # 1-based, as people count sheets
    book.close()
    raise JingyunError("bad_sheet", f"{path.name} has no sheet {sheet!r}; its sheets are {names} "
                       f"(give a name or a number from 1)", "sheet")


def _header(path: Path, row: tuple[Any, ...] | None) -> list[str]:
    cells = [cell_text(v).strip() for v in (row or ())]
    while cells and not cells[-1]:
        cells.pop()
    if not cells:
        raise JingyunError("bad_file", f"{path.name}: the sheet's first row (the header) is empty", "file")
    from openpyxl.utils import get_column_letter

    # a blank header cell inside the header keeps its column, named by its letter
    header = [c or f"column_{get_column_letter(i + 1)}" for i, c in enumerate(cells)]
    if len(set(header)) != len(header):
        raise JingyunError("bad_file", f"{path.name}: duplicate column names in the sheet's header", "file")
    return header


def xlsx_chunks(path: Path, chunk_rows: int, sheet: str | None = None) -> Iterator[Chunk]:
    book, ws = _open_sheet(path, sheet)
    try:
        rows = ws.iter_rows(min_row=1, values_only=True)
        header = _header(path, next(rows, None))
        width = len(header)
        columns: list[list[str]] = [[] for _ in header]
        lines: list[int] = []
        bad: list[BadRecord] = []
        for number, row in enumerate(rows, start=2):
            values = [cell_text(v) for v in row]
            if not any(v.strip() for v in values):
                continue  # an empty row is not a record (its number is still counted)
            if any(v.strip() for v in values[width:]):
                # a value beyond the header's last column: no column to put it in
                bad.append(BadRecord(number, "extra_cells", ",".join(values).rstrip(",")))
            else:
                values += [""] * (width - len(values))
                for j in range(width):
                    columns[j].append(values[j])
                lines.append(number)
            if len(lines) >= chunk_rows:
                yield _chunk(header, columns, lines, bad)
                columns, lines, bad = [[] for _ in header], [], []
        if lines or bad:
            yield _chunk(header, columns, lines, bad)
    finally:
        book.close()


def _chunk(header: list[str], columns: list[list[str]], lines: list[int], bad: list[BadRecord]) -> Chunk:
    data: dict[str, pa.Array] = {"_line": pa.array(lines, pa.int64())}
    for name, values in zip(header, columns, strict=True):
        data[name] = pa.array(values, pa.string())
    return Chunk(pa.table(data), bad)
