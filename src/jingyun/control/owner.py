"""Who owns a home: the owner file (``$JINGYUN_HOME/run/owner.json``) and the control socket.

The socket lives in ``$JINGYUN_HOME/run/`` (mode 0700; the socket itself 0600) so only the home's
owner can reach it; the server also checks the peer's uid (SO_PEERCRED). An ``AF_UNIX`` path is
limited to 107 bytes: a home whose path is longer gets its socket in ``/tmp/jingyun-<uid>/`` (0700,
ours, not a link) under a name derived from the home. The owner file names the socket, the service's
pid, its HTTP address and start time, so clients and ``jingyun status`` find it. A file left by a
killed service is stale: its pid is gone or its socket refuses, and commands open the warehouse directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jingyun.errors import JingyunError

MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes with its NUL; keep a margin


@dataclass(frozen=True)
class Owner:
    pid: int
    uid: int
    socket: str  # the control socket's path (AF_UNIX): never a network address
    http: str  # the REST API's host:port, for people and `jingyun status`
    started_at: float  # time.time() when the service took the home
    home: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_dir(home: Path) -> Path:
    return home / "run"


def owner_path(home: Path) -> Path:
    return run_dir(home) / "owner.json"


def socket_path(home: Path) -> Path:
    """The control socket for ``home``: in the home when the path fits sun_path, else under /tmp."""
    path = run_dir(home.resolve()) / "control.sock"
    if len(os.fsencode(str(path))) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(str(home.resolve()))).hexdigest()[:24]
    return Path(f"/tmp/jingyun-{os.geteuid()}") / f"{digest}.sock"


def private_socket_dir(path: Path) -> None:
    """Create the socket's folder 0700, and refuse one that is a link, or someone else's, or open to others."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise JingyunError("unsafe_control_dir", f"{path} is not a folder of this user's; remove it", "home")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)


def write_owner(owner: Owner) -> Path:
    path = owner_path(Path(owner.home))
    private_socket_dir(path.parent)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(owner.to_dict(), f)
    os.replace(tmp, path)
    return path


def read_owner(home: Path) -> Owner | None:
    """The owner file as written, or None (missing, unreadable, or not ours to read)."""
    try:
        data = json.loads(owner_path(home).read_text(encoding="utf-8"))
        return Owner(int(data["pid"]), int(data["uid"]), str(data["socket"]), str(data["http"]),
                     float(data["started_at"]), str(data["home"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_owner(owner: Owner) -> None:
    """Remove the owner file and socket, if they are still this service's."""
    current = read_owner(Path(owner.home))
    if current is not None and current.pid == owner.pid:
        with contextlib.suppress(OSError):
            owner_path(Path(owner.home)).unlink()
    with contextlib.suppress(OSError):
        Path(owner.socket).unlink()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def connect(owner: Owner, timeout: float = 5.0) -> socket.socket | None:
    """A connection to a live owner's control socket, or None when it is stale (pid gone, socket refuses)."""
    if not pid_alive(owner.pid):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(owner.socket)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except PermissionError:
        sock.close()
        raise JingyunError("control_refused", f"the service's control socket {owner.socket} is not yours to use "
                           f"(it belongs to uid {owner.uid})", "home", status=403) from None
    except OSError:
        sock.close()
        return None
    sock.settimeout(None)
    return sock


def live_owner(home: Path) -> tuple[Owner, socket.socket] | None:
    owner = read_owner(home)
    if owner is None:
        return None
    sock = connect(owner)
    return None if sock is None else (owner, sock)


# -- frames: a 4-byte big-endian length, then one JSON object ----------------------------------------
MAX_FRAME = 64 << 20


def send_frame(sock: socket.socket, obj: dict[str, Any]) -> None:
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_frame(sock: socket.socket) -> dict[str, Any] | None:
    """The next frame, or None when the other side closed the connection."""
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    body = _recv_exact(sock, size)
    if body is None:
        return None
    obj = json.loads(body.decode("utf-8"))
    if not isinstance(obj, dict):
        raise ValueError("a frame is a JSON object")
    return obj


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        try:
            part = sock.recv(n - len(buf))
        except (ConnectionResetError, BrokenPipeError):
            return None
        if not part:
            return None
        buf += part
    return bytes(buf)


def uptime(owner: Owner) -> float:
    return max(0.0, time.time() - owner.started_at)
