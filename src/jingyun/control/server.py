"""The service's control channel: a Unix socket that runs ``jingyun`` commands inside the service.

One connection carries one request. ``{"op": "run", "argv", "cwd", "env", "tty"}`` runs the Typer
app (``jingyun.cli.main.main``) in the connection's thread with the command's own streams,
environment and warehouse (:mod:`~jingyun.control.threadio`, :mod:`~jingyun.control.ambient`), and
answers ``{"t": "out"|"err", "s": text}`` frames as the command writes, then ``{"t": "exit", "code"}``.
The client closing the connection (Ctrl-C) cancels the command. ``{"op": "status"}`` answers one
``{"t": "status", ...}`` frame: the service's address, uptime, running commands and jobs.

Only the home's owner gets in: the socket is 0600 in a 0700 folder, and each peer's uid
(SO_PEERCRED) must equal the service's, else the connection gets one ``control_refused`` error frame.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jingyun.control import ambient, threadio
from jingyun.control.owner import (
    Owner,
    private_socket_dir,
    recv_frame,
    remove_owner,
    send_frame,
    socket_path,
    write_owner,
)

if TYPE_CHECKING:
    from jingyun.api.writer import IngestWriter

log = logging.getLogger(__name__)

# the client's environment a command sees: its JINGYUN_* settings, and what Rich and Click read
# to size and colour output as they would on the client's terminal
TERMINAL_ENV = ("COLUMNS", "LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE",
                "TTY_INTERACTIVE", "CLICOLOR", "CLICOLOR_FORCE")

# A file ingest inside the service commits chunks of at most this many rows, unless the client sets
# JINGYUN_CHUNK_ROWS: a chunk that falls back to the locked path holds the writer's lock for its
# transaction, so its size bounds how long HTTP ingestion can wait behind the file. The home's own
# chunk_rows applies when smaller. Why not smaller: a chunk that stores a whole DuckDB row group
# (122,880 rows) has it written to the database file during its insert; a smaller one goes through the
# WAL and is written twice (commit, then checkpoint), which made the whole ingest slower
# (bench/results/always_on.md).
SERVICE_CHUNK_ROWS = 130_000

# jobs other parts of the service report to `jingyun status` (the scheduler registers one)
JobLister = Callable[[], list[dict[str, Any]]]
_job_listers: list[JobLister] = []


def register_jobs(lister: JobLister) -> None:
    """Let ``jingyun status`` list what ``lister()`` returns under "jobs"."""
    _job_listers.append(lister)


def peer_uid(conn: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a Unix socket."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", raw)
    return pid, uid


def client_env(given: dict[str, Any], real: Any) -> dict[str, str | None]:
    """The overlay a command sees: the client's JINGYUN_* and terminal keys; the service's own are hidden."""
    overlay: dict[str, str | None] = {k: None for k in list(real) if k.startswith("JINGYUN_") or k in TERMINAL_ENV}
    for key, value in given.items():
        if isinstance(key, str) and (key.startswith("JINGYUN_") or key in TERMINAL_ENV) and isinstance(value, str):
            overlay[key] = value
    return overlay


def service_chunks(overlay: dict[str, str | None], given: dict[str, Any], home_chunk_rows: int) -> None:
    """Cap a command's ingestion chunk at :data:`SERVICE_CHUNK_ROWS` unless the client chose one."""
    if not isinstance(given.get("JINGYUN_CHUNK_ROWS"), str):
        overlay["JINGYUN_CHUNK_ROWS"] = str(min(home_chunk_rows, SERVICE_CHUNK_ROWS))


@dataclass
class Running:
    id: int
    argv: list[str]
    client_pid: int
    started: float
    session: ambient.Session

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "argv": self.argv, "client_pid": self.client_pid,
                "started_at": self.started, "seconds": round(time.time() - self.started, 1)}


class ControlServer:
    """Listens on the home's control socket while the service owns the home."""

    def __init__(self, writer: IngestWriter, *, http: str):
        self.writer = writer
        self.home = writer.wh.settings.home.resolve()
        self.http = http
        self.owner: Owner | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._running: dict[int, Running] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> Owner:
        threadio.install()
        path = socket_path(self.home)
        private_socket_dir(path.parent)
        # the DuckDB file lock is ours, so whoever left this socket is gone
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(64)
        self._sock = sock
        self.owner = Owner(os.getpid(), os.geteuid(), str(path), self.http, time.time(), str(self.home))
        write_owner(self.owner)
        self._thread = threading.Thread(target=self._accept, name="jingyun-control", daemon=True)
        self._thread.start()
        return self.owner

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop taking commands, cancel the running ones (each chunk commits whole or not at all),
        wait for them up to ``grace_s``, and remove the owner file and socket."""
        self._stopping.set()
        if self.owner is not None:
            remove_owner(self.owner)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        with self._lock:
            running = list(self._running.values())
        for item in running:
            item.session.cancel("the service is stopping")
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    break
            time.sleep(0.05)

    def status(self) -> dict[str, Any]:
        owner = self.owner
        with self._lock:
            commands = [r.to_dict() for r in self._running.values()]
        jobs: list[dict[str, Any]] = []
        for lister in _job_listers:
            try:
                jobs.extend(lister())
            except Exception as exc:  # a broken lister must not hide the rest
                log.warning("job lister failed: %s", exc)
        return {"pid": os.getpid(), "home": str(self.home), "socket": owner.socket if owner else None,
                "http": self.http, "started_at": owner.started_at if owner else None,
                "uptime_s": round(time.time() - owner.started_at, 1) if owner else 0.0,
                "commands": commands, "jobs": jobs}

    # -- connections --------------------------------------------------------------------------
    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="jingyun-command", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                pid, uid = peer_uid(conn)
                if uid != os.geteuid():
                    log.warning("control channel: refused uid %s (pid %s)", uid, pid)
                    _refuse(conn, uid)
                    return
                request = recv_frame(conn)
                if request is None:
                    return
                if request.get("op") == "status":
                    send_frame(conn, {"t": "status", **self.status()})
                elif request.get("op") == "run":
                    self._run(conn, request, pid)
                else:
                    send_frame(conn, {"t": "error", "code": "bad_request", "message": "unknown op"})
            except (OSError, ValueError) as exc:
                log.info("control connection ended: %s", exc)

    def _run(self, conn: socket.socket, request: dict[str, Any], client_pid: int) -> None:
        argv = [str(a) for a in request.get("argv") or []]
        if self._stopping.is_set():
            send_frame(conn, {"t": "error", "code": "service_stopping", "message": "the service is stopping"})
            return
        session = ambient.Session(self.writer)
        send_lock = threading.Lock()
        done = threading.Event()

        def send(stream: str, text: str) -> None:
            if session.cancelled.is_set():
                return  # nobody is listening, or the command's last words would confuse the client
            try:
                with send_lock:
                    send_frame(conn, {"t": "out" if stream == "stdout" else "err", "s": text})
            except OSError:
                session.cancel("the client closed the connection")

        def watch() -> None:  # the client closing its end (Ctrl-C) cancels the command
            with contextlib.suppress(OSError, ValueError):
                while recv_frame(conn) is not None:
                    pass
            if not done.is_set():
                session.cancel("the client closed the connection")

        item = Running(next(self._ids), argv, client_pid, time.time(), session)
        with self._lock:
            self._running[item.id] = item
        tty = request.get("tty") or {}
        binding = threadio.Binding(send, {k: bool(v) for k, v in tty.items()})
        given = request.get("env") or {}
        overlay = client_env(given, threadio.real_environ())
        service_chunks(overlay, given, self.writer.wh.settings.chunk_rows)
        tokens = threadio.bind(binding, overlay)
        entered = ambient.enter(session)
        watcher = threading.Thread(target=watch, name="jingyun-command-watch", daemon=True)
        code = 3
        try:
            watcher.start()
            code = _run_cli(argv)
        finally:
            done.set()
            ambient.leave(entered)
            threadio.unbind(tokens)
            session.close()
            with self._lock:
                self._running.pop(item.id, None)
        with contextlib.suppress(OSError):
            with send_lock:
                if session.cancelled.is_set() and self._stopping.is_set():
                    send_frame(conn, {"t": "error", "code": "service_stopped",
                                      "message": f"the service stopped during the command ({session.reason}); "
                                                 "committed chunks are kept, rerun it to finish"})
                else:
                    send_frame(conn, {"t": "exit", "code": code})
            conn.shutdown(socket.SHUT_RDWR)


def _refuse(conn: socket.socket, uid: int) -> None:
    """One error frame for another user's client, read nothing of its request (a little is drained, so
    closing does not reset the connection before the client reads the answer)."""
    conn.settimeout(2.0)
    with contextlib.suppress(OSError):
        conn.recv(65536)
    send_frame(conn, {"t": "error", "code": "control_refused",
                      "message": f"uid {uid} may not use this service's control channel; only its owner may"})
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
        conn.recv(65536)


def _run_cli(argv: list[str]) -> int:
    from jingyun.cli.main import main

    try:
        return main(argv)
    except KeyboardInterrupt:  # cancelled outside click's own handling
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # never let a command take the service's thread down
        log.exception("command %s failed: %s", argv, exc)
        return 3


