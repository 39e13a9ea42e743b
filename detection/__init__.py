"""Pure image work: before/after rasters in, change polygons out.

Only numpy, OpenCV, rasterio, shapely and scikit-learn are used here; this package never
imports ``geo``, ``webmap``, ``reports``, Flask or SQLAlchemy.

Public entry points:

* :func:`detection.pipeline.detect_arrays` -- two :class:`~detection.types.ImageData` in memory.
* :func:`detection.pipeline.detect_files` -- two raster files, windowed, optionally over Dask.
* :func:`detection.chips.chips_for_polygon` -- before/after PNG chips for a reviewer.
* :func:`detection.distributed.get_client` -- a Dask client (LocalCluster or given scheduler).
"""

from __future__ import annotations

from detection.errors import (
    AlignmentError,
    DetectionError,
    GridMismatchError,
    ModelError,
    TileReadError,
    TileWriteError,
)
from detection.types import ChangePolygon, ChangeResult, DetectParams, ImageData

__all__ = [
    "AlignmentError",
    "ChangePolygon",
    "ChangeResult",
    "DetectParams",
    "DetectionError",
    "GridMismatchError",
    "ImageData",
    "ModelError",
    "TileReadError",
    "TileWriteError",
]
