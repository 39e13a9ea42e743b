"""Coordinate reference systems: storage in WGS 84, areas in a metric CRS."""

from __future__ import annotations

from functools import lru_cache

import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

STORAGE_EPSG = 4326
#: CGCS2000 / 3-degree Gauss-Kruger CM 120E: the metric grid Shanghai's surveys use.
METRIC_EPSG = 4549
#: WGS 84 / UTM zone 51N, the other CRS Shanghai imagery often comes in.
UTM51N_EPSG = 32651


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def transform(geom: BaseGeometry, src: str | int, dst: str | int) -> BaseGeometry:
    """Reproject a shapely geometry (axis order x, y / lon, lat)."""
    s, d = _key(src), _key(dst)
    if s == d:
        return geom
    return shapely.transform(geom, _transformer(s, d).transform, interleaved=False)  # type: ignore[arg-type]


def area_m2(geom_wgs84: BaseGeometry) -> float:
    """Area in m² of a geometry given in EPSG:4326, measured in CGCS2000 GK CM 120E."""
    return float(transform(geom_wgs84, STORAGE_EPSG, METRIC_EPSG).area)


def _key(crs: str | int) -> str:
    return f"EPSG:{crs}" if isinstance(crs, int) else str(crs)


#: SQL expression of the area in m² of a stored geometry column.
def sql_area(column: str) -> str:
    """SQL computing the metric area of an EPSG:4326 ``column``."""
    return f"ST_Area(ST_Transform({column}, {METRIC_EPSG}))"
