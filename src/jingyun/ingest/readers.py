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
- Excel (``.xlsx``) chunks carry the first (or the chosen) sheet's columns as
  text, like CSV: read-only and streamed by openpyxl, dates as ISO text, numbers
  in their shortest exact form (see :mod:`jingyun.ingest.excel`).

Text files in another encoding (GBK/GB18030 as Excel saves CSV on a Chinese
system, UTF-16, Big5) are transcoded to UTF-8 as they stream (see
:mod:`jingyun.ingest.encoding`): the encoding is decided once, from the head of
the file, or given.

Every chunk has ``_line``: the 1-based line (NDJSON, CSV) or row (Parquet)
number in the file, used in the quarantine and to keep "first occurrence wins"
deterministic.
"""

from __future__ import annotations

import csv
import io
import itertools
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
from jingyun.ingest import csv_records, encoding

Format = Literal["ndjson", "csv", "parquet", "xlsx"]
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
        value = "xlsx" if value in ("excel", "xlsx") else value
        if value not in ("ndjson", "csv", "parquet", "xlsx"):
            raise JingyunError("bad_format", f"unknown format {fmt!r}; use csv, parquet, ndjson or xlsx", "format")
        return value  # type: ignore[return-value]
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes or ".tsv" in suffixes:
        return "csv"
    if {".ndjson", ".jsonl", ".json"} & set(suffixes):
        return "ndjson"
    if suffixes and suffixes[-1] in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffixes and suffixes[-1] == ".xls":
        raise JingyunError("bad_format", f"{path.name}: the old .xls format is not read; save it as .xlsx or CSV", "format")
    raise JingyunError(
        "bad_format", f"cannot tell the format of {path.name}; pass --format csv|parquet|ndjson|xlsx", "format"
    )


def read_chunks(path: Path, fmt: Format, chunk_rows: int, *, text_encoding: str | None = None,
                sheet: str | None = None) -> Iterator[Chunk]:
    """The file's chunks. ``text_encoding`` (CSV, NDJSON) is the encoding decided by
    :func:`encoding.decide`; None reads UTF-8 as it is. ``sheet`` picks an Excel sheet."""
    if not path.exists():
        raise JingyunError("no_file", f"no such file: {path}", "file")
    if path.is_dir():
        raise JingyunError("not_a_file", f"{path} is a folder; give the files in it", "file")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise JingyunError("cannot_read", f"cannot read {path}: {exc.strerror}", "file") from None
    if fmt == "ndjson":
        yield from _relabel(_ndjson_chunks(path, chunk_rows, text_encoding), text_encoding)
    elif fmt == "csv":
        yield from _relabel(_csv_chunks(path, chunk_rows, text_encoding), text_encoding)
    elif fmt == "xlsx":
        from jingyun.ingest import excel  # openpyxl is imported only for Excel files

        yield from excel.xlsx_chunks(path, chunk_rows, sheet)
    else:
        yield from _parquet_chunks(path, chunk_rows)


def _relabel(chunks: Iterator[Chunk], text_encoding: str | None) -> Iterator[Chunk]:
    """Bytes a legacy codec could not decode come back from the transcoder as invalid UTF-8:
    their rows are named ``invalid_encoding`` (the file is not UTF-8, so invalid_utf8 would mislead)."""
    if encoding.is_utf8(text_encoding):
        yield from chunks
        return
    for chunk in chunks:
        chunk.bad = [BadRecord(b.line, "invalid_encoding", b.raw, b.field) if b.reason == "invalid_utf8" else b
                     for b in chunk.bad]
        yield chunk


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


def _ndjson_blocks(path: Path, text_encoding: str | None = None) -> Iterator[memoryview]:
    """The file as blocks of whole lines (the last newline of each block cut off).

    One buffer is filled with ``readinto`` and reused: a fresh 32 MB ``bytes``
    per read, plus the copy that joined it to the previous block's partial
    line, cost twice what splitting the lines does. A block is only valid until
    the next one is read; the lines made from it are copies (``split_pattern``
    writes new buffers). A line longer than the buffer grows it."""
    buf = bytearray(BLOCK_BYTES)
    filled = 0  # bytes at the front of buf: the previous block's partial last line
    with encoding.open_utf8(path, text_encoding) as fh:
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


def _ndjson_chunks(path: Path, chunk_rows: int, text_encoding: str | None = None) -> Iterator[Chunk]:
    next_line = 1
    pending: list[pa.Table] = []
    pending_rows = 0
    pending_bad: list[BadRecord] = []
    pending_bytes = 0
    for block in _ndjson_blocks(path, text_encoding):
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
def _csv_header(path: Path, text_encoding: str | None = None) -> list[str]:
    with encoding.open_utf8(path, text_encoding) as fh:
        raw = fh.readline()
    try:
        first = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JingyunError("bad_file", f"{path.name}: the first line (the header) is not "
                           f"{'UTF-8' if encoding.is_utf8(text_encoding) else text_encoding} text; pass the file's encoding, "
                           "e.g. --encoding gb18030",
                           "encoding") from None
    if any(ch in first.rstrip("\r\n") for ch in _CONTROL) or "\ufffd" in first:
        # random bytes decode as "text" in a lenient encoding (GB18030 takes nearly any byte): a header with
        # control characters is no header at all
        read_as = encoding.decide(path, text_encoding)
        raise JingyunError("bad_file", f"{path.name}: the first line (the header) is not UTF-8 or other text "
                           f"(read as {read_as} it holds control characters); pass the file's encoding, "
                           "e.g. --encoding gb18030", "encoding")
    header = next(csv.reader(io.StringIO(first)), [])
    if not header or not any(h.strip() for h in header):
        raise JingyunError("bad_file", f"{path.name}: the CSV has no header row", "file")
    return [h.strip() for h in header]


# C0 control characters other than tab (a CSV header never holds them)
_CONTROL = frozenset(chr(c) for c in range(32) if chr(c) != "\t") | {"\x7f"}


def _csv_chunks(path: Path, chunk_rows: int, text_encoding: str | None = None) -> Iterator[Chunk]:
    """Blocks of whole records, each parsed by Arrow and numbered by :mod:`csv_records`.

    Every record keeps its real line (a value may hold newlines) and every rejected
    row its own line, so no two quarantined rows of a file share one. A block where
    the scan and Arrow disagree (a stray quote) is read with Python's ``csv`` instead;
    a stray quote that leaves no record end in sight sends the rest of the file there."""
    header = _csv_header(path, text_encoding)
    if len(set(header)) != len(header):
        raise JingyunError("bad_file", f"{path.name}: duplicate column names in the CSV header", "file")
    with encoding.open_utf8(path, text_encoding) as fh:
        fh.readline()  # the header, read by _csv_header
        line, carry = 2, b""
        while True:
            data = fh.read(BLOCK_BYTES)
            whole = carry + data
            recs = csv_records.scan(whole, line)
            if not data:
                chunks = _arrow_block(whole, recs, header, chunk_rows) if whole else []
                if chunks is None:
                    yield from _csv_python(path, _text_lines(whole, fh), line, header, chunk_rows)
                else:
                    yield from chunks
                return
            n = csv_records.complete(recs, len(whole))
            if n == 0 and len(whole) <= 4 * BLOCK_BYTES:  # no record ends yet: keep reading
                carry = whole
                continue
            cut = int(recs.ends[n - 1]) if n else -1
            chunks = _arrow_block(whole[:cut], csv_records.head(recs, n), header, chunk_rows) if n else None
            if chunks is None:
                # a stray quote: the scan's record ends (and so this cut) cannot be trusted from
                # here on; Python's csv reads the rest, from this block's first record
                yield from _csv_python(path, _text_lines(whole, fh), line, header, chunk_rows)
                return
            yield from chunks
            carry = whole[cut + 1 :]
            line += whole.count(b"\n", 0, cut) + 1


def _arrow_block(block: bytes, recs: csv_records.Records, header: list[str], chunk_rows: int) -> list[Chunk] | None:
    """The block's chunks, parsed by Arrow and numbered by the scan; None where the two
    disagree (a stray quote, a block that is not UTF-8) and Python's csv must read it."""
    rejected = [0]

    def on_invalid(row: pacsv.InvalidRow) -> str:
        rejected[0] += 1
        return "skip"

    # Arrow hands a rejected row to the handler as text: a block that is not UTF-8 (rare)
    # goes to Python's csv, which keeps the bytes for the invalid_utf8 reason
    if not recs.balanced or not _is_utf8(block):
        return None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(block),
            read_options=pacsv.ReadOptions(column_names=header, block_size=4 << 20),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.binary() for h in header},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid:
        return None
    # the scan and Arrow must agree row for row: the counts, and the newlines inside each value
    malformed = (~recs.blank & (csv_records.field_counts(block, recs) != len(header)) if rejected[0]
                 else np.zeros_like(recs.blank))
    valid = ~recs.blank & ~malformed
    if table.num_rows != int(valid.sum()) or rejected[0] != int(malformed.sum()):
        return None
    # where the scan saw values spanning lines, Arrow's values must hold the same newlines (a
    # newline Arrow took as a record end where the scan did not shows up in the counts above)
    if recs.quoted and table.num_rows and recs.inner_newlines.any():
        inside = np.zeros(table.num_rows, dtype=np.int64)
        for name in header:
            inside += pc.fill_null(pc.count_substring(table[name], "\n"), 0).to_numpy()
        if not (inside == recs.inner_newlines[valid]).all():
            return None
    bad = [BadRecord(int(recs.lines[i]), "malformed_csv_row", _raw(block[recs.starts[i] : recs.ends[i]]))
           for i in np.flatnonzero(malformed)]
    numbers = pa.array(recs.lines[valid])
    chunks = []
    for start in range(0, max(table.num_rows, 1), chunk_rows):
        part, part_lines = table.slice(start, chunk_rows), numbers.slice(start, chunk_rows)
        if part.num_rows == 0 and not bad:
            continue
        decoded, utf8_bad = _decode_binary_columns(part, part_lines)
        chunks.append(Chunk(decoded, bad + utf8_bad))
        bad = []
    return chunks


def _is_utf8(block: bytes) -> bool:
    raw = pa.Array.from_buffers(pa.large_binary(), 1, [None, pa.py_buffer(np.array([0, len(block)], np.int64).tobytes()),
                                                        pa.py_buffer(block)])
    try:
        raw.cast(pa.large_string())  # Arrow's validation, without a Python copy of the block
    except pa.ArrowInvalid:
        return False
    return True


def _raw(record: bytes) -> str:
    return record.decode("utf-8", "backslashreplace").removesuffix("\r")


def _text_lines(head: bytes, fh: io.BufferedReader) -> Iterator[str]:
    """``head`` (bytes already read) then the rest of the file, as text lines; a line cut
    between the two is joined. Bytes that are not UTF-8 are kept (surrogateescape)."""
    pending = b""
    for raw in itertools.chain(io.BytesIO(head), fh):
        raw, pending = pending + raw, b""
        if not raw.endswith(b"\n"):
            pending = raw
            continue
        yield raw.decode("utf-8", "surrogateescape")
    if pending:
        yield pending.decode("utf-8", "surrogateescape")


def _csv_python(path: Path, lines: Iterator[str], first_line: int, header: list[str],
                chunk_rows: int) -> Iterator[Chunk]:
    """Record by record with Python's ``csv`` (exact lines, slower): for what the scan cannot read."""
    texts: list[str] = []

    def numbered() -> Iterator[str]:
        for text in lines:
            texts.append(text)
            yield text

    reader = csv.reader(numbered(), strict=False)
    rows: list[list[str]] = []
    row_lines: list[int] = []
    bad: list[BadRecord] = []
    seen = 0  # physical lines consumed so far
    try:
        for record in reader:
            start, seen = first_line + seen, reader.line_num
            raw = "".join(texts)
            texts.clear()
            if not record:
                continue
            if len(record) != len(header):
                bad.append(BadRecord(start, "malformed_csv_row", _raw(raw.rstrip("\n").encode("utf-8", "surrogateescape"))))
                continue
            rows.append(record)
            row_lines.append(start)
            if len(rows) >= chunk_rows:
                yield _python_chunk(rows, row_lines, header, bad)
                rows, row_lines, bad = [], [], []
    except csv.Error as exc:
        raise JingyunError("bad_file", f"{path.name}: not a readable CSV near line {first_line + seen} ({exc})",
                           "file") from None
    if rows or bad:
        yield _python_chunk(rows, row_lines, header, bad)


def _python_chunk(rows: list[list[str]], row_lines: list[int], header: list[str], bad: list[BadRecord]) -> Chunk:
    columns = {h: pa.array([r[j].encode("utf-8", "surrogateescape") for r in rows], pa.binary())
               for j, h in enumerate(header)}
    table, utf8_bad = _decode_binary_columns(pa.table(columns), pa.array(row_lines, pa.int64()))
    return Chunk(table, bad + utf8_bad)


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
