"""Vector tiles: features at detail zooms, grid counts below, kept current by triggers; filters; bad addresses."""

from __future__ import annotations

import math

from sqlalchemy import text

from geo import items, tiles_mvt, workflow
from geo.models import Role, Status
from geo.scope import Scope
from tests.builders import add_street, add_violation, square
from tests.webapp import World, app, client, world  # noqa: F401

OFFICE = Scope(user_id=None, role=Role.OFFICE)


def _tile(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _cells(conn, street_id: int) -> dict[str, int]:
    rows = conn.execute(text("SELECT status, sum(n) FROM map_grid_counts WHERE layer = 'violations' AND lvl = 17 "
                             "AND street_id = :s GROUP BY status"), {"s": street_id}).all()
    return {r[0]: int(r[1]) for r in rows if r[1]}


def test_grid_counts_follow_inserts_transitions_and_deletes(session) -> None:
    street = add_street(session, lon=121.50, lat=31.30)
    a = add_violation(session, street_id=street.id, geom=square(121.51, 31.31))
    add_violation(session, street_id=street.id, geom=square(121.52, 31.31))
    conn = session.connection()
    assert _cells(conn, street.id) == {"suspected": 2}
    items.transition(session, a.id, workflow.Transition(Status.CONFIRMED, "t"))
    assert _cells(conn, street.id) == {"suspected": 1, "confirmed": 1}
    # three levels are kept, and they agree
    levels = conn.execute(text("SELECT lvl, sum(n) FROM map_grid_counts WHERE layer = 'violations' AND street_id = :s "
                               "GROUP BY lvl ORDER BY lvl"), {"s": street.id}).all()
    assert [(int(lv), int(n)) for lv, n in levels] == [(11, 2), (13, 2), (15, 2), (16, 2), (17, 2)]
    conn.execute(text("SELECT wj_grid_rebuild()"))
    assert _cells(conn, street.id) == {"suspected": 1, "confirmed": 1}


def test_detail_tile_carries_the_features_and_filters(session) -> None:
    street = add_street(session, lon=121.60, lat=31.30)
    key = add_violation(session, street_id=street.id, geom=square(121.61, 31.31), is_key=True, vtype="villa")
    plain = add_violation(session, street_id=street.id, geom=square(121.6103, 31.31), vtype="shed")
    z, x, y = _tile(121.6101, 31.3101, 16)
    conn = session.connection()
    data = tiles_mvt.tile(conn, "violations", z, x, y, OFFICE)
    assert key.code.encode() in data and plain.code.encode() in data
    only_key = tiles_mvt.tile(conn, "violations", z, x, y, OFFICE, tiles_mvt.Filters.from_args({"key": "1"}))
    assert key.code.encode() in only_key and plain.code.encode() not in only_key
    villas = tiles_mvt.tile(conn, "violations", z, x, y, OFFICE, tiles_mvt.Filters.from_args({"type": "villa"}))
    assert key.code.encode() in villas and plain.code.encode() not in villas
    march = tiles_mvt.tile(conn, "violations", z, x, y, OFFICE, tiles_mvt.Filters.from_args({"month": "2025-03"}))
    assert key.code.encode() in march
    assert tiles_mvt.tile(conn, "violations", z, x, y, OFFICE, tiles_mvt.Filters.from_args({"month": "2024-01"})) == b""
    other = Scope(user_id=None, role=Role.STREET, street_id=street.id + 10_000)
    assert tiles_mvt.tile(conn, "violations", z, x, y, other) == b""


def test_dense_tiles_become_cells_below_the_detail_zoom_sparse_ones_stay_polygons(session, monkeypatch) -> None:
    from tests.builders import add_parcel

    parcels = [add_parcel(session, square(121.80 + k * 0.0003, 31.30)) for k in range(6)]
    conn = session.connection()
    z, x, y = _tile(121.8001, 31.3001, 14)
    assert parcels[0].code.encode() in tiles_mvt.tile(conn, "parcels", z, x, y, OFFICE)  # sparse: polygons
    monkeypatch.setattr(tiles_mvt, "MAX_DETAIL_FEATURES", 5)
    dense = tiles_mvt.tile(conn, "parcels", z, x, y, OFFICE)
    assert dense and parcels[0].code.encode() not in dense  # dense: cells
    z, x, y = _tile(121.8001, 31.3001, 15)
    assert parcels[0].code.encode() in tiles_mvt.tile(conn, "parcels", z, x, y, OFFICE)  # detail zoom


def test_low_zoom_tiles_are_cells_not_polygons(session) -> None:
    street = add_street(session, lon=121.70, lat=31.30)
    for k in range(30):
        add_violation(session, street_id=street.id, geom=square(121.71 + k * 0.0003, 31.31))
    z, x, y = _tile(121.715, 31.3101, 10)
    data = tiles_mvt.tile(session.connection(), "violations", z, x, y, OFFICE)
    assert data and b"WJ-" not in data  # no item codes: counts per cell only
    z, x, y = _tile(121.715, 31.3101, 3)  # a span of stored cells too wide to look up column by column
    data = tiles_mvt.tile(session.connection(), "violations", z, x, y, OFFICE)
    assert data and b"WJ-" not in data
    assert tiles_mvt.grid_level(13) == (17, 17, 0) and tiles_mvt.grid_level(10) == (14, 15, 1)
    assert tiles_mvt.grid_level(12) == (16, 16, 0) and tiles_mvt.grid_level(9) == (13, 13, 0)


def test_bad_tile_requests_name_the_problem(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    r = c.get("/tiles/mvt/violations/30/0/0.pbf")
    assert r.status_code == 400 and "zoom 30" in r.json["message"]
    r = c.get("/tiles/mvt/violations/3/9/0.pbf")
    assert r.status_code == 400 and "9/0" in r.json["message"]
    r = c.get("/tiles/mvt/secrets/14/0/0.pbf")
    assert r.status_code == 404 and "secrets" in r.json["message"]
    r = c.get("/tiles/mvt/violations/14/0/0.pbf?type=palace")
    assert r.status_code == 400 and "type" in r.json["message"]
    ok = c.get("/tiles/mvt/boundaries/12/3429/1673.pbf")
    assert ok.status_code == 200 and ok.mimetype == "application/vnd.mapbox-vector-tile"


def test_tile_gate_is_given_back_after_every_request_and_a_busy_server_says_so(engine, world: World,  # noqa: F811
                                                                               monkeypatch) -> None:
    import webmap.tiles as web_tiles
    from tests.webapp import Client
    from webmap.factory import create_app

    one = create_app({"ENGINE": engine, "SECRET_KEY": "test-gate", "DATA_DIR": str(world.data_dir),
                      "TILE_CONCURRENCY": 1})
    gate = one.extensions["tile_gate"]
    c = client(one, world, "office")
    z, x, y = _tile(*world.items_origin, 16)
    assert c.get("/tiles/mvt/violations/30/0/0.pbf").status_code == 400  # refused inside the view
    assert Client(one, None).get(f"/tiles/mvt/violations/{z}/{x}/{y}.pbf").status_code == 401  # before it
    ok = c.get(f"/tiles/mvt/violations/{z}/{x}/{y}.pbf")
    assert ok.status_code == 200 and world.item_codes["confirmed"].encode() in ok.data
    assert gate.acquire(blocking=False)  # every request above gave its slot back
    try:
        monkeypatch.setattr(web_tiles, "SLOT_TIMEOUT_S", 0.05)
        busy = c.get(f"/tiles/mvt/violations/{z}/{x}/{y}.pbf")
        assert busy.status_code == 503 and "busy" in busy.json["message"]
    finally:
        gate.release()
    assert c.get(f"/tiles/mvt/violations/{z}/{x}/{y}.pbf").status_code == 200
