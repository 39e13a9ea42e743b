"""Tile routes: one scene, and the newest-imagery mosaic.

Empty tiles are a transparent 256 px PNG with status 200 (not 204): map clients then show
nothing and log no error. Scene tiles never change (the store is content-addressed), so
their ETag is the scene checksum plus z/x/y and they may be cached for a day; mosaic tiles
change when a scene is added, so their ETag hashes the scenes used and they are cached 5
minutes. ``If-None-Match`` answers 304 without reading any pixel.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, request
from flask_login import login_required
from sqlalchemy import func, select

from geo.errors import NotFound
from geo.imagery.store import scene_file
from geo.imagery.tiles import FORMATS, TileRequest, mosaic_tile, scene_tile, tile_bounds_wgs84
from geo.models import Scene
from webmap import db as webdb
from webmap.imagery import bp
from webmap.imagery.common import settings

MOSAIC_MAX_SCENES = 8


def _tile(z: int, x: int, y: int, fmt: str) -> TileRequest:
    t = TileRequest(z, x, y, fmt)
    if not t.valid():
        raise NotFound(f"no tile {z}/{x}/{y}.{fmt}")
    return t


def _respond(etag: str, max_age: int, render: Any, fmt: str) -> Response:
    if request.if_none_match.contains(etag):
        resp = Response(status=304)
    else:
        data: bytes = render()
        from geo.imagery.tiles import EMPTY_PNG

        mime = "image/png" if data is EMPTY_PNG else FORMATS[fmt][1]
        resp = Response(data, mimetype=mime)
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = f"private, max-age={max_age}"
    resp.headers["Vary"] = "Cookie"
    return resp


@bp.route("/tiles/scenes/<int:scene_id>/<int:z>/<int:x>/<int:y>.<fmt>")
@login_required
def scene_xyz(scene_id: int, z: int, x: int, y: int, fmt: str) -> Any:
    """One 256 px tile of a stored scene."""
    tile = _tile(z, x, y, fmt)
    sha, rel = _scene_row(scene_id)
    path = scene_file(settings().data_dir, rel)
    if not path.exists():
        raise NotFound(f"the file of scene {scene_id} is missing")
    return _respond(f"{sha[:20]}-{z}-{x}-{y}-{fmt}", 86400, lambda: scene_tile(path, tile), fmt)


_scene_rows: dict[tuple[str, int], tuple[str, str]] = {}


def _scene_row(scene_id: int) -> tuple[str, str]:
    """(sha256, store path) of a scene; cached, since a stored scene never changes."""
    key = (str(webdb.engine().url), scene_id)
    row = _scene_rows.get(key)
    if row is None:
        found = webdb.session().execute(select(Scene.sha256, Scene.path).where(Scene.id == scene_id)).one_or_none()
        if found is None:
            raise NotFound(f"scene {scene_id} does not exist")
        row = _scene_rows[key] = (found.sha256, found.path)
        if len(_scene_rows) > 10_000:
            _scene_rows.clear()
    return row


@bp.route("/tiles/latest/<int:z>/<int:x>/<int:y>.<fmt>")
@login_required
def latest_xyz(z: int, x: int, y: int, fmt: str) -> Any:
    """The newest imagery covering each pixel of the tile (``?sensor=drone|satellite`` to filter)."""
    tile = _tile(z, x, y, fmt)
    w, s, e, n = tile_bounds_wgs84(tile)
    stmt = (select(Scene.sha256, Scene.path)
            .where(func.ST_Intersects(Scene.footprint, func.ST_MakeEnvelope(w, s, e, n, 4326)))
            .order_by(Scene.captured_at.desc(), Scene.id.desc()).limit(MOSAIC_MAX_SCENES))
    sensor = request.args.get("sensor")
    if sensor:
        stmt = stmt.where(Scene.sensor == sensor)
    rows = webdb.session().execute(stmt).all()
    data_dir = settings().data_dir
    paths = [scene_file(data_dir, r.path) for r in rows]
    etag = hashlib.sha1("|".join([f"{z}/{x}/{y}.{fmt}"] + [r.sha256 for r in rows]).encode()).hexdigest()
    return _respond(etag, 300, lambda: mosaic_tile(paths, tile), fmt)
