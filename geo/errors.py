"""Domain errors raised by ``geo``.

Each class also inherits the builtin it resembles, so callers that do not know the
domain can still catch it. Only ``webmap`` maps these to HTTP status codes.
"""

from __future__ import annotations


class GeoError(Exception):
    """Base class of every domain error."""


class ConfigError(GeoError, RuntimeError):
    """The environment or configuration is unusable."""


class DatabaseUnavailable(GeoError, ConnectionError):
    """The database could not be started or reached."""


class NotFound(GeoError, LookupError):
    """A requested object does not exist (or is outside the caller's scope)."""


class PermissionDenied(GeoError, PermissionError):
    """The user may not perform this action."""


class InvalidTransition(GeoError, ValueError):
    """A status change that the workflow does not allow.

    Attributes:
        current: the item's status now.
        target: the status that was asked for.
    """

    def __init__(self, current: str | None, target: str, detail: str = "") -> None:
        self.current = current
        self.target = target
        msg = f"transition from '{current}' to '{target}' is not allowed"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class ConflictError(GeoError, RuntimeError):
    """Somebody else changed the object since it was read (optimistic locking)."""


class ImportFileError(GeoError, ValueError):
    """An import file is unreadable or holds a bad row.

    Attributes:
        path: the file.
        row: 1-based row (feature) number, or None for file-level problems.
        reason: what is wrong.
    """

    def __init__(self, path: str, reason: str, row: int | None = None, field: str | None = None) -> None:
        self.path = path
        self.row = row
        self.field = field
        self.reason = reason
        where = path if row is None else f"{path}, row {row}"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {reason}")


class ValidationError(GeoError, ValueError):
    """Input data is invalid; the message names the field and the reason."""
