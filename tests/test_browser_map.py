"""The battle map in a real browser: every role logs in and sees the layers drawn, from our own host only."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from geo.models import Status
from geo.workflow import COLOURS
from tests.browser import browser, foreign_requests, login, new_page, shot  # noqa: F401
from tests.webapp import ITEM_SIZE, Web, web  # noqa: F401


@pytest.fixture(scope="module")
def world(engine, tmp_path_factory):
    """This module's world, 0.5° north of the others so that no other world overlaps it on the map."""
    from geo.db import session_factory
    from tests.webapp import build_world

    return build_world(session_factory(engine), tmp_path_factory.mktemp("data"), queue_size=10, shift=0.5)


BACKGROUND = (221, 221, 221)  # Leaflet's map background
FILL_OPACITY = 0.55


def _hex(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


def status_pixels(path, colour: str) -> int:
    """Pixels of the map showing an item's fill of this colour (over the plain or parcel background)."""
    img = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    c = _hex(colour)
    count = 0
    for bg in (np.array(BACKGROUND, float), np.array(BACKGROUND, float) * 0.85 + _hex("#e5e7eb") * 0.15):
        expected = FILL_OPACITY * c + (1 - FILL_OPACITY) * bg
        count = max(count, int((np.abs(img - expected).max(axis=2) <= 10).sum()))
    return count


def wait_for_tiles(page, *layers: str) -> None:
    page.wait_for_function(
        "(layers) => window.WJ_MAP && layers.every(l => WJ_MAP.layers[l].wjLoads > 0)", arg=list(layers))
    page.wait_for_timeout(300)


@pytest.mark.parametrize("role", ["admin", "office", "street", "drone", "viewer"])
def test_each_role_sees_the_items_drawn_by_status(browser, web: Web, role: str) -> None:  # noqa: F811
    page, rec = new_page(browser, web.url)
    login(page, web.world.users[role])
    assert web.world.users[role] in page.inner_text("#who")
    lon, lat = web.world.items_origin
    lat, lon = lat + 0.0015, lon + 0.0035
    page.goto(f"/?lat={lat}&lon={lon}&z=16")
    wait_for_tiles(page, "violations", "parcels", "boundaries")
    path = shot(page, f"map_{role}")
    for status in Status:
        assert status_pixels(path, COLOURS[status]) > 300, f"{role}: no {status.value} item drawn"
    legend = page.inner_text("#legend")
    assert "疑似" in legend and "销项" in legend
    assert page.locator(".leaflet-control-layers").count() == 1
    assert page.locator(".leaflet-control-scale").count() == 1
    assert foreign_requests(rec, web.url) == []
    page.context.close()


def test_street_user_does_not_see_other_streets_on_the_map(browser, web: Web) -> None:  # noqa: F811
    b_lon, b_lat = web.world.street_b_origin
    lat, lon = b_lat + 0.015 + ITEM_SIZE / 2, b_lon + 0.01 + ITEM_SIZE / 2
    counts = {}
    for role in ("office", "street"):
        page, rec = new_page(browser, web.url)
        login(page, web.world.users[role])
        page.goto(f"/?lat={lat}&lon={lon}&z=17")
        wait_for_tiles(page, "violations")
        counts[role] = status_pixels(shot(page, f"map_street_b_as_{role}"), COLOURS[Status.CONFIRMED])
        assert foreign_requests(rec, web.url) == []
        page.context.close()
    assert counts["office"] > 1000 and counts["street"] == 0


def test_low_zoom_shows_grid_cells_and_filters_redraw(browser, web: Web) -> None:  # noqa: F811
    page, rec = new_page(browser, web.url)
    login(page, web.world.users["office"])
    lon0, lat0 = web.world.items_origin
    page.goto(f"/?lat={lat0}&lon={lon0}&z=12")
    wait_for_tiles(page, "violations")
    tiles = [u for u in rec.urls if "/tiles/mvt/violations/12/" in u]
    assert tiles, "low zoom tiles requested"
    # filter by status: only 'closed' remains at detail zoom
    page.goto(f"/?lat={lat0 + 0.0015}&lon={lon0 + 0.0035}&z=16")
    wait_for_tiles(page, "violations")
    for box in page.locator("#f-status input").all():
        if box.get_attribute("value") != "closed":
            box.uncheck()
    page.wait_for_function("() => WJ_MAP.layers.violations._url.indexOf('status=closed') > 0")
    page.wait_for_timeout(1200)
    path = shot(page, "map_filtered_closed")
    assert status_pixels(path, COLOURS[Status.CLOSED]) > 300
    assert status_pixels(path, COLOURS[Status.SUSPECTED]) == 0
    page.context.close()


def test_search_coordinates_and_heat_map(browser, web: Web) -> None:  # noqa: F811
    from pyproj import Transformer

    page, rec = new_page(browser, web.url)
    login(page, web.world.users["office"])
    page.goto("/")
    page.wait_for_function("() => window.WJ_MAP")
    # local CRS (EPSG:4549) computed in the page agrees with PROJ to the centimetre
    x, y = Transformer.from_crs(4326, 4549, always_xy=True).transform(121.43, 31.21)
    local = page.evaluate("() => WJ.toLocal(121.43, 31.21)")
    assert abs(local["x"] - x) < 0.02 and abs(local["y"] - y) < 0.02  # easting, northing
    page.mouse.move(900, 500)
    assert "EPSG:4549" in page.inner_text("#coords")
    code = web.world.item_codes["annotated"]
    page.fill("#search", code)
    page.press("#search", "Enter")
    page.wait_for_selector(".leaflet-popup-content")
    assert code in page.inner_text(".leaflet-popup-content")
    centre = page.evaluate("() => WJ_MAP.map.getCenter()")
    lon0, lat0 = web.world.items_origin
    assert abs(centre["lat"] - lat0) < 0.01 and abs(centre["lng"] - lon0) < 0.01
    page.evaluate("() => { const s = document.getElementById('heat-month'); const o = document.createElement('option');"
                  " o.value = '2025-03'; o.text = '2025-03'; s.add(o); s.value = '2025-03'; }")
    page.check("#heat-on")
    page.wait_for_function("() => WJ_MAP.heatCount > 0")
    shot(page, "map_heat")
    assert foreign_requests(rec, web.url) == []
    page.context.close()


def test_swipe_divider_clips_two_imagery_layers_and_follows_the_keyboard(browser, web: Web) -> None:  # noqa: F811
    page, rec = new_page(browser, web.url)
    login(page, web.world.users["office"])
    lon0, lat0 = web.world.items_origin
    page.goto(f"/?lat={lat0}&lon={lon0}&z=16")
    page.wait_for_function("() => window.WJ_MAP")
    # two raster layers from our own static folder stand in for two imagery dates
    page.evaluate("""() => {
        const url = '/static/vendor/leaflet/images/layers.png?{z}/{x}/{y}';
        const before = L.tileLayer(url).addTo(WJ_MAP.map), after = L.tileLayer(url + '&b').addTo(WJ_MAP.map);
        window.SW = new WJ.Swipe(before, after).addTo(WJ_MAP.map);
        window.SW_LAYERS = [before, after];
    }""")
    page.wait_for_timeout(300)

    def clips() -> tuple[list[float], list[float]]:
        raw = page.evaluate("() => SW_LAYERS.map(l => l.getContainer().style.clip)")
        nums = [[float(v) for v in c.replace("rect(", "").replace(")", "").replace("px", "").split(",")] for c in raw]
        return nums[0], nums[1]

    left, right = clips()
    assert abs(left[1] - right[3]) < 0.5  # the before layer ends where the after layer starts
    width = page.evaluate("() => WJ_MAP.map.getSize().x")
    assert abs((left[1] - left[3]) - width / 2) < 1
    page.focus(".wj-swipe-handle")
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    left2, right2 = clips()
    assert abs((left2[1] - left2[3]) - width * 0.3) < 1 and abs(left2[1] - right2[3]) < 0.5
    page.evaluate("() => WJ_MAP.map.panBy([120, 0], {animate: false})")
    left3, _ = clips()
    assert abs((left3[1] - left3[3]) - width * 0.3) < 1  # the divider stays put on screen while the map moves
    shot(page, "map_swipe")
    assert foreign_requests(rec, web.url) == []
    page.context.close()
