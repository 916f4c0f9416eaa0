"""Text encodings of source files: decided once from the head, transcoded to UTF-8 as the file streams.

Excel on a Chinese system saves CSV in GBK; ERP exports come in GB18030, UTF-8 with a
BOM, sometimes UTF-16. The readers work on UTF-8 bytes (Arrow parses them, the record
scan counts their newlines), so a file in another encoding is decoded and re-encoded
block by block as it is read, never loaded whole.

The choice, made once per file from its first :data:`HEAD_BYTES`:

- a UTF-8 BOM, or a head that is valid UTF-8 (ASCII included): UTF-8, read as it is;
- a head where a line holds valid non-ASCII UTF-8: UTF-8 too, and the lines that are not
  (junk bytes) are quarantined one by one as ``invalid_utf8``, as before;
- a head where nine in ten of the non-ASCII lines read as GB18030: GB18030 (the lines
  that do not are quarantined as ``invalid_encoding``);
- otherwise charset-normalizer's verdict, preferring GB18030 where it is a candidate
  (it decodes every GBK/GB2312 file the same way, and short GBK heads otherwise read as
  Big5); a single-byte Western guess is not taken: such a file is read as UTF-8.

Bytes the chosen codec cannot decode are not dropped: they come through as invalid UTF-8
(``surrogateescape``), so their rows are quarantined with their line number.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

from jingyun.errors import JingyunError

HEAD_BYTES = 1 << 20
UTF8 = "utf-8"
# what a guess may choose: the encodings Chinese files come in (a Western single-byte
# guess on a UTF-8 file with a few junk bytes would garble every other line)
_TRUSTED = {"gb18030", "gbk", "gb2312", "cp936", "hz", "big5", "big5hkscs", "cp950",
            "utf_16", "utf_16_le", "utf_16_be", "utf_32", "utf_32_le", "utf_32_be", "utf_8"}


def is_utf8(name: str | None) -> bool:
    return name is None or codecs.lookup(name).name in ("utf-8", "utf-8-sig")


def canonical(name: str) -> str:
    """A codec name as Python knows it, or a ``bad_encoding`` error naming the option."""
    try:
        info = codecs.lookup(name.strip())
    except LookupError:
        raise JingyunError("bad_encoding", f"unknown encoding {name!r}; try utf-8, gb18030, gbk, big5 or utf-16",
                           "encoding") from None
    return UTF8 if info.name in ("utf-8", "utf-8-sig") else info.name


def decide(path: Path, given: str | None = None) -> str:
    """The encoding to read ``path`` with: ``given`` (checked), else detected from the head."""
    if given and given.strip().lower() not in ("", "auto"):
        return canonical(given)
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return UTF8  # the reader reports the file problem itself
    return detect(head)


def detect(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return UTF8
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) == HEAD_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]  # whole lines: no character cut at the end
    try:
        head.decode("utf-8")
        return UTF8
    except UnicodeDecodeError:
        pass
    lines = [line for line in head.split(b"\n") if not line.isascii()]
    if b"\x00" not in head:
        if any(_decodes(line, "utf-8") for line in lines):
            return UTF8
        # a few lines of junk in a GB18030 file leave the detector without a verdict: the
        # lines themselves decide when nearly all of them read as GB18030
        if sum(_decodes(line, "gb18030") for line in lines) >= 0.9 * len(lines):
            return "gb18030"
    from charset_normalizer import from_bytes  # only for files that are not UTF-8

    matches = from_bytes(head)
    names = [m.encoding for m in matches]
    if "gb18030" in names:
        return "gb18030"
    best = matches.best()
    if best is None or best.encoding not in _TRUSTED:
        return UTF8
    return canonical(best.encoding)


def _decodes(line: bytes, name: str) -> bool:
    try:
        line.decode(name)
    except UnicodeDecodeError:
        return False
    return True


class _Transcoder(io.RawIOBase):
    """A binary file in ``name`` read as UTF-8 bytes (undecodable bytes kept as invalid UTF-8)."""

    def __init__(self, raw: io.BufferedReader, name: str):
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(name)(errors="surrogateescape")
        self._pending = b""
        self._done = False
        self._first = True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            data = self._raw.read(1 << 20)
            text = self._decoder.decode(data, final=not data)
            if self._first and text:
                text, self._first = text.removeprefix("\ufeff"), False
            self._done = not data
            self._pending = text.encode("utf-8", "surrogateescape")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_utf8(path: Path, name: str | None) -> io.BufferedReader:
    """``path`` opened for reading as UTF-8 bytes: the file itself when it is UTF-8."""
    if is_utf8(name):
        return path.open("rb")
    assert name is not None
    return io.BufferedReader(_Transcoder(path.open("rb"), name), buffer_size=1 << 20)
