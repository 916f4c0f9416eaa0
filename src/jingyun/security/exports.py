"""Cells written to CSV and Excel files, safe to open in a spreadsheet (formula injection).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and some
treat a leading tab or carriage return the same way, so a user name of
``=HYPERLINK("http://x","y")`` would become a link, or worse, in whoever opens the export. As
OWASP recommends, such a text gets a leading single quote: the spreadsheet shows it as text, and
a reader sees the quote. Only text is escaped: numbers (negative ones included), dates and
booleans stay typed values. Every exporter writes its rows through :func:`safe_row`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value``, with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
