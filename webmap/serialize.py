"""Plain dictionaries of domain objects for the JSON API and the pages' scripts."""

from __future__ import annotations

import json
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import mapping

from geo.models import Detection, Violation


def geometry(geom: Any) -> dict[str, Any] | None:
    """GeoJSON geometry of a stored geometry (EPSG:4326)."""
    if geom is None:
        return None
    return json.loads(json.dumps(mapping(to_shape(geom))))


def bbox(geom: Any) -> list[float] | None:
    """[west, south, east, north] of a stored geometry."""
    if geom is None:
        return None
    return [float(v) for v in to_shape(geom).bounds]


def violation(item: Violation, *, with_geometry: bool = False) -> dict[str, Any]:
    """An item as JSON."""
    out: dict[str, Any] = {
        "id": item.id, "code": item.code, "kind": item.kind, "in_database": item.in_database,
        "vtype": item.vtype, "is_key": item.is_key, "area_m2": item.area_m2, "address": item.address,
        "street_id": item.street_id, "parcel_id": item.parcel_id, "source": item.source,
        "discovered_at": item.discovered_at.isoformat(), "status": item.status,
        "status_at": item.status_at.isoformat(), "version": item.version, "bbox": bbox(item.geom),
    }
    if with_geometry:
        out["geometry"] = geometry(item.geom)
    return out


def detection(det: Detection, *, with_geometry: bool = False) -> dict[str, Any]:
    """A detection as JSON (chip URLs point at the review blueprint)."""
    from flask import url_for

    out: dict[str, Any] = {
        "id": det.id, "scene_id": det.scene_id, "before_scene_id": det.before_scene_id, "change": det.change,
        "klass": det.klass, "score": det.score, "area_m2": det.area_m2, "area_before_m2": det.area_before_m2,
        "before_captured_at": det.before_captured_at.isoformat(),
        "after_captured_at": det.after_captured_at.isoformat(),
        "street_id": det.street_id, "parcel_id": det.parcel_id, "violation_id": det.violation_id,
        "review_status": det.review_status, "review_note": det.review_note,
        "reviewed_at": det.reviewed_at.isoformat() if det.reviewed_at else None,
        "chip_before": url_for("review.chip", detection_id=det.id, which="before") if det.chip_before else None,
        "chip_after": url_for("review.chip", detection_id=det.id, which="after") if det.chip_after else None,
        "bbox": bbox(det.geom),
    }
    if with_geometry:
        out["geometry"] = geometry(det.geom)
    return out
