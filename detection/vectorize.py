"""Masks to polygons: cleaned, simplified, with area in m² and a score."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
from affine import Affine
from rasterio.features import shapes
from shapely.geometry import Polygon
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
    # traced within the bounds of the changed pixels
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    piece = (mask[y0:y1, x0:x1], score[y0:y1, x0:x1], transform @ Affine.translation(x0, y0))
    for poly in vectorize_pieces([piece], crs)[0]:
        geom = poly.geometry
        if simplify_px > 0:
            geom = geom.simplify(simplify_px * px, preserve_topology=True)
        if geom.is_empty:
            continue
        area = polygon_area_m2(geom, crs)
        if area is not None and area < min_area_m2:
            continue
        if area is None and geom.area < min_area_px:
            continue
        out.append(ChangePolygon(geom, poly.change, area, poly.score, crs))
    return out


def vectorize_pieces(
    pieces: Sequence[tuple[np.ndarray, np.ndarray, Affine]], crs: str | None
) -> list[list[ChangePolygon]]:
    """The polygons of many small labelled masks at once (as :func:`vectorize` of each with no
    minimum area and no simplification).

    The masks are laid out on one canvas a pixel apart and traced in one call: a window's few
    dozen changed patches cost one tracing instead of a few dozen (each with its own set-up).

    Args:
        pieces: ``(mask, score, transform)`` of each piece (see :func:`vectorize`).
        crs: their CRS or None.

    Returns:
        The polygons of each piece, in the order of ``pieces``.
    """
    if not pieces:
        return []
    found: list[list[tuple[int, ChangePolygon]]] = [[] for _ in pieces]
    offsets, (ch, cw) = _shelves([m.shape for m, _, _ in pieces])
    canvas = np.zeros((ch, cw), np.uint8)
    scores = np.zeros((ch, cw), np.float32)
    owner = np.zeros((ch, cw), np.int32)
    for k, ((mask, score, _), (oy, ox)) in enumerate(zip(pieces, offsets, strict=True)):
        h, w = mask.shape
        canvas[oy : oy + h, ox : ox + w] = mask
        scores[oy : oy + h, ox : ox + w] = score
        owner[oy : oy + h, ox : ox + w] = k
    labels = np.zeros((ch, cw), np.int32)
    kinds: list[str] = [""]
    for value, kind in _KINDS.items():
        sel = (canvas == value).astype(np.uint8)
        if not sel.any():
            continue
        n, lab = cv2.connectedComponents(sel, connectivity=8, ltype=cv2.CV_32S)
        on = sel > 0
        labels[on] = lab[on] + (len(kinds) - 1)
        kinds.extend([kind] * (n - 1))
    flat = labels.ravel()
    sums = np.bincount(flat, weights=scores.ravel().astype(np.float64), minlength=len(kinds))
    means = sums / np.maximum(np.bincount(flat, minlength=len(kinds)), 1)
    piece_of = np.zeros(len(kinds), np.int64)
    piece_of[flat] = owner.ravel()  # a blob lies in one piece (the pieces are a pixel apart)
    for geom_json, value in shapes(labels, mask=labels > 0, transform=Affine.identity(), connectivity=8):
        label = int(value)
        k = int(piece_of[label])
        oy, ox = offsets[k]
        t = pieces[k][2]
        rings = [_to_crs(np.asarray(r, np.float64), t, ox, oy) for r in geom_json["coordinates"]]
        geom = Polygon(rings[0], rings[1:])
        mean = float(np.clip(means[label], 0, 1))
        found[k].append((label, ChangePolygon(geom, kinds[label], polygon_area_m2(geom, crs), mean, crs)))  # type: ignore[arg-type]
    # each piece's blobs in the order they were labelled: appeared, then disappeared, row by row
    return [[poly for _, poly in sorted(f, key=lambda q: q[0])] for f in found]


def _to_crs(ring: np.ndarray, t: Affine, ox: int, oy: int) -> np.ndarray:
    """Canvas pixel corners of a ring to CRS coordinates of the piece placed at ``(ox, oy)``."""
    u, v = ring[:, 0] - ox, ring[:, 1] - oy
    return np.column_stack((t.c + u * t.a + v * t.b, t.f + u * t.d + v * t.e))


def _shelves(sizes: Sequence[tuple[int, ...]]) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """Top-left corners of boxes of ``(h, w)`` laid out in rows a pixel apart (tallest first),
    and the canvas size."""
    # about square, and no narrower than the widest box
    width = max(max(w for _, w in sizes) + 1, math.isqrt(sum(h * w for h, w in sizes)) * 3 // 2)
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i][0])
    corners: list[tuple[int, int]] = [(0, 0)] * len(sizes)
    x = y = row_h = 0
    for i in order:
        h, w = sizes[i][:2]
        if x + w > width:
            y, x, row_h = y + row_h + 1, 0, 0
        corners[i] = (y, x)
        x += w + 1
        row_h = max(row_h, h)
    return corners, (y + row_h, width)
