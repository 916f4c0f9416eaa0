"""Request bodies: the size cap, ``Content-Encoding`` and the one JSON parser.

Every JSON body the service reads goes through :func:`parse_json`: UTF-8 only, at most
:data:`MAX_DEPTH` levels of arrays and objects, no ``NaN``/``Infinity`` (not JSON, RFC 8259 §6),
no number that overflows to infinity. :class:`BodyMiddleware` reads each request body before the
app sees it and applies the rules in one place:

* at most :data:`MAX_BODY` bytes, counted while reading, with or without ``Content-Length``;
* ``Content-Encoding: gzip`` is decompressed as it arrives with the output capped at the same
  limit (a zip bomb stops at the cap: 413); any other coding is refused with 415;
* a refused body is read to its end (up to :data:`DRAIN_LIMIT`) before the answer goes out. A
  server that answers and closes while the client is still sending has unread bytes in its
  socket: the kernel then resets the connection and the client may never see the 413;
* JSON bodies (``application/json``, ``*+json``) are checked with :func:`parse_json` before
  routing, so FastAPI's own ``json.loads`` only ever sees checked text. The ingestion routes
  (``parse_later``) call :func:`parse_json` themselves, after authentication and the rate limit,
  so an anonymous or throttled client cannot make the service parse a megabyte.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import zlib
from typing import Any, NoReturn

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jingyun.errors import JingyunError

MAX_BODY = 1_048_576 + 64 * 1024  # 1 MB of records plus the envelope
MAX_DEPTH = 64
DRAIN_LIMIT = 16 * 1_048_576  # read (and drop) at most this much of a refused body before answering
DRAIN_SECONDS = 10.0

_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
# a number json.loads would turn into inf: 309+ digits, or an exponent of 3+ digits
_HUGE_NUMBER = re.compile(rb"\d{309}|[eE][+-]?\d{3}")


def _bad(code: str, message: str, field: str | None = "body", status: int = 422) -> NoReturn:
    raise JingyunError(code, message, field, status=status)


def check_charset(content_type: str) -> None:
    """Refuse a ``charset`` other than UTF-8 in ``Content-Type`` (415)."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            _bad("unsupported_media_type", f"charset {value.strip()} is not accepted: send JSON as UTF-8 "
                 "(Content-Type: application/json; charset=utf-8)", "Content-Type", 415)


def is_json_type(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _text(body: bytes) -> str:
    if body.startswith(_UTF16_32_BOMS) or b"\x00" in body[:4]:
        _bad("unsupported_media_type", "the body is UTF-16 or UTF-32: send JSON as UTF-8", status=415)
    try:
        return body.decode("utf-8-sig")  # a UTF-8 byte-order mark is tolerated (RFC 8259 §8.1)
    except UnicodeDecodeError as exc:
        _bad("unsupported_media_type", f"the body is not UTF-8 (invalid byte at offset {exc.start}): send JSON as UTF-8",
             status=415)


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text, counted without recursion.

    Vectorised (about 5 ms per MB): brackets inside strings are skipped by pairing the quotes that
    are not escaped, so ``"[[["`` counts for nothing. Only meaningful for text that is JSON.
    """
    opens = body.count(b"[") + body.count(b"{")
    if opens <= MAX_DEPTH:
        return opens  # an upper bound, enough to pass
    b = np.frombuffer(body, np.uint8)
    folded = b | 0x20  # '[' and '{' fold to 0x7b, ']' and '}' to 0x7d; no other byte does
    is_open = folded == 0x7B
    brackets = np.flatnonzero(is_open | (folded == 0x7D))
    quotes = np.flatnonzero(b == 0x22)
    before = quotes[quotes > 0] - 1
    if before.size and bool((b[before] == 0x5C).any()):
        # a quote is escaped when an odd number of backslashes runs up to it
        last_plain = np.maximum.accumulate(np.where(b == 0x5C, -1, np.arange(b.size, dtype=np.int64)))
        run = np.where(quotes > 0, quotes - 1 - last_plain[np.maximum(quotes - 1, 0)], 0)
        quotes = quotes[run % 2 == 0]
    outside = (np.searchsorted(quotes, brackets) & 1) == 0  # an even number of quotes before it
    steps = np.where(is_open[brackets[outside]], 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max()) if steps.size else 0


def _constant(name: str) -> NoReturn:
    _bad("malformed_json", f"{name} is not a JSON number: send null or a string instead")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        _bad("malformed_json", f"the number {text[:20]}{'…' if len(text) > 20 else ''} is too large for a 64-bit float")
    return value


def parse_json(body: bytes) -> Any:
    """The body as JSON, or a :class:`JingyunError` naming the body (415 not UTF-8, 422 otherwise)."""
    text = _text(body)
    depth = json_depth(body)
    if depth > MAX_DEPTH:
        _bad("too_deep", f"the body nests arrays and objects {depth} levels deep; at most {MAX_DEPTH}")
    huge = _HUGE_NUMBER.search(body) is not None  # rare: only then pay for a Python call per float
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_finite if huge else None)
    except json.JSONDecodeError as exc:
        _bad("malformed_json", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except RecursionError:  # cannot happen below MAX_DEPTH; kept so a parser change cannot turn into a 500
        _bad("too_deep", f"the body nests arrays and objects more than {MAX_DEPTH} levels deep")
    except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
        _bad("malformed_json", f"the body is not usable JSON: {exc}")


# -- the middleware -------------------------------------------------------------------------------

class _Refused(Exception):
    def __init__(self, error: JingyunError, *, read_all: bool = False):
        self.error = error
        self.read_all = read_all  # the whole body was already received: nothing is left to drain


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


class BodyMiddleware:
    """Reads the whole body under the cap, decodes gzip, checks JSON, then hands the app the body."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY, parse_later: frozenset[str] = frozenset()):
        self.app = app
        self.limit = limit
        self.parse_later = parse_later

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        drained = True
        try:
            coding = _header(scope, b"content-encoding").strip().lower()
            if coding not in ("", "identity", "gzip"):
                raise _Refused(JingyunError("unsupported_media_type", f"Content-Encoding {coding} is not accepted: send "
                                            "the body uncompressed or with gzip", "Content-Encoding", status=415))
            length = _header(scope, b"content-length")
            if length.isdigit() and int(length) > self.limit:
                if "100-continue" in _header(scope, b"expect").lower():
                    drained = False  # the client waits for our go-ahead: it sends nothing, so there is nothing to drain
                raise _Refused(self._too_large())
            body, complete = await self._read(receive, gzip=coding == "gzip")
            if not complete:
                return  # the client went away
        except _Refused as refused:
            if drained and not refused.read_all:
                drained = await self._drain(receive)
            await self._answer(refused.error, scope, receive, send, close=not drained)
            return
        if coding == "gzip":
            headers = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"content-encoding", b"content-length")]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        ctype = _header(scope, b"content-type")
        if body and is_json_type(ctype) and scope["path"] not in self.parse_later:
            try:
                check_charset(ctype)
                parse_json(body)
            except JingyunError as exc:
                await self._answer(exc, scope, receive, send, close=False)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> JingyunError:
        return JingyunError("too_large", f"request body over {self.limit} bytes; split it into batches of at most "
                            "1,000 records and 1 MB", None, status=413)

    async def _read(self, receive: Receive, *, gzip: bool) -> tuple[bytes, bool]:
        last = [False]  # the message just received was the body's last
        try:
            return await self._inflate(receive, gzip=gzip, last=last)
        except _Refused as refused:
            # refused on the body's last message: waiting to drain more would only wait for the drain timeout
            refused.read_all = last[0]
            raise

    async def _inflate(self, receive: Receive, *, gzip: bool, last: list[bool]) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        raw = size = 0
        inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if gzip else None
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", False
            chunk = message.get("body", b"")
            last[0] = not message.get("more_body", False)
            raw += len(chunk)
            if raw > self.limit:
                raise _Refused(self._too_large())
            if inflate is not None and chunk:
                try:
                    # never more than one byte past the cap, whatever the ratio: a zip bomb stops here
                    chunk = inflate.decompress(chunk, self.limit - size + 1)
                except zlib.error:
                    raise _Refused(JingyunError("bad_encoding", "the body is not valid gzip", "Content-Encoding",
                                                status=400)) from None
                if inflate.unconsumed_tail or inflate.unused_data:
                    raise _Refused(self._too_large() if inflate.unconsumed_tail else JingyunError(
                        "bad_encoding", "data after the end of the gzip stream", "Content-Encoding", status=400))
            size += len(chunk)
            if size > self.limit:
                raise _Refused(self._too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if inflate is not None and raw and not inflate.eof:
            raise _Refused(JingyunError("bad_encoding", "the gzip stream is cut short", "Content-Encoding", status=400))
        return b"".join(chunks), True

    async def _drain(self, receive: Receive) -> bool:
        """Read the rest of a refused body (bounded); True when all of it was read."""
        seen = 0
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                while seen <= DRAIN_LIMIT:
                    message = await receive()
                    if message["type"] != "http.request":
                        return False
                    seen += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        return True
        except TimeoutError:
            pass
        return False

    async def _answer(self, exc: JingyunError, scope: Scope, receive: Receive, send: Send, *, close: bool) -> None:
        from jingyun.api.errors import error_response

        headers = {"Connection": "close"} if close else None
        await error_response(exc.status, exc.code, exc.message, exc.field, headers)(scope, receive, send)
