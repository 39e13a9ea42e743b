"""The JSON API: OpenAPI document, search, heat map, tile index, error table."""

from __future__ import annotations

from geo.errors import ConflictError, InvalidTransition, NotFound, PermissionDenied, ValidationError
from tests.webapp import World, app, client, world  # noqa: F401


def test_openapi_document_lists_the_operations(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "viewer")
    doc = c.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    for path in ("/api/items", "/api/items/{item_id}/transitions", "/api/detections/{detection_id}/review",
                 "/tiles/mvt/{layer}/{z}/{x}/{y}.pbf"):
        assert path in doc["paths"]
    assert doc["components"]["securitySchemes"]["csrf"]["name"] == "X-CSRFToken"
    assert "/api/items" in c.get("/api/docs").text


def test_search_finds_items_by_code_and_address(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    code = world.item_codes["closed"]
    hits = c.get(f"/api/search?q={code}").json["results"]
    assert hits[0]["id"] == world.items["closed"] and hits[0]["geometry"]["type"] == "MultiPolygon"
    by_address = c.get("/api/search?q=甲路104号").json["results"]
    assert any(h["kind"] == "violation" and h["id"] == world.items["demolished"] for h in by_address)
    assert c.get("/api/search?q=" + "x" * 101).status_code == 400


def test_heat_points_count_new_items_of_the_month(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    march = c.get("/api/heat?month=2025-03").json["points"]
    lon0, lat0 = world.items_origin
    near = [p for p in march if abs(p[0] - lat0) < 0.01 and abs(p[1] - lon0) < 0.01]
    assert sum(p[2] for p in near) >= len(world.items)  # this world's items, counted where they lie
    assert c.get("/api/heat?month=2019-01").json["points"] == []
    assert c.get("/api/heat?month=March").status_code == 400


def test_tile_index(app, world: World) -> None:  # noqa: F811
    info = client(app, world, "viewer").get("/api/tiles").json
    assert set(info["layers"]) == {"boundaries", "parcels", "violations", "detections", "sorties"}
    assert info["detail_zoom"] == 15 and info["detail_zooms"]["detections"] == 14


def test_error_table_maps_domain_errors() -> None:
    from webmap.errors import status_for

    assert status_for(NotFound("x")) == 404
    assert status_for(PermissionDenied("x")) == 403
    assert status_for(ConflictError("x")) == 409
    assert status_for(InvalidTransition("a", "b")) == 409
    assert status_for(ValidationError("x")) == 400
    assert status_for(RuntimeError("x")) == 500


def test_every_interface_text_has_an_english_translation() -> None:
    import re
    from pathlib import Path

    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[1] / "webmap"
    with (root / "translations/en/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh)
    missing = []
    for path in list(root.rglob("*.html")) + list(root.rglob("*.py")):
        for m in re.finditer(r"""(?<![A-Za-z0-9_])_\(\s*(['"])(.+?)\1""", path.read_text(encoding="utf-8")):
            msg = catalog.get(m.group(2))
            if msg is None or not msg.string:
                missing.append(f"{path.relative_to(root)}: {m.group(2)}")
    assert not missing, missing
