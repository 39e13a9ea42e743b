"""Street scopes hold under direct URL and API access, in lists, exports and tiles."""

from __future__ import annotations

from tests.webapp import Client, World, app, client, world  # noqa: F401


def test_street_user_cannot_open_another_streets_item_by_url_or_api(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "street")
    own = world.items["confirmed"]
    assert c.get(f"/items/{own}").status_code == 200
    page = c.get(f"/items/{world.item_b}")
    assert page.status_code == 404
    assert "outside your street" in page.text
    api = c.get(f"/api/items/{world.item_b}")
    assert api.status_code == 404 and api.json["error"] == "not_found"
    assert c.get(f"/api/detections/{world.detections_b[0]}").status_code == 404
    assert c.get(f"/review/chips/{world.detections_b[0]}/after.png").status_code == 404


def test_street_user_cannot_act_on_another_streets_item(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "street")
    r = c.post_json(f"/api/items/{world.item_b}/transitions", {"target": "case_filed", "version": 2})
    assert r.status_code == 404
    r = c.post_json(f"/api/detections/{world.detections_b[0]}/review", {"action": "confirm"})
    assert r.status_code == 404
    # the other street's user sees it unchanged
    other = client(app, world, "street_b")
    item = other.get(f"/api/items/{world.item_b}").json
    assert item["status"] == "confirmed" and item["version"] == 2


def test_lists_exports_and_search_are_scoped(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "street")
    ids = {i["id"] for i in c.get("/api/items?limit=1000").json["items"]}
    assert world.items["confirmed"] in ids and world.item_b not in ids
    assert all(i["street_id"] == world.street_a for i in c.get("/api/items?limit=1000").json["items"])
    csv = c.get("/items/export.csv").text
    assert world.item_codes["confirmed"] in csv and world.item_b_code not in csv
    found = c.get(f"/api/search?q={world.item_b_code}").json["results"]
    assert not [r for r in found if r["kind"] == "violation"]
    assert [r["id"] for r in client(app, world, "office").get(f"/api/search?q={world.item_b_code}").json["results"]
            if r["kind"] == "violation"] == [world.item_b]
    dets = {d["id"] for d in c.get("/api/detections?limit=1000").json["detections"]}
    assert set(world.detections_a) <= dets and not dets & set(world.detections_b)
    office = client(app, world, "office")
    office_ids = {i["id"] for i in office.get("/api/items?limit=1000").json["items"]}
    assert {world.items["confirmed"], world.item_b} <= office_ids


def test_vector_tiles_are_scoped(app, world: World) -> None:  # noqa: F811
    b_lon, b_lat = world.street_b_origin
    lon, lat = b_lon + 0.01, b_lat + 0.015
    z, x, y = _tile(lon, lat, 16)
    office = client(app, world, "office").get(f"/tiles/mvt/violations/{z}/{x}/{y}.pbf")
    assert office.status_code == 200 and world.item_b_code.encode() in office.data
    street = client(app, world, "street").get(f"/tiles/mvt/violations/{z}/{x}/{y}.pbf")
    assert street.status_code == 200 and world.item_b_code.encode() not in street.data
    # aggregated low-zoom tiles too: the street user's cells hold only their street's count
    z, x, y = _tile(lon, lat, 11)
    assert len(client(app, world, "office").get(f"/tiles/mvt/violations/{z}/{x}/{y}.pbf").data) > 0


def test_anonymous_is_refused_everywhere(app, world: World) -> None:  # noqa: F811
    c = Client(app, None)
    assert c.get(f"/api/items/{world.item_b}").status_code == 401
    assert c.get("/tiles/mvt/violations/14/0/0.pbf").status_code == 401
    r = c.get(f"/items/{world.item_b}")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def _tile(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    import math

    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y
