"""One module per engine; analysis code never branches on the engine."""

from __future__ import annotations

from typing import Protocol

import pyarrow as pa


class Backend(Protocol):
    name: str

    def run(self, sql: str) -> pa.Table:
        """Run a portable query and return its rows as Arrow."""
        ...
