"""Item pages: list (and CSV export), detail with timeline and transitions, evidence files."""

from __future__ import annotations

import csv
import io
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import login_required
from geoalchemy2.shape import to_shape
from sqlalchemy import func, or_, select

from geo import items as geo_items
from geo import review, workflow
from geo.errors import ValidationError
from geo.models import AdminUnit, Complaint, Detection, Violation
from geo.scope import detections_clause, get_violation, violations_clause
from webmap import actions
from webmap import db as webdb
from webmap.items import bp
from webmap.items import evidence as evidence_store
from webmap.items.timeline import timeline
from webmap.labels import klass_label

PAGE = 50


def _filtered(args: Any) -> Any:
    scope = webdb.scope()
    query = select(Violation).where(violations_clause(scope))
    if args.get("status"):
        query = query.where(Violation.status == args["status"])
    if args.get("type"):
        query = query.where(Violation.vtype == args["type"])
    if args.get("street", "").isdigit():
        query = query.where(Violation.street_id == int(args["street"]))
    q = (args.get("q") or "").strip()
    if q:
        query = query.where(or_(Violation.code.ilike(f"%{q}%"), Violation.address.ilike(f"%{q}%")))
    return query


@bp.route("/items")
@login_required
def index() -> Any:
    """Items in the user's scope, filterable, 50 a page."""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    query = _filtered(request.args)
    sess = webdb.session()
    total = sess.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(sess.scalars(query.order_by(Violation.id.desc()).limit(PAGE).offset((page - 1) * PAGE)))
    units = sess.execute(select(AdminUnit.id, AdminUnit.name).where(AdminUnit.level == "street"))
    streets = {r.id: r.name for r in units}
    return render_template("items/index.html", rows=rows, total=total, page=page, pages=(total + PAGE - 1) // PAGE,
                           streets=streets, args=request.args)


@bp.route("/items/export.csv")
@login_required
def export_csv() -> Any:
    """The filtered items of the user's scope as CSV (UTF-8 with BOM for spreadsheet programs)."""
    query = _filtered(request.args).order_by(Violation.id)
    buf = io.StringIO()
    buf.write("\ufeff")
    out = csv.writer(buf)
    out.writerow(["id", "code", "status", "kind", "vtype", "is_key", "in_database", "area_m2", "street_id",
                  "address", "discovered_at"])
    for v in webdb.session().scalars(query.limit(200_000)):
        out.writerow([v.id, v.code, v.status, v.kind, v.vtype, v.is_key, v.in_database, v.area_m2, v.street_id,
                      v.address or "", v.discovered_at.isoformat()])
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=items.csv"})


@bp.route("/items/<int:item_id>")
@login_required
def detail(item_id: int) -> Any:
    """One item: status timeline, evidence, complaints, and the transitions allowed to this user now."""
    sess = webdb.session()
    scope = webdb.scope()
    item = get_violation(sess, item_id, scope)
    events = timeline(geo_items.history(sess, item_id), review.merges(sess, item_id, scope))
    complaints = list(sess.scalars(select(Complaint).where(Complaint.violation_id == item_id)
                                   .order_by(Complaint.received_at)))
    detections = list(sess.scalars(select(Detection).where(Detection.violation_id == item_id, detections_clause(scope))
                                   .order_by(Detection.after_captured_at)))
    street = sess.get(AdminUnit, item.street_id) if item.street_id else None
    allowed = workflow.allowed(item.status, scope.role)
    pt = to_shape(item.geom).centroid
    return render_template("items/detail.html", item=item, events=events, complaints=complaints,
                           detections=detections, street=street, allowed=allowed, center=(pt.x, pt.y),
                           can_assign=scope.can_assign,
                           streets=sess.execute(select(AdminUnit.id, AdminUnit.name)
                                                .where(AdminUnit.level == "street").order_by(AdminUnit.code)).all(),
                           tz=ZoneInfo("Asia/Shanghai"), klass_label=klass_label)


@bp.route("/items/<int:item_id>/transition", methods=["POST"])
@login_required
def transition(item_id: int) -> Any:
    """Apply one transition from the item page (with uploaded evidence)."""
    area_raw = (request.form.get("area_m2") or "").strip()
    try:
        area = float(area_raw) if area_raw else None
    except ValueError as exc:
        raise ValidationError(f"area_m2: '{area_raw}' is not a number") from exc
    _item, event = actions.transition(
        item_id, request.form.get("target", ""), version=request.form.get("version"),
        reason=request.form.get("reason"), evidence=[], area_m2=area,
        uploads=request.files.getlist("evidence"))
    flash(_("已变更为：%(status)s", status=_status(event.to_status)), "success")
    return redirect(url_for("items.detail", item_id=item_id))


def _status(value: str) -> str:
    from webmap.labels import status_label

    return status_label(value)


@bp.route("/items/<int:item_id>/assign", methods=["POST"])
@login_required
def assign(item_id: int) -> Any:
    """Hand the item to another street team (district office)."""
    street = request.form.get("street_id", "")
    if not street.isdigit():
        raise ValidationError("street_id: choose a street")
    actions.assign_item(item_id, int(street), request.form.get("version"))
    flash(_("已分派"), "success")
    return redirect(url_for("items.detail", item_id=item_id))


@bp.route("/items/<int:item_id>/evidence/<path:rel>")
@login_required
def evidence(item_id: int, rel: str) -> Any:
    """An evidence file of an item in the user's scope."""
    get_violation(webdb.session(), item_id, webdb.scope())
    path = evidence_store.resolve(actions.data_dir(), item_id, rel)
    return send_file(path, as_attachment=path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".gif", ".webp", ".pdf"})
