"""Read a feature file into plain rows and EPSG:4326 geometries.

Formats: GeoPackage (first layer), Shapefile (``.shp`` or zipped ``.zip``), GeoJSON, and
CSV or XLSX with the geometry as WKT in a ``wkt`` or ``geometry`` column (optionally EWKT,
``SRID=4549;POLYGON(...)``, which gives the CRS). A file without a CRS is refused unless one
is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from geo import crs as gcrs
from geo.errors import ImportFileError

VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".zip"}
TABLE_SUFFIXES = {".csv", ".xlsx"}
GEOMETRY_COLUMNS = ("wkt", "geometry")


@dataclass
class FeatureTable:
    """Rows of a file: attribute values (column names lower-cased) and geometries in EPSG:4326.

    ``problems[i]`` explains why geometry ``i`` could not be read (None when it could).
    """

    path: str
    columns: list[str]
    rows: list[dict[str, Any]]
    geoms: list[BaseGeometry | None]
    problems: list[str | None]
    source_crs: str


def read_features(path: str | Path, crs: str | None = None, encoding: str | None = None) -> FeatureTable:
    """Read ``path``; reproject its geometries to EPSG:4326.

    Args:
        path: the file.
        crs: CRS of the coordinates (e.g. ``EPSG:4549``), overriding the file's; required
            when the file has none.
        encoding: text encoding of a Shapefile's attributes or a CSV (e.g. ``GBK``); by default
            the Shapefile's ``.cpg`` or UTF-8.

    Raises:
        ImportFileError: unreadable file, unknown format, no CRS, unknown CRS.
    """
    p = Path(path)
    name = str(p)
    if not p.is_file():
        raise ImportFileError(name, "no such file")
    suffix = p.suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        frame, file_crs, geoms, problems = _read_vector(p, encoding)
    elif suffix in TABLE_SUFFIXES:
        frame, file_crs, geoms, problems = _read_table(p, encoding)
    else:
        raise ImportFileError(name, f"unknown format '{suffix}': use .gpkg, .shp, .zip, .geojson, .csv or .xlsx")
    chosen = crs or file_crs
    if not chosen:
        raise ImportFileError(name, "the file has no coordinate reference system; give one with --crs EPSG:XXXX")
    try:
        src = CRS.from_user_input(chosen)
    except CRSError as exc:
        raise ImportFileError(name, f"unknown coordinate reference system '{chosen}': {exc}") from exc
    key = f"EPSG:{src.to_epsg()}" if src.to_epsg() else src.to_wkt()
    out: list[BaseGeometry | None] = []
    for i, g in enumerate(geoms):
        if g is None:
            out.append(None)
            continue
        try:
            w = gcrs.transform(g, key, gcrs.STORAGE_EPSG)
        except Exception as exc:
            out.append(None)
            problems[i] = f"cannot reproject from {key}: {exc}"
            continue
        minx, miny, maxx, maxy = w.bounds if not w.is_empty else (0, 0, 0, 0)
        if not np.isfinite([minx, miny, maxx, maxy]).all() or minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            out.append(None)
            problems[i] = f"coordinates out of range after reprojecting from {key} (wrong CRS?)"
            continue
        out.append(w)
    columns = [str(c).lower() for c in frame.columns]
    rows = [
        {str(k).lower(): _plain(v) for k, v in rec.items()}
        for rec in frame.to_dict(orient="records")
    ]
    return FeatureTable(name, columns, rows, out, problems, key)


def _plain(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str) and not v.strip():
        return None
    return v


def _read_vector(p: Path, encoding: str | None) -> tuple[pd.DataFrame, str | None, list[BaseGeometry | None],
                                                         list[str | None]]:
    import pyogrio

    target = f"/vsizip/{p}" if p.suffix.lower() == ".zip" else str(p)
    try:
        layers = pyogrio.list_layers(target)
        if len(layers) == 0:
            raise ImportFileError(str(p), "the file holds no layer")
        info = pyogrio.read_info(target, layer=layers[0][0])
        frame = pyogrio.read_dataframe(target, layer=layers[0][0], read_geometry=True, encoding=encoding)
    except ImportFileError:
        raise
    except Exception as exc:
        raise ImportFileError(str(p), f"cannot read the file: {exc}") from exc
    file_crs = info.get("crs") or None
    geoms_col = frame.geometry if "geometry" in frame else None
    geoms: list[BaseGeometry | None] = []
    problems: list[str | None] = []
    if geoms_col is None:
        raise ImportFileError(str(p), "the layer has no geometry column")
    for g in geoms_col:
        if g is None or g.is_empty:
            geoms.append(None)
            problems.append("missing geometry")
        else:
            geoms.append(g)
            problems.append(None)
    attrs = pd.DataFrame(frame.drop(columns="geometry"))
    return attrs, file_crs, geoms, problems


def _read_table(p: Path, encoding: str | None) -> tuple[pd.DataFrame, str | None, list[BaseGeometry | None],
                                                        list[str | None]]:
    try:
        if p.suffix.lower() == ".csv":
            frame = pd.read_csv(p, dtype=str, keep_default_na=False, encoding=encoding or "utf-8-sig")
        else:
            frame = pd.read_excel(p, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise ImportFileError(str(p), f"cannot read the file: {exc}") from exc
    lower = {str(c).lower(): c for c in frame.columns}
    geom_col = next((lower[c] for c in GEOMETRY_COLUMNS if c in lower), None)
    if geom_col is None:
        raise ImportFileError(str(p), "no geometry column: a CSV or XLSX needs a 'wkt' or 'geometry' column of WKT")
    geoms: list[BaseGeometry | None] = []
    problems: list[str | None] = []
    srids: set[str] = set()
    for text in frame[geom_col]:
        text = str(text or "").strip()
        if text.upper().startswith("SRID="):
            head, _, text = text.partition(";")
            srids.add(head[5:].strip())
        if not text:
            geoms.append(None)
            problems.append("missing geometry")
            continue
        try:
            geoms.append(shapely.from_wkt(text))
            problems.append(None)
        except shapely.errors.GEOSException as exc:
            geoms.append(None)
            problems.append(f"unreadable WKT: {exc}")
    if len(srids) > 1:
        raise ImportFileError(str(p), f"rows use different SRIDs: {', '.join(sorted(srids))}")
    file_crs = f"EPSG:{srids.pop()}" if srids else None
    return frame.drop(columns=geom_col), file_crs, geoms, problems
