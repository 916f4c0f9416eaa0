"""One timeline entry as the console shows it (approval requests, incidents): the library's entries are
worded at the edge, in the reader's language, into this shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Line:
    """One timeline entry as the reader reads it: its time, who, what happened and what it says."""

    ts: Any
    author: str
    kind: str
    label: str
    text: str
