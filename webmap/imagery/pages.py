"""Imagery pages (upload, sortie log, scene) and the scene status endpoint."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import jsonify, render_template, request
from flask_login import login_required
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import func, select

from geo.errors import NotFound, ValidationError
from geo.imagery import sortie as sortie_log
from geo.models import AdminUnit, Detection, DetectionJob, Scene, Sortie
from webmap import db as webdb
from webmap.imagery import bp
from webmap.imagery.common import require_uploader

CST = timezone(timedelta(hours=8))


def scene_status_data(scene_id: int) -> dict[str, Any]:
    """The scene and its detection job as JSON-ready data.

    Raises:
        NotFound: no such scene.
    """
    s = webdb.session()
    row = s.execute(select(Scene.id, Scene.original_name, Scene.sensor, Scene.captured_at, DetectionJob.state,
                           DetectionJob.progress, DetectionJob.message, DetectionJob.attempts,
                           DetectionJob.updated_at)
                    .outerjoin(DetectionJob, DetectionJob.scene_id == Scene.id).where(Scene.id == scene_id)
                    ).one_or_none()
    if row is None:
        raise NotFound(f"scene {scene_id} does not exist")
    detections = s.scalar(select(func.count()).select_from(Detection).where(Detection.scene_id == scene_id))
    return {"scene_id": row.id, "name": row.original_name, "sensor": row.sensor,
            "captured_at": row.captured_at.isoformat(), "state": row.state or "none",
            "progress": float(row.progress or 0.0), "message": row.message, "attempts": row.attempts or 0,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None, "detections": int(detections or 0)}


@bp.route("/api/scenes/<int:scene_id>/status")
@login_required
def scene_status(scene_id: int) -> Any:
    """Processing status of a scene (polled by the upload and scene pages)."""
    return jsonify(scene_status_data(scene_id))


@bp.route("/imagery/upload")
@login_required
def upload_page() -> Any:
    """Drag GeoTIFFs, fill in the sortie, watch each file upload and then process."""
    require_uploader()
    now = datetime.now(CST).strftime("%Y-%m-%dT%H:%M")
    return render_template("imagery/upload.html", now=now)


def _month_period(month: str | None) -> tuple[sortie_log.Period | None, str | None]:
    if not month:
        return None, None
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=CST)
    except ValueError as exc:
        raise ValidationError(f"month: '{month}' is not YYYY-MM") from exc
    end = (start + timedelta(days=32)).replace(day=1)
    return sortie_log.Period(start, end), month


@bp.route("/imagery/sorties")
@login_required
def sorties_page() -> Any:
    """The sortie log: per pilot, per street, per month, and the sorties with their scenes."""
    period, month = _month_period(request.args.get("month") or None)
    pilot = request.args.get("pilot") or None
    s = webdb.session()
    rows = sortie_log.sortie_log(s, period, pilot=pilot)
    geoms = s.execute(select(Sortie.id, Sortie.code, Sortie.geom).where(Sortie.id.in_([r.id for r in rows]))).all()
    features = [{"type": "Feature", "geometry": mapping(to_shape(g.geom)), "properties": {"id": g.id, "code": g.code}}
                for g in geoms if g.geom is not None]
    return render_template("imagery/sorties.html", cst=CST, rows=rows, month=month, pilot=pilot,
                           totals=sortie_log.totals(s, period), by_pilot=sortie_log.per_pilot(s, period),
                           by_street=sortie_log.per_street(s, period), by_month=sortie_log.per_month(s),
                           footprints=json.dumps({"type": "FeatureCollection", "features": features},
                                                 ensure_ascii=False))


@bp.route("/imagery/scenes/<int:scene_id>")
@login_required
def scene_page(scene_id: int) -> Any:
    """One scene: facts, its imagery on a map, and its detection job's progress."""
    s = webdb.session()
    scene = s.get(Scene, scene_id)
    if scene is None:
        raise NotFound(f"scene {scene_id} does not exist")
    sortie = s.get(Sortie, scene.sortie_id) if scene.sortie_id else None
    street = s.get(AdminUnit, sortie.street_id) if sortie and sortie.street_id else None
    foot = to_shape(scene.footprint)
    return render_template("imagery/scene.html", cst=CST, scene=scene, sortie=sortie, street=street,
                           footprint=json.dumps(mapping(foot)), bounds=list(foot.bounds),
                           status=scene_status_data(scene_id))
