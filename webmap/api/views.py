"""JSON API: the same permission checks and street scope as the pages.

State-changing requests need the session cookie and the CSRF token in the
``X-CSRFToken`` header (see ``/api/openapi.json``).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import func, or_, select, text

from geo import items as geo_items
from geo import review as geo_review
from geo import tiles_mvt, workflow
from geo.errors import ValidationError
from geo.models import Parcel, Violation
from geo.scope import get_detection, get_violation, street_sql, violations_clause
from webmap import actions, serialize
from webmap import db as webdb
from webmap.api import bp
from webmap.api.openapi import document


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError(f"{name}: '{raw}' is not an integer") from exc
    return max(lo, min(hi, value))


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError("body: expected a JSON object")
    return data


@bp.route("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3 document of this API."""
    return jsonify(document(request.host_url.rstrip("/")))


@bp.route("/docs")
def docs() -> Any:
    """A readable list of the API's operations (rendered from the OpenAPI document)."""
    return render_template("api/docs.html", doc=document(request.host_url.rstrip("/")))


@bp.route("/items")
@login_required
def items_list() -> Any:
    """Items in the caller's scope (filters: status, type, street, q; paging: limit, offset)."""
    scope = webdb.scope()
    query = select(Violation).where(violations_clause(scope))
    if request.args.get("status"):
        query = query.where(Violation.status == request.args["status"])
    if request.args.get("type"):
        query = query.where(Violation.vtype == request.args["type"])
    if request.args.get("street"):
        query = query.where(Violation.street_id == _int_arg("street", 0, 0, 2**31 - 1))
    q = (request.args.get("q") or "").strip()
    if q:
        query = query.where(or_(Violation.code.ilike(f"%{q}%"), Violation.address.ilike(f"%{q}%")))
    limit, offset = _int_arg("limit", 100, 1, 1000), _int_arg("offset", 0, 0, 10**9)
    sess = webdb.session()
    total = sess.scalar(select(func.count()).select_from(query.subquery()))
    rows = sess.scalars(query.order_by(Violation.id).limit(limit).offset(offset))
    return jsonify(total=total, items=[serialize.violation(v) for v in rows])


@bp.route("/items/<int:item_id>")
@login_required
def item_get(item_id: int) -> Any:
    """One item with its events and the transitions the caller may make now."""
    sess = webdb.session()
    scope = webdb.scope()
    item = get_violation(sess, item_id, scope)
    out = serialize.violation(item, with_geometry=True)
    out["events"] = [geo_items.event_dict(e) for e in geo_items.history(sess, item_id)]
    out["allowed_transitions"] = [s.value for s in workflow.allowed(item.status, scope.role)]
    return jsonify(out)


@bp.route("/items/<int:item_id>/transitions", methods=["POST"])
@login_required
def item_transition(item_id: int) -> Any:
    """Move an item: ``{"target", "version", "reason", "evidence": [...], "area_m2"}``."""
    body = _json_body()
    evidence = body.get("evidence") or []
    if not isinstance(evidence, list) or not all(isinstance(x, str) for x in evidence):
        raise ValidationError("evidence: expected a list of references (strings)")
    area = body.get("area_m2")
    if area is not None and not isinstance(area, (int, float)):
        raise ValidationError("area_m2: expected a number")
    item, event = actions.transition(item_id, str(body.get("target") or ""), version=body.get("version"),
                                     reason=body.get("reason"), evidence=evidence, area_m2=area)
    return jsonify(item=serialize.violation(item), event=geo_items.event_dict(event)), 201


@bp.route("/items/<int:item_id>/assign", methods=["POST"])
@login_required
def item_assign(item_id: int) -> Any:
    """Hand an item to a street team: ``{"street_id", "version"}`` (district office only)."""
    body = _json_body()
    street = body.get("street_id")
    if not isinstance(street, int):
        raise ValidationError("street_id: expected the id of a street")
    item = actions.assign_item(item_id, street, body.get("version"))
    return jsonify(item=serialize.violation(item))


@bp.route("/detections")
@login_required
def detections() -> Any:
    """Detections in the caller's scope, highest score first (status, klass, street, min_score, limit, offset)."""
    scope = webdb.scope()
    min_score = request.args.get("min_score")
    try:
        ms = float(min_score) if min_score else None
    except ValueError as exc:
        raise ValidationError(f"min_score: '{min_score}' is not a number") from exc
    rows = geo_review.queue(
        webdb.session(), scope, status=request.args.get("status") or "pending", klass=request.args.get("klass") or None,
        street_id=_int_arg("street", 0, 0, 2**31 - 1) or None, min_score=ms,
        limit=_int_arg("limit", 100, 1, 1000), offset=_int_arg("offset", 0, 0, 10**9))
    return jsonify(detections=[serialize.detection(d) for d in rows])


@bp.route("/detections/<int:detection_id>")
@login_required
def detection_get(detection_id: int) -> Any:
    """One detection with its footprint."""
    det = get_detection(webdb.session(), detection_id, webdb.scope())
    return jsonify(serialize.detection(det, with_geometry=True))


@bp.route("/detections/<int:detection_id>/review", methods=["POST"])
@login_required
def detection_review(detection_id: int) -> Any:
    """Review a detection.

    Body: ``{"action": "confirm|dismiss|merge|assign", "reason", "violation_id" or "violation_code",
    "street_id", "vtype", "is_key"}``.
    """
    body = _json_body()
    result = actions.review_action(detection_id, str(body.get("action") or ""), body)
    return jsonify(detection=serialize.detection(result.detection),
                   violation=serialize.violation(result.violation) if result.violation else None,
                   event=geo_items.event_dict(result.event) if result.event else None)


@bp.route("/tiles")
@login_required
def tiles_info() -> Any:
    """The vector-tile layers and their URL templates (Mapbox Vector Tiles, EPSG:3857)."""
    base = request.host_url.rstrip("/")
    return jsonify(
        format="application/vnd.mapbox-vector-tile", detail_zoom=tiles_mvt.DETAIL_ZOOM,
        detail_zooms=tiles_mvt.DETAIL_ZOOMS,
        layers={layer: base + f"/tiles/mvt/{layer}/{{z}}/{{x}}/{{y}}.pbf" for layer in tiles_mvt.LAYERS},
        filters=["status", "type", "street", "key", "indb", "month"],
    )


@bp.route("/search")
@login_required
def search() -> Any:
    """Find items by code or address, and parcels by address, in the caller's scope (10 each)."""
    q = (request.args.get("q") or "").strip()
    if not q:
        return jsonify(results=[])
    if len(q) > 100:
        raise ValidationError("q: at most 100 characters")
    sess = webdb.session()
    scope = webdb.scope()
    like = f"%{q}%"
    found: list[dict[str, Any]] = []
    exact = sess.scalars(select(Violation).where(violations_clause(scope), Violation.code == q)).all()
    fuzzy = sess.scalars(select(Violation).where(
        violations_clause(scope), or_(Violation.code.ilike(like), Violation.address.ilike(like)))
        .order_by(Violation.code).limit(10)).all()
    seen: set[int] = set()
    for v in list(exact) + list(fuzzy):
        if v.id in seen:
            continue
        seen.add(v.id)
        found.append({"kind": "violation", "id": v.id, "label": f"{v.code} {v.address or ''}".strip(),
                      "status": v.status, "geometry": serialize.geometry(v.geom),
                      "url": url_for("items.detail", item_id=v.id)})
    for p in sess.scalars(select(Parcel).where(or_(Parcel.code == q, Parcel.address.ilike(like))).limit(10)):
        found.append({"kind": "parcel", "id": p.id, "label": f"{p.code} {p.address or ''}".strip(),
                      "geometry": serialize.geometry(p.geom), "url": None})
    return jsonify(results=found)


@bp.route("/heat")
@login_required
def heat() -> Any:
    """Points of the new items discovered in a month, snapped to a ~50 m grid and counted: ``[lat, lon, weight]``."""
    month = request.args.get("month") or ""
    if not (len(month) == 7 and month[4] == "-" and month.replace("-", "").isdigit()):
        raise ValidationError(f"month: '{month}' is not YYYY-MM")
    scope_sql, params = street_sql(webdb.scope(), "street_id")
    params["month"] = month + "-01"
    rows = webdb.session().execute(text(f"""
        WITH p AS (
            SELECT ST_SnapToGrid(ST_Centroid(geom), 0.0005) AS g FROM violations
            WHERE kind = 'new' AND {scope_sql}
              AND discovered_at >= (CAST(:month AS date)::timestamp AT TIME ZONE 'Asia/Shanghai')
              AND discovered_at < ((CAST(:month AS date) + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai')
        )
        SELECT ST_Y(g) AS lat, ST_X(g) AS lon, count(*) AS n FROM p GROUP BY g LIMIT 20000
    """), params).all()
    return jsonify(month=month, points=[[r.lat, r.lon, int(r.n)] for r in rows])
