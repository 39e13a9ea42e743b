"""Masks to polygons: cleaned, simplified, with area in m² and a score."""

from __future__ import annotations

import math

import cv2
import numpy as np
from affine import Affine
from rasterio.features import shapes
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from detection.types import APPEARED, DISAPPEARED, ChangePolygon

_KINDS = {APPEARED: "appeared", DISAPPEARED: "disappeared"}


def is_geographic(crs: str | None) -> bool:
    """Whether ``crs`` has degrees as units."""
    if crs is None:
        return False
    from rasterio.crs import CRS

    return bool(CRS.from_user_input(crs).is_geographic)


def polygon_area_m2(geom: BaseGeometry, crs: str | None) -> float | None:
    """Ground area in m²: planar for projected CRS, a local approximation for degrees, None without CRS."""
    if crs is None:
        return None
    if is_geographic(crs):
        lat = geom.centroid.y
        return float(geom.area * (111_320.0**2) * math.cos(math.radians(lat)))
    return float(geom.area)


def vectorize(
    mask: np.ndarray,
    score: np.ndarray,
    transform: Affine,
    crs: str | None,
    *,
    min_area_m2: float = 5.0,
    min_area_px: int = 40,
    simplify_px: float = 1.0,
) -> list[ChangePolygon]:
    """Polygons of a labelled change mask.

    Args:
        mask: ``(h, w)`` uint8 with 0 / APPEARED / DISAPPEARED.
        score: ``(h, w)`` float32 per-pixel blob score.
        transform: pixel-to-CRS transform of ``mask``.
        crs: CRS or None (pixel coordinates).
        min_area_m2: smallest polygon kept when the CRS is known.
        min_area_px: smallest polygon kept (pixels) otherwise.
        simplify_px: simplification tolerance in pixels (topology preserved).

    Returns:
        One :class:`ChangePolygon` per connected blob (holes kept).
    """
    out: list[ChangePolygon] = []
    if not mask.any():
        return out
    px = float((abs(transform.a) * abs(transform.e)) ** 0.5) or 1.0
    for value, kind in _KINDS.items():
        sel = (mask == value).astype(np.uint8)
        if not sel.any():
            continue
        n, lab, stats, _ = cv2.connectedComponentsWithStats(sel, connectivity=8)
        # each blob is traced in its own bounding box: most of a window is empty, and tracing
        # the whole label image costs far more than the few blobs it holds
        for label in range(1, n):
            x, y, bw, bh = (int(v) for v in stats[label, :4])
            own = lab[y : y + bh, x : x + bw] == label
            mean = float(score[y : y + bh, x : x + bw][own].mean())
            t = transform @ Affine.translation(x, y)
            geom_json = next(iter(shapes(own.astype(np.uint8), mask=own, transform=t, connectivity=8)))[0]
            geom = shape(geom_json)
            if simplify_px > 0:
                geom = geom.simplify(simplify_px * px, preserve_topology=True)
            if geom.is_empty:
                continue
            area = polygon_area_m2(geom, crs)
            if area is not None and area < min_area_m2:
                continue
            if area is None and geom.area < min_area_px:
                continue
            out.append(ChangePolygon(geom, kind, area, float(np.clip(mean, 0, 1)), crs))  # type: ignore[arg-type]
    return out
