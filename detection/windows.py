"""Overlapping windows over a grid and merging of polygons across their seams."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rasterio.windows import Window
from shapely import STRtree, unary_union
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

from detection.types import ChangePolygon


@dataclass(frozen=True)
class Tile:
    """One processing window: the core it owns and the padded read window around it."""

    index: int
    core: Window
    read: Window

    @property
    def inner(self) -> tuple[slice, slice]:
        """Row and column slices of the core inside the read window."""
        r0 = int(self.core.row_off - self.read.row_off)
        c0 = int(self.core.col_off - self.read.col_off)
        return slice(r0, r0 + int(self.core.height)), slice(c0, c0 + int(self.core.width))


def tiles(width: int, height: int, size: int, overlap: int) -> list[Tile]:
    """Split a grid into cores of ``size`` pixels with ``overlap`` pixels of context each side.

    Read windows are clipped to the grid, so edge tiles have less context.

    Args:
        width: grid width.
        height: grid height.
        size: core size.
        overlap: context margin.

    Returns:
        The tiles, row by row.
    """
    out = []
    i = 0
    for r0 in range(0, height, size):
        for c0 in range(0, width, size):
            h = min(size, height - r0)
            w = min(size, width - c0)
            rr0, cc0 = max(0, r0 - overlap), max(0, c0 - overlap)
            rr1, cc1 = min(height, r0 + h + overlap), min(width, c0 + w + overlap)
            out.append(Tile(i, Window(c0, r0, w, h), Window(cc0, rr0, cc1 - cc0, rr1 - rr0)))
            i += 1
    return out


def seam_lines(width: int, height: int, size: int, transform: object) -> list[LineString]:
    """Internal tile boundaries as lines in the CRS of ``transform`` (an ``Affine``)."""
    lines = []
    t = transform
    for c in range(size, width, size):
        lines.append(LineString([t @ (c, 0), t @ (c, height)]))  # type: ignore[operator]
    for r in range(size, height, size):
        lines.append(LineString([t @ (0, r), t @ (width, r)]))  # type: ignore[operator]
    return lines


def touches_seam(geom: BaseGeometry, seams: STRtree | None, tol: float) -> bool:
    """Whether ``geom`` lies within ``tol`` of an internal seam."""
    if seams is None:
        return False
    return len(seams.query(geom, predicate="dwithin", distance=tol)) > 0


def merge_across_seams(pieces: Sequence[ChangePolygon], tol: float) -> list[ChangePolygon]:
    """Union pieces of one kind that touch across a seam; score = area-weighted mean.

    Args:
        pieces: polygons touching a seam, from several tiles.
        tol: distance (CRS units) under which pieces are joined (about half a pixel).

    Returns:
        The merged polygons.
    """
    out: list[ChangePolygon] = []
    for kind in ("appeared", "disappeared"):
        group = [p for p in pieces if p.change == kind]
        if not group:
            continue
        merged = unary_union([p.geometry.buffer(tol, join_style="mitre") for p in group])
        parts: list[BaseGeometry] = list(getattr(merged, "geoms", [merged]))
        tree = STRtree([p.geometry for p in group])
        for part in parts:
            part = part.buffer(-tol, join_style="mitre")
            if part.is_empty:
                continue
            for poly in getattr(part, "geoms", [part]):
                if not isinstance(poly, Polygon):
                    continue
                idx = tree.query(poly, predicate="intersects")
                members = [group[i] for i in idx] or group[:1]
                area = sum(m.geometry.area for m in members) or 1.0
                score = sum(m.score * m.geometry.area for m in members) / area
                m_area = None if members[0].area_m2 is None else sum(m.area_m2 or 0.0 for m in members)
                out.append(ChangePolygon(poly, kind, m_area, float(score), members[0].crs))
    return out


def iter_rows(tiles_: Sequence[Tile]) -> Iterator[Tile]:
    """Tiles in row order (helper for deterministic output)."""
    yield from sorted(tiles_, key=lambda t: (t.core.row_off, t.core.col_off))
