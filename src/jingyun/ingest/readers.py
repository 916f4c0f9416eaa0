"""Readers: a source file as a stream of bounded chunks.

Every reader yields :class:`Chunk` objects of at most ``chunk_rows`` records, so
memory stays bounded whatever the file size. Records the reader itself cannot
read (malformed JSON, a CSV row with the wrong number of fields, invalid UTF-8)
are not dropped: they come back in ``Chunk.bad`` with their line number and raw
text, and go to the quarantine.

- NDJSON chunks carry one column ``_json`` (the line as text); JSON parsing and
  validation happen in DuckDB, vectorised.
- CSV chunks carry the source columns as text (read as binary first, so one bad
  byte cannot fail a whole block).
- Parquet chunks carry the source columns with their own types.

Every chunk has ``_line``: the 1-based line (NDJSON, CSV) or row (Parquet)
number in the file, used in the quarantine and to keep "first occurrence wins"
deterministic.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from jingyun.errors import JingyunError

Format = Literal["ndjson", "csv", "parquet"]
BLOCK_BYTES = 32 << 20


@dataclass(frozen=True)
class BadRecord:
    line: int
    reason: str
    raw: str
    field: str | None = None


@dataclass
class Chunk:
    """Records to load: an Arrow table, or (Parquet) a slice DuckDB reads natively."""

    table: pa.Table | None = None
    bad: list[BadRecord] = field(default_factory=list)
    bytes_read: int = 0
    parquet: tuple[str, int, int] | None = None  # (path, first row, end row), 0-based, end exclusive

    @property
    def rows(self) -> int:
        if self.parquet is not None:
            return self.parquet[2] - self.parquet[1]
        return 0 if self.table is None else self.table.num_rows

    @property
    def received(self) -> int:
        return self.rows + len(self.bad)


def detect_format(path: Path, fmt: str | None = None) -> Format:
    if fmt:
        value = fmt.lower().replace("jsonl", "ndjson").replace("json", "ndjson").replace("ndndjson", "ndjson")
        if value not in ("ndjson", "csv", "parquet"):
            raise JingyunError("bad_format", f"unknown format {fmt!r}; use csv, parquet or ndjson", "format")
        return value  # type: ignore[return-value]
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes or ".tsv" in suffixes:
        return "csv"
    if {".ndjson", ".jsonl", ".json"} & set(suffixes):
        return "ndjson"
    raise JingyunError(
        "bad_format", f"cannot tell the format of {path.name}; pass --format csv|parquet|ndjson", "format"
    )


def read_chunks(path: Path, fmt: Format, chunk_rows: int) -> Iterator[Chunk]:
    if not path.exists():
        raise JingyunError("no_file", f"no such file: {path}", "file")
    if path.is_dir():
        raise JingyunError("not_a_file", f"{path} is a folder; give the files in it", "file")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise JingyunError("cannot_read", f"cannot read {path}: {exc.strerror}", "file") from None
    if fmt == "ndjson":
        yield from _ndjson_chunks(path, chunk_rows)
    elif fmt == "csv":
        yield from _csv_chunks(path, chunk_rows)
    else:
        yield from _parquet_chunks(path, chunk_rows)


# -- NDJSON -------------------------------------------------------------------
def _lines_fast(block: bytes | memoryview) -> pa.Array | None:
    """Split a block into lines in Arrow; None when it is not valid UTF-8.

    The block is wrapped without a copy and validated by Arrow's binary → UTF-8
    cast (no Python ``decode`` of 32 MB and re-encode)."""
    buf = pa.py_buffer(block)
    offsets = pa.py_buffer(np.array([0, buf.size], dtype=np.int64).tobytes())
    raw = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buf])
    try:
        text = raw.cast(pa.large_string())
    except pa.ArrowInvalid:
        return None
    lines = pc.split_pattern(text, "\n").flatten()
    data = lines.buffers()[2]
    if data is not None and buf.address <= data.address < buf.address + max(buf.size, 1):
        lines = pa.concat_arrays([lines])  # never keep a view of the reader's reused buffer
    return lines


def _ndjson_table(lines: pa.Array, first_line: int) -> tuple[pa.Table, int]:
    n = len(lines)
    numbers = pa.array(np.arange(first_line, first_line + n, dtype=np.int64))
    # blank lines (empty or only whitespace) are not records; utf8_is_space stops at the
    # first other character, where trimming copied every line
    keep = pc.invert(pc.or_(pc.equal(pc.binary_length(lines), 0), pc.utf8_is_space(lines)))
    table = pa.table({"_line": numbers, "_json": lines.cast(pa.string()) if lines.type != pa.string() else lines})
    if pc.all(keep).as_py():  # the usual block has no blank line: no copy of its text
        return table, n
    return table.filter(keep), n


def _ndjson_blocks(path: Path) -> Iterator[memoryview]:
    """The file as blocks of whole lines (the last newline of each block cut off).

    One buffer is filled with ``readinto`` and reused: a fresh 32 MB ``bytes``
    per read, plus the copy that joined it to the previous block's partial
    line, cost twice what splitting the lines does. A block is only valid until
    the next one is read; the lines made from it are copies (``split_pattern``
    writes new buffers). A line longer than the buffer grows it."""
    buf = bytearray(BLOCK_BYTES)
    filled = 0  # bytes at the front of buf: the previous block's partial last line
    with path.open("rb") as fh:
        while True:
            if filled == len(buf):  # one line fills the whole buffer: make room
                buf.extend(bytes(len(buf)))
            with memoryview(buf) as free:
                n = fh.readinto(free[filled:])
            end = filled + n
            if n == 0:  # end of file: what is left is the last line (no newline after it)
                if filled:
                    with memoryview(buf) as view, view[:filled] as block:
                        yield block
                return
            cut = buf.rfind(b"\n", 0, end)
            if cut < 0:  # no line ends in the buffer yet: keep reading
                filled = end
                continue
            with memoryview(buf) as view, view[:cut] as block:
                yield block
            filled = end - cut - 1
            buf[:filled] = buf[cut + 1 : end]  # same length: allowed even while a view exists


def _ndjson_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    next_line = 1
    pending: list[pa.Table] = []
    pending_rows = 0
    pending_bad: list[BadRecord] = []
    pending_bytes = 0
    for block in _ndjson_blocks(path):
        pending_bytes += len(block) + 1
        lines = _lines_fast(block)
        if lines is None:
            table, count, bad = _ndjson_slow(bytes(block), next_line)
            pending_bad.extend(bad)
        else:
            table, count = _ndjson_table(lines, next_line)
        next_line += count
        pending.append(table)
        pending_rows += table.num_rows
        if pending_rows >= chunk_rows:
            merged = pa.concat_tables(pending)
            for start in range(0, merged.num_rows - chunk_rows + 1, chunk_rows):
                yield Chunk(merged.slice(start, chunk_rows), pending_bad, pending_bytes)
                pending_bad, pending_bytes = [], 0
            rest = merged.num_rows % chunk_rows
            pending = [merged.slice(merged.num_rows - rest, rest)] if rest else []
            pending_rows = rest
    if pending_rows or pending_bad:
        table = pa.concat_tables(pending) if pending else pa.table({"_line": pa.array([], pa.int64()), "_json": pa.array([], pa.string())})
        yield Chunk(table, pending_bad, pending_bytes)


def _ndjson_slow(block: bytes, first_line: int) -> tuple[pa.Table, int, list[BadRecord]]:
    """Line by line, only for a block that holds invalid UTF-8."""
    numbers: list[int] = []
    texts: list[str] = []
    bad: list[BadRecord] = []
    raw_lines = block.split(b"\n")
    for offset, raw in enumerate(raw_lines):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(BadRecord(first_line + offset, "invalid_utf8", raw.decode("utf-8", "backslashreplace")))
            continue
        numbers.append(first_line + offset)
        texts.append(text)
    table = pa.table({"_line": pa.array(numbers, pa.int64()), "_json": pa.array(texts, pa.string())})
    return table, len(raw_lines), bad


# -- CSV ----------------------------------------------------------------------
def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as fh:
        first = fh.readline().decode("utf-8-sig", "replace")
    header = next(csv.reader(io.StringIO(first)), [])
    if not header or not any(h.strip() for h in header):
        raise JingyunError("bad_file", f"{path.name}: the CSV has no header row", "file")
    return [h.strip() for h in header]


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    header = _csv_header(path)
    if len(set(header)) != len(header):
        raise JingyunError("bad_file", f"{path.name}: duplicate column names in the CSV header", "file")
    bad: list[BadRecord] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        line = int(row.number) if row.number is not None and row.number >= 0 else -1
        bad.append(BadRecord(line, "malformed_csv_row", row.text, None))
        return "skip"

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES, column_names=header, skip_rows=1),
                parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.binary() for h in header}, strings_can_be_null=False,
                    quoted_strings_can_be_null=False),
            )
        except pa.ArrowInvalid as exc:  # what the row handler cannot take (e.g. binary junk): the whole file
            shown = ": ".join(str(exc).split("\n")[0].split(": ")[:2])[:160]  # Arrow's reason, not the row's bytes
            raise JingyunError("bad_file", f"{path.name}: not a readable CSV ({shown})", "file") from None

    next_record = 2  # line 1 is the header
    for batch in batches():
        for start in range(0, max(batch.num_rows, 1), chunk_rows):
            part = batch.slice(start, chunk_rows)
            if part.num_rows == 0 and not bad:
                continue
            numbers = pa.array(range(next_record, next_record + part.num_rows), pa.int64())
            next_record += part.num_rows
            table, utf8_bad = _decode_binary_columns(pa.Table.from_batches([part]), numbers)
            chunk_bad = bad + utf8_bad
            bad = []
            yield Chunk(table, chunk_bad)
    if bad:
        empty = pa.table({"_line": pa.array([], pa.int64()), **{h: pa.array([], pa.string()) for h in header}})
        yield Chunk(empty, bad)


def _decode_binary_columns(table: pa.Table, numbers: pa.Array) -> tuple[pa.Table, list[BadRecord]]:
    """binary → string; rows holding invalid UTF-8 are pulled out, not dropped."""
    bad_rows: set[int] = set()
    for name in table.column_names:
        column = table[name]
        try:
            column.cast(pa.string())
        except pa.ArrowInvalid:
            for index, value in enumerate(column.to_pylist()):
                if value is not None:
                    try:
                        value.decode("utf-8")
                    except UnicodeDecodeError:
                        bad_rows.add(index)
    bad: list[BadRecord] = []
    if bad_rows:
        rows = table.to_pylist()
        for index in sorted(bad_rows):
            raw = ",".join((v or b"").decode("utf-8", "backslashreplace") for v in rows[index].values())
            bad.append(BadRecord(int(numbers[index].as_py()), "invalid_utf8", raw))
        mask = pa.array([i not in bad_rows for i in range(table.num_rows)])
        table, numbers = table.filter(mask), numbers.filter(mask)
    columns = {"_line": numbers}
    for name in table.column_names:
        columns[name] = table[name].cast(pa.string())
    return pa.table(columns), bad


# -- Parquet ------------------------------------------------------------------
def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """Slices of the file that DuckDB reads itself (its Parquet reader skips row
    groups outside the slice), so no Arrow conversion sits in the way."""
    try:
        total = pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise JingyunError("bad_file", f"{path.name}: not a readable Parquet file ({exc})", "file") from None
    for start in range(0, total, chunk_rows):
        yield Chunk(parquet=(str(path.resolve()), start, min(start + chunk_rows, total)))
