"""Files under the workspace home: private to their owner, and never named in full to a client.

The home holds personal data in many files, written by many modules and by DuckDB and SQLite
themselves (the warehouse and its WAL, ``meta.sqlite`` and its journals, quarantine, segments,
exports, the lake, ``secret.key``). Rather than a mode at each of those places, the process
umask becomes ``077`` when a home is opened: whatever is created afterwards, by Python or by
the engines, is 0600 (directories 0700). Files left by an older version with wider modes are
narrowed once per process. The umask is process-wide: files a Jingyun command writes elsewhere
(an export to ``~/members.xlsx``) are private too, which is what an export of personal data wants.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

PRIVATE_UMASK = 0o077
_lock = threading.Lock()
_narrowed: set[Path] = set()


def private_home(home: Path) -> None:
    """Make everything created from now on owner-only, and narrow what ``home`` already holds."""
    os.umask(PRIVATE_UMASK)
    if not home.is_dir():
        return
    key = home.resolve()
    with _lock:
        if key in _narrowed:
            return
        _narrowed.add(key)
    _narrow(key)
    for root, dirs, files in os.walk(key):
        for name in (*dirs, *files):
            _narrow(Path(root) / name)


def private_dir(path: Path) -> None:
    """``mkdir -p`` with mode 0700, whatever the umask of whoever called us."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _narrow(path)


def private_file(path: Path) -> None:
    """Narrow one file to its owner (a no-op when it is missing or not ours)."""
    _narrow(path)


def _narrow(path: Path) -> None:
    try:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or not st.st_mode & 0o077:
            return
        if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX:
            return  # a shared sticky folder (/tmp holding a warehouse file): others' files live there too
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
    except OSError:
        pass  # gone meanwhile, or not ours to change: nothing a reader could use us to do


def public_path(path: str | Path, home: Path) -> str:
    """How a response names a file: relative to the home, else its bare name (never a server path)."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(home.resolve()).as_posix()
    except (ValueError, OSError):
        return p.name
