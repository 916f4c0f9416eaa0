"""Reading one chunk ahead on a thread keeps the order, raises the reader's
error where the chunk would have come, and stops the thread on an early stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from jingyun.errors import JingyunError
from jingyun.ingest.pipeline import _read_ahead
from jingyun.ingest.readers import Chunk


def _chunks(n: int, fail_at: int | None = None) -> Iterator[Chunk]:
    for i in range(n):
        if i == fail_at:
            raise JingyunError("bad_file", "broken at chunk", "file")
        yield Chunk(pa.table({"_line": pa.array([i], pa.int64())}))


def _threads() -> int:
    return sum(t.name == "jingyun-read-ahead" for t in threading.enumerate())


def test_order_is_kept() -> None:
    got = [c.table["_line"][0].as_py() for c in _read_ahead(_chunks(50)) if c.table is not None]
    assert got == list(range(50))
    assert _threads() == 0


def test_reader_error_comes_after_the_good_chunks() -> None:
    seen: list[int] = []
    with pytest.raises(JingyunError) as err:
        for c in _read_ahead(_chunks(10, fail_at=4)):
            assert c.table is not None
            seen.append(c.table["_line"][0].as_py())
    assert seen == [0, 1, 2, 3] and err.value.code == "bad_file"
    assert _threads() == 0


def test_early_stop_ends_the_thread() -> None:
    gen = _read_ahead(_chunks(1000))
    next(gen)
    gen.close()  # as when a chunk's load raises
    assert _threads() == 0
