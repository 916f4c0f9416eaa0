"""Home files are narrowed to their owner, but a shared sticky folder (/tmp) is never narrowed:
a warehouse file placed straight in /tmp once made /tmp 1700, which locked every other user
(PostgreSQL's initdb as nobody in the store tests) out of it."""

from __future__ import annotations

import stat
from pathlib import Path

from jingyun.security.files import private_dir, private_file


def test_a_private_dir_is_narrowed_but_a_shared_sticky_one_is_left_alone(tmp_path: Path) -> None:
    own = tmp_path / "home"
    own.mkdir(mode=0o755)
    own.chmod(0o755)
    private_dir(own)
    assert stat.S_IMODE(own.stat().st_mode) == 0o700

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    private_dir(shared)
    private_file(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777


def test_a_file_is_narrowed(tmp_path: Path) -> None:
    f = tmp_path / "members.csv"
    f.write_text("x")
    f.chmod(0o644)
    private_file(f)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
