"""Before/after image chips of a detection, for reviewers (PNG bytes)."""

from __future__ import annotations

import os

import cv2
import numpy as np
from affine import Affine
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from detection import align, rasterio_io
from detection.errors import TileWriteError
from detection.pipeline import _read_pair_window
from detection.types import ImageData


def _outline(rgb: np.ndarray, geom: BaseGeometry, to_px: object, colour: tuple[int, int, int]) -> np.ndarray:
    img = np.ascontiguousarray(rgb)
    polys = getattr(geom, "geoms", [geom])
    for poly in polys:
        ext = getattr(poly, "exterior", None)
        if ext is None:
            continue
        pts = np.array([to_px @ xy for xy in ext.coords], np.float32)  # type: ignore[operator]
        cv2.polylines(img, [np.round(pts).astype(np.int32)], True, colour, 1, cv2.LINE_AA)
    return img


def _encode(rgb: np.ndarray, size: int) -> bytes:
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    interp = cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA
    out = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
    if not ok:
        raise TileWriteError("PNG 编码失败 / PNG encoding failed")
    return buf.tobytes()


def chips_from_arrays(
    before: ImageData,
    after: ImageData,
    geometry: BaseGeometry,
    margin: float = 0.5,
    size: int = 256,
    outline: bool = True,
) -> tuple[bytes, bytes]:
    """Chips of a polygon's neighbourhood from two in-memory images on the after grid.

    Args:
        before: earlier image (resampled onto ``after``'s grid if needed).
        after: later image.
        geometry: polygon in ``after``'s CRS (pixel coordinates without CRS).
        margin: context around the bounding box, as a share of its size.
        size: longest side of each chip in pixels.
        outline: draw the polygon outline.

    Returns:
        ``(before_png, after_png)`` bytes.
    """
    b_on = align.reproject_to_grid(before, after.transform, after.crs, (after.height, after.width))
    inv = ~after.transform
    x0, y0, x1, y1 = _pixel_box(geometry, after.transform, after.width, after.height, margin)

    to_px = Affine.translation(-x0, -y0) @ inv
    out = []
    for img, colour in ((b_on, (255, 64, 0)), (after, (255, 0, 0))):
        rgb = align.to_rgb8(img.array[:, y0:y1, x0:x1])
        if outline:
            rgb = _outline(rgb, geometry, to_px, colour)
        out.append(_encode(rgb, size))
    return out[0], out[1]


def chips_for_polygon(
    before_path: str | os.PathLike[str],
    after_path: str | os.PathLike[str],
    geometry: BaseGeometry,
    margin: float = 0.5,
    size: int = 256,
    outline: bool = True,
) -> tuple[bytes, bytes]:
    """Before/after PNG chips around ``geometry`` read from two raster files (windowed reads only).

    Args:
        before_path: earlier raster.
        after_path: later raster; ``geometry`` is in its CRS (pixel coordinates when plain).
        geometry: the detection polygon.
        margin: context around the bounding box, as a share of its size.
        size: longest side of each chip.
        outline: draw the polygon outline.

    Returns:
        ``(before_png, after_png)`` bytes.

    Raises:
        TileReadError: a file cannot be read.
    """
    from detection.pipeline import check_pair

    bi, ai = check_pair(before_path, after_path)
    x0, y0, x1, y1 = _pixel_box(geometry, ai.transform, ai.width, ai.height, margin)
    win = Window(x0, y0, max(1, x1 - x0), max(1, y1 - y0))
    before, after = _read_pair_window(str(before_path), str(after_path), ai, bi, win)
    return chips_from_arrays(before, after, geometry, margin=0.0, size=size, outline=outline)


def _pixel_box(geometry: BaseGeometry, transform: Affine, width: int, height: int,
               margin: float) -> tuple[int, int, int, int]:
    """Pixel bounds ``(x0, y0, x1, y1)`` of ``geometry``'s box plus a margin, clipped to the grid."""
    inv = ~transform
    minx, miny, maxx, maxy = geometry.bounds
    c0, r0 = inv @ (minx, maxy)
    c1, r1 = inv @ (maxx, miny)
    c0, c1 = sorted((c0, c1))
    r0, r1 = sorted((r0, r1))
    mw, mh = max(8.0, (c1 - c0) * margin), max(8.0, (r1 - r0) * margin)
    x0, y0 = max(0, int(c0 - mw)), max(0, int(r0 - mh))
    x1, y1 = min(width, int(np.ceil(c1 + mw))), min(height, int(np.ceil(r1 + mh)))
    return x0, y0, x1, y1


__all__ = ["chips_for_polygon", "chips_from_arrays", "rasterio_io"]
