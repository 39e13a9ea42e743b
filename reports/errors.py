"""Errors raised by ``reports``.

Each class also inherits the builtin it resembles; only ``webmap`` maps them to HTTP codes.
"""

from __future__ import annotations


class ReportError(Exception):
    """Base class of every report error."""


class PeriodError(ReportError, ValueError):
    """A period label (``2025-03``, ``2025-W12``) is malformed or out of range."""


class ReportConfigError(ReportError, ValueError):
    """The index configuration file is unreadable or holds a bad value.

    Attributes:
        path: the configuration file.
        field: the dotted name of the offending setting, when known.
        reason: what is wrong.
    """

    def __init__(self, path: str, reason: str, field: str | None = None) -> None:
        self.path = path
        self.field = field
        self.reason = reason
        where = f"{path}, field '{field}'" if field else path
        super().__init__(f"{where}: {reason}")


class UnitNotFound(ReportError, LookupError):
    """The district asked for does not exist."""


class RenderError(ReportError, RuntimeError):
    """An output file could not be produced."""
