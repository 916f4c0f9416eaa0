"""Per-thread stdout, stderr, stdin and environment inside the service.

Typer, Click, Rich and ``print`` all write to ``sys.stdout``/``sys.stderr`` and read ``os.environ``:
process-wide objects. The service installs, once, proxies that send each command thread's writes
to its own client and show it its own ``JINGYUN_*`` environment (and terminal hints such as
``COLUMNS``); every other thread (uvicorn, the writer) sees the process's real streams and
environment, unchanged. Threads a command starts (Rich's refresh thread, the ingest read-ahead)
inherit its binding: ``threading.Thread.start`` copies the starting thread's context.

Limits: a subprocess started without ``env=`` inherits the service's real environment; a thread pool
created by one command keeps that command's binding in its workers.
"""

from __future__ import annotations

import contextvars
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Binding:
    """Where one command's output goes: ``send(stream, text)``, and what the client's streams are."""

    send: Callable[[str, str], None]
    tty: dict[str, bool] = field(default_factory=dict)


_IO: contextvars.ContextVar[Binding | None] = contextvars.ContextVar("jingyun_io", default=None)
_ENV: contextvars.ContextVar[dict[str, str | None] | None] = contextvars.ContextVar("jingyun_env", default=None)


class ThreadStream:
    """``sys.stdout``/``sys.stderr``: the bound client's stream in a command thread, the real one elsewhere."""

    def __init__(self, name: str, real: Any):
        self.name = name
        self.real = real

    def write(self, text: str) -> int:
        binding = _IO.get()
        if binding is None:
            return int(self.real.write(text))
        if not isinstance(text, str):  # Click probes with write(b""): a text stream must refuse bytes
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            binding.send(self.name, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _IO.get() is None:
            self.real.flush()

    def isatty(self) -> bool:
        binding = _IO.get()
        return bool(binding.tty.get(self.name)) if binding is not None else bool(self.real.isatty())

    def fileno(self) -> int:
        if _IO.get() is not None:
            raise io.UnsupportedOperation("a command's stream in the service has no file descriptor")
        return int(self.real.fileno())

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return False if _IO.get() is not None else bool(self.real.closed)

    @property
    def encoding(self) -> str:
        return "utf-8" if _IO.get() is not None else str(self.real.encoding)

    @property
    def errors(self) -> str:
        return "strict" if _IO.get() is not None else str(self.real.errors)

    def __getattr__(self, name: str) -> Any:
        if _IO.get() is not None:  # e.g. .buffer: a binary write would bypass the client's stream
            raise AttributeError(name)
        return getattr(self.real, name)


class ThreadStdin(ThreadStream):
    """A command through the service has no stdin: it reads end-of-file (prompts abort)."""

    def read(self, size: int = -1) -> str:
        return "" if _IO.get() is not None else str(self.real.read(size))

    def readline(self, size: int = -1) -> str:
        return "" if _IO.get() is not None else str(self.real.readline(size))

    def readable(self) -> bool:
        return True


class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` with a per-command overlay: a key in the overlay wins; ``None`` there hides it."""

    def __init__(self, real: MutableMapping[str, str]):
        self.real = real

    def __getitem__(self, key: str) -> str:
        overlay = _ENV.get()
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is None:
                raise KeyError(key)
            return value
        return self.real[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = _ENV.get()
        if overlay is None:
            self.real[key] = value
        else:  # a command's own setting stays in its overlay, never leaks into the service
            overlay[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = _ENV.get()
        if overlay is None:
            del self.real[key]
            return
        if key not in self:
            raise KeyError(key)
        overlay[key] = None

    def __iter__(self) -> Iterator[str]:
        overlay = _ENV.get()
        if overlay is None:
            yield from self.real
            return
        for key in self.real:
            if key not in overlay:
                yield key
        for key, value in overlay.items():
            if value is not None:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)

    def __getattr__(self, name: str) -> Any:  # encodekey, decodevalue... of os._Environ
        return getattr(self.real, name)


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Put the proxies in place (once per process; the service calls it before serving commands)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        sys.stdout = ThreadStream("stdout", sys.stdout)
        sys.stderr = ThreadStream("stderr", sys.stderr)
        sys.stdin = ThreadStdin("stdin", sys.stdin)
        env = ThreadEnviron(os.environ)
        os.environ = env  # type: ignore[assignment]  # noqa: B003 - a proxy, not a new environment
        try:  # Rich reads the environment through a class attribute captured at import
            from rich.console import Console

            Console._environ = env
        except ImportError:  # pragma: no cover
            pass
        original_start = threading.Thread.start

        def start(self: threading.Thread) -> None:
            if _IO.get() is not None or _ENV.get() is not None:
                context = contextvars.copy_context()
                run = self.run
                self.run = lambda: context.run(run)  # type: ignore[method-assign]
            original_start(self)

        threading.Thread.start = start  # type: ignore[method-assign]
        _installed = True


def bind(binding: Binding, env: dict[str, str | None]) -> tuple[contextvars.Token[Binding | None],
                                                                  contextvars.Token[dict[str, str | None] | None]]:
    return _IO.set(binding), _ENV.set(env)


def unbind(tokens: tuple[contextvars.Token[Binding | None], contextvars.Token[dict[str, str | None] | None]]) -> None:
    _IO.reset(tokens[0])
    _ENV.reset(tokens[1])


def real_environ() -> MutableMapping[str, str]:
    """The process's own environment, whatever the calling thread's overlay."""
    env = os.environ
    return env.real if isinstance(env, ThreadEnviron) else env
