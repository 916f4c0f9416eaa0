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
