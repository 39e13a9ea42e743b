"""Masks to polygons: cleaned, simplified, with area in m² and a score."""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np
from affine import Affine
from rasterio.features import shapes
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from detection.types import APPEARED, DISAPPEARED, ChangePolygon

_KINDS = {APPEARED: "appeared", DISAPPEARED: "disappeared"}


@lru_cache(maxsize=64)
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
    # one label image for both kinds, traced once within the bounds of the changed pixels
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    sub = mask[y0:y1, x0:x1]
    labels = np.zeros(sub.shape, np.int32)
    kinds: list[str] = [""]
    for value, kind in _KINDS.items():
        sel = (sub == value).astype(np.uint8)
        if not sel.any():
            continue
        n, lab = cv2.connectedComponents(sel, connectivity=8, ltype=cv2.CV_32S)
        labels[sel > 0] = lab[sel > 0] + (len(kinds) - 1)
        kinds.extend([kind] * (n - 1))
    flat = labels.ravel()
    sums = np.bincount(flat, weights=score[y0:y1, x0:x1].ravel().astype(np.float64), minlength=len(kinds))
    means = sums / np.maximum(np.bincount(flat, minlength=len(kinds)), 1)
    t = transform @ Affine.translation(x0, y0)
    traced = sorted(
        ((int(v), g) for g, v in shapes(labels, mask=labels > 0, transform=t, connectivity=8)), key=lambda q: q[0]
    )
    for label, geom_json in traced:
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
        mean = float(np.clip(means[label], 0, 1))
        out.append(ChangePolygon(geom, kinds[label], area, mean, crs))  # type: ignore[arg-type]
    return out
