"""The battle map page (挂图作战)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, current_app, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import func, select

from geo import tiles_mvt
from geo.models import AdminUnit, DetectionClass, Scene, Status, ViolationType
from geo.scope import Scope
from geo.workflow import COLOURS
from webmap import db as webdb
from webmap.battlemap import builder
from webmap.labels import klass_label, status_label, type_label

bp = Blueprint("map", __name__, template_folder="templates")


def _months(today: date, count: int = 24) -> list[str]:
    """The last ``count`` months as ``YYYY-MM``, newest first."""
    out, y, m = [], today.year, today.month
    for _i in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out


def _bounds(scope: Scope) -> tuple[float, float, float, float] | None:
    query = select(func.ST_XMin(func.ST_Extent(AdminUnit.geom)), func.ST_YMin(func.ST_Extent(AdminUnit.geom)),
                   func.ST_XMax(func.ST_Extent(AdminUnit.geom)), func.ST_YMax(func.ST_Extent(AdminUnit.geom)))
    if scope.street_id is not None:
        query = query.where(AdminUnit.id == scope.street_id)
    else:
        query = query.where(AdminUnit.level == "street")
    row = webdb.session().execute(query).one()
    return None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def _streets(scope: Scope) -> list[dict[str, Any]]:
    query = select(AdminUnit.id, AdminUnit.name).where(AdminUnit.level == "street").order_by(AdminUnit.code)
    if scope.street_id is not None:
        query = query.where(AdminUnit.id == scope.street_id)
    return [{"id": r.id, "name": r.name} for r in webdb.session().execute(query)]


def _imagery() -> dict[str, Any] | None:
    if "imagery" not in current_app.blueprints:
        return None
    scenes = webdb.session().execute(
        select(Scene.id, Scene.captured_at, Scene.sensor).order_by(Scene.captured_at.desc()).limit(50)
    ).all()
    return {
        "latest": "/tiles/latest/{z}/{x}/{y}.png",
        "scenes": [{"id": s.id, "label": f"{s.captured_at:%Y-%m-%d} · {s.sensor} #{s.id}",
                    "url": f"/tiles/scenes/{s.id}/{{z}}/{{x}}/{{y}}.png"} for s in scenes],
    }


def map_options(scope: Scope) -> dict[str, Any]:
    """Everything ``battlemap.js`` needs, in the user's language."""
    tile = "/tiles/mvt/{layer}/{{z}}/{{x}}/{{y}}.pbf"
    return {
        "tiles": {layer: tile.format(layer=layer) for layer in tiles_mvt.LAYERS},
        "detailZoom": tiles_mvt.DETAIL_ZOOM,
        "detailZooms": tiles_mvt.DETAIL_ZOOMS,
        "colours": {s.value: COLOURS[s] for s in Status},
        "statusLabels": {s.value: status_label(s) for s in Status},
        "legend": [[s.value, COLOURS[s], status_label(s)] for s in Status],
        "typeLabels": {t.value: type_label(t.value) for t in ViolationType},
        "klassLabels": {k.value: klass_label(k.value) for k in DetectionClass},
        "streets": _streets(scope),
        "months": _months(date.today()),
        "heatUrl": url_for("api.heat"),
        "searchUrl": url_for("api.search"),
        "itemUrl": url_for("items.index") + "/",
        "reviewUrl": url_for("review.queue"),
        "imagery": _imagery(),
        "basemap": current_app.config.get("BASEMAP_URL"),
        "canReview": scope.can_review,
        "text": {
            "layers_boundaries": _("街镇/居村边界"), "layers_parcels": _("地块"), "layers_violations": _("违法建筑"),
            "layers_detections": _("待审核疑似变化"), "layers_sorties": _("无人机出动范围"),
            "layers_heat": _("新增违建热力图"), "layers_none": _("无底图"), "layers_latest": _("最新影像"),
            "layers_basemap": _("外部底图"), "legend": _("图例"),
            "cells": _("网格汇总（缩放级别 < 15）：颜色为最多的状态"),
            "open_item": _("打开图斑"), "review": _("审核"), "score": _("得分"), "area": _("面积"),
            "no_results": _("没有找到"), "local_crs": _("CGCS2000 3度带 120°E"), "count": _("数量"),
            "swipe_off": _("关闭对比"), "before": _("前期"), "after": _("后期"),
        },
    }


def static_assets() -> dict[str, str]:
    """URLs of the map's own assets (never a CDN)."""
    return {
        "leaflet_js": url_for("static", filename="vendor/leaflet/leaflet.js"),
        "leaflet_css": url_for("static", filename="vendor/leaflet/leaflet.css"),
        "vectorgrid_js": url_for("static", filename="vendor/Leaflet.VectorGrid.bundled.min.js"),
        "heat_js": url_for("static", filename="vendor/leaflet-heat.js"),
        "battlemap_js": url_for("static", filename="js/battlemap.js"),
        "battlemap_css": url_for("static", filename="css/battlemap.css"),
    }


@bp.route("/")
@login_required
def index() -> Any:
    """The district's battle map."""
    scope = webdb.scope()
    options = map_options(scope)
    rendered = builder.build(bounds=_bounds(scope), static=static_assets(), options=options)
    return render_template("map/index.html", fmap=rendered, options=options)


@bp.route("/map/compare")
@login_required
def compare() -> Any:
    """Two imagery dates side by side, the two maps kept on the same view."""
    scope = webdb.scope()
    bounds = _bounds(scope)
    centre = ((bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2) if bounds else (31.22, 121.40)
    return render_template("map/compare.html", imagery=_imagery(), static=static_assets(), centre=centre,
                           violations="/tiles/mvt/violations/{z}/{x}/{y}.pbf",
                           colours={s.value: COLOURS[s] for s in Status})
