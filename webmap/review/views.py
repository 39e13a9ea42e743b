"""The review queue page, its chips, and a form fallback for the actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, redirect, render_template, request, send_file, url_for
from flask_login import login_required
from sqlalchemy import select

from geo import review as geo_review
from geo.errors import NotFound
from geo.models import AdminUnit, DetectionClass
from geo.scope import REVIEW_ROLES, get_detection, require
from webmap import actions
from webmap import db as webdb
from webmap.labels import klass_label
from webmap.review import bp


@bp.route("/review/")
@login_required
def queue() -> Any:
    """The queue: detections waiting for review, highest score first, worked by keyboard."""
    scope = webdb.scope()
    require(scope, REVIEW_ROLES, "review detections")
    streets = webdb.session().execute(
        select(AdminUnit.id, AdminUnit.name).where(AdminUnit.level == "street").order_by(AdminUnit.code)).all()
    return render_template(
        "review/queue.html", streets=[{"id": s.id, "name": s.name} for s in streets],
        classes=[(k.value, klass_label(k.value)) for k in DetectionClass], reasons=list(geo_review.DISMISS_REASONS),
        can_assign=scope.can_assign, focus=request.args.get("d", type=int),
        street=request.args.get("street", type=int),
        map_static={
            "leaflet_js": url_for("static", filename="vendor/leaflet/leaflet.js"),
            "leaflet_css": url_for("static", filename="vendor/leaflet/leaflet.css"),
            "vectorgrid_js": url_for("static", filename="vendor/Leaflet.VectorGrid.bundled.min.js"),
        },
        imagery="imagery" in current_app.blueprints)


@bp.route("/review/chips/<int:detection_id>/<which>.png")
@login_required
def chip(detection_id: int, which: str) -> Any:
    """A before/after image chip of a detection in the user's scope (paths are relative to DATA_DIR)."""
    det = get_detection(webdb.session(), detection_id, webdb.scope())
    rel = {"before": det.chip_before, "after": det.chip_after}.get(which)
    if not rel:
        raise NotFound(f"detection {detection_id} has no '{which}' chip")
    base = actions.data_dir().resolve()
    path = (base / rel).resolve()
    if base not in path.parents or not path.is_file():
        raise NotFound(f"chip file of detection {detection_id} is missing")
    return send_file(Path(path), max_age=3600)


@bp.route("/review/<int:detection_id>/<action>", methods=["POST"])
@login_required
def act(detection_id: int, action: str) -> Any:
    """Form fallback of the review actions (the queue page uses the JSON API)."""
    actions.review_action(detection_id, action, request.form.to_dict())
    return redirect(url_for("review.queue"))
