"""Export parcels, violations, detections or admin units to GeoPackage, GeoJSON, CSV or XLSX.

Columns are the import columns of the same kind (see :mod:`geo.io.schema`), so an export
imports back unchanged. Geometries are EPSG:4326; in CSV and XLSX they are EWKT
(``SRID=4326;MULTIPOLYGON(...)``) in a ``wkt`` column, times are ISO 8601 with their
offset. The file is written under a temporary name beside ``out`` and renamed at the end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import STORAGE_EPSG
from geo.errors import NotFound, ValidationError
from geo.models import ReviewStatus, Status
from geo.users import find_street

FORMATS = ("gpkg", "geojson", "csv", "xlsx")
KINDS = ("parcels", "violations", "detections", "admin-units")

_SQL: dict[str, str] = {
    "parcels": """
        SELECT p.code, p.address, p.land_use, s.name AS street, c.code AS community, p.area_m2,
               ST_AsBinary(p.geom) AS wkb
        FROM parcels p LEFT JOIN admin_units s ON s.id = p.street_id LEFT JOIN admin_units c ON c.id = p.community_id
        WHERE (CAST(:street_id AS integer) IS NULL OR p.street_id = :street_id) ORDER BY p.code""",
    "violations": """
        SELECT v.code, v.kind, v.vtype, v.discovered_at, v.status, v.status_at, v.in_database, v.is_key, v.source,
               v.area_m2, v.address, s.name AS street, p.code AS parcel, v.note, ST_AsBinary(v.geom) AS wkb
        FROM violations v LEFT JOIN admin_units s ON s.id = v.street_id LEFT JOIN parcels p ON p.id = v.parcel_id
        WHERE (CAST(:street_id AS integer) IS NULL OR v.street_id = :street_id)
          AND (CAST(:status AS text) IS NULL OR v.status = :status)
        ORDER BY v.code""",
    "detections": """
        SELECT d.id, d.scene_id, d.before_scene_id, d.change, d.klass, d.score, d.area_m2, d.area_before_m2,
               d.before_captured_at, d.after_captured_at, d.review_status, s.name AS street, p.code AS parcel,
               v.code AS violation, d.reviewed_at, d.review_note, ST_AsBinary(d.geom) AS wkb
        FROM detections d LEFT JOIN admin_units s ON s.id = d.street_id LEFT JOIN parcels p ON p.id = d.parcel_id
             LEFT JOIN violations v ON v.id = d.violation_id
        WHERE (CAST(:street_id AS integer) IS NULL OR d.street_id = :street_id)
          AND (CAST(:status AS text) IS NULL OR d.review_status = :status)
        ORDER BY d.id""",
    "admin-units": """
        SELECT u.code, u.name, u.level, u.name_en, p.code AS parent, ST_AsBinary(u.geom) AS wkb
        FROM admin_units u LEFT JOIN admin_units p ON p.id = u.parent_id
        WHERE (CAST(:street_id AS integer) IS NULL OR u.id = :street_id OR u.parent_id = :street_id)
        ORDER BY CASE u.level WHEN 'district' THEN 0 WHEN 'street' THEN 1 ELSE 2 END, u.code""",
}


@dataclass(frozen=True)
class ExportReport:
    kind: str
    path: str
    rows: int


def export(session: Session, kind: str, fmt: str, out: str | Path, street: str | None = None,
           status: str | None = None) -> ExportReport:
    """Write the rows of ``kind`` (optionally one street's, one status's) to ``out``.

    Args:
        kind: ``parcels`` | ``violations`` | ``detections`` | ``admin-units``.
        fmt: ``gpkg`` | ``geojson`` | ``csv`` | ``xlsx``.
        street: street name or code.
        status: item status (violations) or review status (detections).

    Raises:
        ValidationError: unknown kind, format or status, or a status filter on a kind without one.
        NotFound: unknown street.
    """
    if kind not in KINDS:
        raise ValidationError(f"kind: '{kind}' is not one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise ValidationError(f"format: '{fmt}' is not one of {', '.join(FORMATS)}")
    _check_status(kind, status)
    street_id = find_street(session, street).id if street else None
    frame = query(session, kind, street_id, status)
    write(frame, fmt, Path(out), layer=kind.replace("-", "_"))
    return ExportReport(kind, str(out), len(frame))


def _check_status(kind: str, status: str | None) -> None:
    if status is None:
        return
    allowed = {"violations": [s.value for s in Status], "detections": [s.value for s in ReviewStatus]}.get(kind)
    if allowed is None:
        raise ValidationError(f"status: {kind} have no status to filter on")
    if status not in allowed:
        raise ValidationError(f"status: '{status}' is not one of {', '.join(allowed)}")


def query(session: Session, kind: str, street_id: int | None = None, status: str | None = None) -> gpd.GeoDataFrame:
    """The rows of ``kind`` as a GeoDataFrame in EPSG:4326."""
    result = session.execute(text(_SQL[kind]), {"street_id": street_id, "status": status})
    cols = [c for c in result.keys() if c != "wkb"]  # noqa: SIM118 - a Result, not a dict
    rows = result.all()
    data = {c: [getattr(r, c) for r in rows] for c in cols}
    geoms: list[Any] = list(shapely.from_wkb([bytes(r.wkb) for r in rows])) if rows else []
    return gpd.GeoDataFrame(data, geometry=geoms, crs=f"EPSG:{STORAGE_EPSG}")


def _plain_frame(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """Attributes with times as ISO 8601 text and the geometry as EWKT in ``wkt``."""
    out = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for c in out.columns:
        out[c] = [_text_time(v) for v in out[c]]
    out["wkt"] = [f"SRID={STORAGE_EPSG};{shapely.to_wkt(g, rounding_precision=-1)}" for g in frame.geometry]
    return out


def _text_time(v: Any) -> Any:
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def write(frame: gpd.GeoDataFrame, fmt: str, out: Path, layer: str = "features") -> None:
    """Write ``frame`` as ``fmt`` to a temporary file beside ``out``, then rename it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}.{fmt}")
    try:
        if fmt in ("gpkg", "geojson"):
            times = frame.copy()
            for c in times.columns:
                if c != times.geometry.name:
                    times[c] = [_text_time(v) for v in times[c]]
            driver = "GPKG" if fmt == "gpkg" else "GeoJSON"
            opts: dict[str, Any] = {"layer": layer} if fmt == "gpkg" else {}
            times.to_file(tmp, driver=driver, engine="pyogrio", **opts)
        elif fmt == "csv":
            _plain_frame(frame).to_csv(tmp, index=False, encoding="utf-8-sig")
        else:
            _plain_frame(frame).to_excel(tmp, index=False, sheet_name=layer[:31], engine="openpyxl")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


__all__ = ["FORMATS", "KINDS", "ExportReport", "NotFound", "export", "query", "write"]
