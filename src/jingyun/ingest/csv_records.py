"""Where CSV records start: physical lines and field counts by a vectorised scan.

Arrow parses CSV quickly, but once newlines may sit inside quoted values it
cannot say on which line a row began, nor where a row it rejects sat among the
others. This scan gives both, so a quarantined row names its real line and
every line number stays unique within a file.

The rule (RFC 4180): a newline ends a record, and a comma ends a field, when
an even number of quote characters precede it within the record. A doubled
quote (``""``) keeps the count even. A quote inside an unquoted value
(``5"``) breaks the rule; the reader checks this scan against Arrow's parse
and reads such a block with Python's ``csv`` module instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEWLINE, QUOTE, COMMA, CR = 10, 34, 44, 13


@dataclass(frozen=True)
class Records:
    """The records of a block that starts at a record boundary."""

    starts: np.ndarray  # byte offset where each record starts
    ends: np.ndarray  # byte offset where it ends (its newline, or the block's end)
    lines: np.ndarray  # the file's line number of each record's first byte
    inner_newlines: np.ndarray  # newlines inside each record (in quoted values)
    blank: np.ndarray  # empty lines (or a lone carriage return): not records, as Arrow skips them
    balanced: bool  # the block ends outside quotes
    quoted: bool  # the block holds a quote at all (without one, every newline ends a record)


def _outside(positions: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """Which of the positions have an even number of quotes before them."""
    if len(quotes) == 0:
        return np.ones(len(positions), dtype=bool)
    return np.asarray((np.searchsorted(quotes, positions) & 1) == 0)


def complete(recs: Records, size: int) -> int:
    """How many of the records end with a newline (the rest of a block may be cut short)."""
    return int(np.searchsorted(recs.ends, size))


def head(recs: Records, n: int) -> Records:
    """The first ``n`` records (they end outside quotes, so the part is balanced)."""
    return Records(recs.starts[:n], recs.ends[:n], recs.lines[:n], recs.inner_newlines[:n], recs.blank[:n],
                   balanced=True if n < len(recs.ends) else recs.balanced, quoted=recs.quoted)


def scan(block: bytes, first_line: int) -> Records:
    """The records of ``block`` (which starts a record, on line ``first_line``)."""
    a = np.frombuffer(block, dtype=np.uint8)
    quotes = np.flatnonzero(a == QUOTE)
    newlines = np.flatnonzero(a == NEWLINE)
    ends = newlines[_outside(newlines, quotes)] if len(quotes) else newlines
    if len(a) and (len(ends) == 0 or ends[-1] != len(a) - 1):
        ends = np.append(ends, len(a))  # a last record with no newline after it
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64) if len(ends) else np.zeros(0, np.int64)
    if len(quotes):
        before = np.searchsorted(newlines, starts)
        lines, inner = first_line + before, np.searchsorted(newlines, ends) - before
    else:  # every newline ends a record
        lines, inner = first_line + np.arange(len(starts)), np.zeros(len(starts), np.int64)
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (a[np.minimum(starts, len(a) - 1)] == CR)) if len(a) else length == 0
    return Records(starts, ends, lines.astype(np.int64), inner.astype(np.int64), np.asarray(blank),
                   balanced=len(quotes) % 2 == 0, quoted=len(quotes) > 0)


def field_counts(block: bytes, recs: Records) -> np.ndarray:
    """How many fields each record has (asked for only when Arrow rejected some rows)."""
    a = np.frombuffer(block, dtype=np.uint8)
    commas = np.flatnonzero(a == COMMA)
    if recs.quoted:
        commas = commas[_outside(commas, np.flatnonzero(a == QUOTE))]
    return np.asarray(np.searchsorted(commas, recs.ends) - np.searchsorted(commas, recs.starts) + 1)
