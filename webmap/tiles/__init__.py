"""Vector tiles (ST_AsMVT) of the map layers, with the user's street scope applied in SQL.

Imagery tiles (PNG) are served by their own blueprint; this one serves
``/tiles/mvt/<layer>/<z>/<x>/<y>.pbf``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from flask_login import login_required

from geo import tiles_mvt
from webmap import db as webdb

bp = Blueprint("tiles", __name__)

MVT_MIME = "application/vnd.mapbox-vector-tile"


@bp.route("/tiles/mvt/<layer>/<int:z>/<int:x>/<int:y>.pbf")
@login_required
def mvt(layer: str, z: int, x: int, y: int) -> Any:
    """One vector tile of ``layer``; filters as query arguments (status, type, street, key, indb, month)."""
    scope = webdb.scope()
    filters = tiles_mvt.Filters.from_args(request.args)
    # The request's session already holds a connection (it loaded the user): reuse it.
    data = tiles_mvt.tile(webdb.session().connection(), layer, z, x, y, scope, filters)
    resp = Response(data, mimetype=MVT_MIME)
    # Items change all day: the browser may keep a tile only while the page lives.
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp
