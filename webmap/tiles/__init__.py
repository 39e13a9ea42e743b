"""Vector tiles (ST_AsMVT) of the map layers, with the user's street scope applied in SQL.

Imagery tiles (PNG) are served by their own blueprint; this one serves
``/tiles/mvt/<layer>/<z>/<x>/<y>.pbf``.

A map pan asks for dozens of tiles at once. At most ``TILE_CONCURRENCY`` of them (app config
or environment; default the pool size ``DB_POOL_SIZE``, which is about the core count) hold
a database connection at a time, from before the user is loaded until the connection is
back in the pool: the rest wait their turn in the web server's threads. PostgreSQL then
works on about as many tiles as there are cores, and the pool never opens short-lived
overflow connections for a burst of tiles (a new backend costs more CPU than several tiles:
it loads PostGIS and PROJ and plans cold).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState
from flask_login import login_required

from geo import tiles_mvt
from geo.errors import DatabaseUnavailable
from webmap import db as webdb

bp = Blueprint("tiles", __name__)

MVT_MIME = "application/vnd.mapbox-vector-tile"
#: How long a tile request waits for its turn before it is refused (503).
SLOT_TIMEOUT_S = 30.0


@bp.record_once
def _gate(state: BlueprintSetupState) -> None:
    """Create the app's tile gate (read when the blueprint is registered, never at import)."""
    app = state.app
    n = int(app.config.get("TILE_CONCURRENCY") or os.environ.get("TILE_CONCURRENCY")
            or app.config.get("DB_POOL_SIZE") or os.cpu_count() or 2)
    if n < 1:
        raise ValueError(f"TILE_CONCURRENCY: {n} is not a positive number of tiles")
    app.extensions["tile_gate"] = threading.BoundedSemaphore(n)


@bp.before_request
def _enter() -> None:
    """Wait for a free tile slot (before the user is loaded: that already takes a connection)."""
    gate: threading.BoundedSemaphore = current_app.extensions["tile_gate"]
    if not gate.acquire(timeout=SLOT_TIMEOUT_S):
        raise DatabaseUnavailable(f"the map server is busy: no tile slot within {SLOT_TIMEOUT_S:.0f} s")
    g.tile_gate = gate


@bp.teardown_request
def _leave(_exc: BaseException | None = None) -> None:
    """Give the connection back to the pool, then the slot."""
    gate = g.pop("tile_gate", None)
    if gate is not None:
        webdb.close_session()
        gate.release()


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
