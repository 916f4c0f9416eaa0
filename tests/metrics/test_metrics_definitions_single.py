"""Issue 17 "done when": searching ``src/`` finds one test-account exclusion (``definitions.real_people``);
no module writes its own copy again."""

from __future__ import annotations

import re
from pathlib import Path

import jingyun

SRC = Path(jingyun.__file__).parent
HOME = SRC / "metrics" / "definitions.py"
# ``NOT coalesce(is_test, FALSE)``, ``NOT is_test``, ``is_test = FALSE`` … in any module but the definitions.
# ingest/ sets the flag (validate.py's test rule, identity.py's propagation to a test user's rows): it filters nothing.
EXCLUSION = re.compile(r"NOT\s+(coalesce\(\s*)?(\w+\.)?is_test\b|is_test\s*(=|IS)\s*(FALSE|NOT TRUE)", re.I)


def _hits(pattern: re.Pattern[str]) -> list[str]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        if path == HOME or path.is_relative_to(SRC / "ingest"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                out.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    return out


def test_one_test_account_exclusion() -> None:
    assert _hits(EXCLUSION) == []
