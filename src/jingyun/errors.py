"""One error type for the whole package.

Library code raises :class:`JingyunError` with a stable ``code``, a message a
user can act on and, where one is at fault, the ``field``. The CLI turns it
into a one-line message and a non-zero exit; the API into a 4xx JSON body.
"""

from __future__ import annotations


class JingyunError(Exception):
    """A user-facing error: ``code`` is stable, ``message`` is actionable."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.code}{where}: {self.message}"


def one_line(text: str) -> str:
    """The text with its line breaks and runs of spaces made single spaces (the CLI's
    promise: every error is one line, whatever a library put in its message)."""
    return " ".join(text.split())


def yaml_problem(exc: Exception) -> str:
    """A YAML parse error as "<problem> at line L, column C" (PyYAML's own text spans
    several lines and quotes the document)."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return one_line(str(exc))
