"""The control channel is the home owner's alone: a 0600 socket in a 0700 folder, the peer's uid
checked (another local user is refused even where the modes were loosened), and nothing listens on
TCP but the HTTP port."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from control_support import Service, free_port, jingyun

# stdlib only, so that `nobody` can run it with the system Python: one run request, print the answer
PROBE = r"""
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print(json.dumps({"connect": type(exc).__name__})); sys.exit(0)
body = json.dumps({"op": "run", "argv": ["query", "SELECT 1", "--json"], "cwd": "/", "env": {}, "tty": {}}).encode()
s.sendall(struct.pack(">I", len(body)) + body)
frames = []
while True:
    head = s.recv(4)
    if len(head) < 4: break
    n, = struct.unpack(">I", head); data = b""
    while len(data) < n: data += s.recv(n - len(data))
    frames.append(json.loads(data))
print(json.dumps({"connect": "ok", "frames": frames}))
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("ctlsec")
    home = root / "home"
    assert jingyun(home, "demo", "--users", "100", "--days", "30").returncode == 0
    svc = Service(home, free_port(), root / "cwd")
    try:
        yield svc
    finally:
        svc.stop()


def _listening_tcp_ports(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def test_socket_is_private_and_nothing_but_http_listens_on_tcp(service: Service) -> None:
    owner = json.loads((service.home / "run" / "owner.json").read_text())
    sock = Path(owner["socket"])
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((service.home / "run" / "owner.json").stat().st_mode) == 0o600
    assert owner["pid"] == service.proc.pid and owner["http"] == f"127.0.0.1:{service.port}"
    assert _listening_tcp_ports(service.proc.pid) == {service.port}  # the control channel is not on TCP


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another local user (runuser -u nobody)")
def test_another_local_user_is_refused(service: Service) -> None:
    python = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.path.exists(p)), None)
    if python is None:
        pytest.skip("no system python3 that another user may run")
    sock = json.loads((service.home / "run" / "owner.json").read_text())["socket"]

    def as_nobody() -> dict:
        out = subprocess.run(["runuser", "-u", "nobody", "--", python, "-c", PROBE, sock],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    assert as_nobody()["connect"] == "PermissionError"  # the modes keep it out
    # loosen every mode on the way (as a careless admin might): the uid check still refuses
    changed = []
    for path in [*reversed(Path(sock).parents), Path(sock)]:
        if str(path) in ("/", "/tmp"):
            continue
        changed.append((path, stat.S_IMODE(path.stat().st_mode)))
        path.chmod(0o777 if path == Path(sock) else 0o711)
    try:
        answer = as_nobody()
    finally:
        for path, mode in changed:
            path.chmod(mode)
    assert answer["connect"] == "ok"
    assert answer["frames"] == [{"t": "error", "code": "control_refused",
                                 "message": answer["frames"][0]["message"]}]
    assert "uid 65534" in answer["frames"][0]["message"]
    # and the owner's own client still gets in
    ok = jingyun(service.home, "query", "SELECT 1 AS one", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["rows"] == [{"one": 1}]
