"""Domain errors of the detection package.

Each class also inherits the builtin exception it resembles, so callers may catch
either the domain class or the builtin (the rasterio habit).
"""

from __future__ import annotations


class DetectionError(Exception):
    """Base class of every error raised by :mod:`detection`."""


class TileReadError(DetectionError, OSError):
    """A raster file could not be opened or read (missing, corrupt, unsupported)."""


class TileWriteError(DetectionError, OSError):
    """An output file could not be written."""


class GridMismatchError(DetectionError, ValueError):
    """Two images cannot be put on one grid (no CRS on one side, different sizes, no overlap)."""


class AlignmentError(DetectionError, RuntimeError):
    """Co-registration failed or produced an implausible shift."""


class ModelError(DetectionError, RuntimeError):
    """The learned model file is missing, unreadable or of the wrong version."""


class RegionsError(DetectionError, ValueError):
    """A file of regions (polygons to look in) cannot be read or holds no polygon."""
