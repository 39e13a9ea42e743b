"""detection/ on the real imagery in ../shared/data (read in place, never copied)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from shapely.geometry import box, shape

from detection import align, chips, rasterio_io
from detection.errors import GridMismatchError, TileReadError
from detection.pipeline import detect_arrays, detect_files
from detection.types import DetectParams, ImageData

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NAIP_2009 = DATA / "aerial" / "m_4709963_se_14_1_20090818.tif"
NAIP_2020 = DATA / "aerial" / "m_4709963_se_14_1_20200831.tif"
LEVIR = DATA / "changedet" / "levir"
PAIR = "test_7_0256_0512"


def test_windowed_read_matches_full_read() -> None:
    full = rasterio_io.read_window(NAIP_2020)
    win = rasterio_io.read_window(NAIP_2020, Window(100, 50, 64, 32))
    assert full.crs == "EPSG:26914" and full.count == 3
    assert np.array_equal(win.array, full.array[:, 50:82, 100:164])
    assert win.transform.c == pytest.approx(full.transform.c + 100 * full.transform.a)
    assert win.transform.f == pytest.approx(full.transform.f + 50 * full.transform.e)


def test_boundless_read_marks_outside_invalid() -> None:
    i = rasterio_io.info(NAIP_2020)
    img = rasterio_io.read_window(NAIP_2020, Window(i.width - 10, -5, 20, 15), boundless=True)
    assert img.valid is not None
    assert img.valid[5:, :10].all() and not img.valid[:5].any() and not img.valid[:, 10:].any()


def test_reprojection_onto_the_2020_grid_and_coregistration() -> None:
    before = rasterio_io.read_window(NAIP_2009)
    after = rasterio_io.read_window(NAIP_2020)
    assert before.height != after.height  # the grids differ by a row
    on = align.reproject_to_grid(before, after.transform, after.crs, (after.height, after.width))
    assert on.array.shape == after.array.shape
    assert on.valid is not None and on.valid.mean() > 0.95
    a8, b8 = align.to_rgb8(on.array), align.to_rgb8(after.array)
    dx, dy, _ = align.estimate_shift(a8.mean(axis=2), b8.mean(axis=2))
    assert np.hypot(dx, dy) < 2.0  # same footprint: at most a small residual shift
    # the estimate is right: a known displacement of the 2020 image is recovered
    moved = align.apply_shift(b8.astype(np.float32), 2.0, -1.0)
    dx2, dy2, _ = align.estimate_shift(b8.mean(axis=2), moved.mean(axis=2))
    assert abs(dx2 + 2.0) < 0.2 and abs(dy2 - 1.0) < 0.2  # content moved by (-2, +1)


def test_detect_files_on_the_georeferenced_pair_windowed() -> None:
    params = DetectParams(window=256, overlap=32)
    fractions: list[float] = []
    res = detect_files(NAIP_2009, NAIP_2020, params, progress=fractions.append)
    i = rasterio_io.info(NAIP_2020)
    assert res.mask is not None and res.mask.shape == (i.height, i.width)
    assert res.crs == "EPSG:26914"
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and len(fractions) == 1 + res.stats["windows"]
    footprint = box(*i.bounds)
    for p in res.polygons:
        assert p.change in ("appeared", "disappeared")
        assert p.area_m2 is not None and p.area_m2 >= params.min_area_m2
        assert 0.0 <= p.score <= 1.0
        assert footprint.buffer(1.0).contains(p.geometry)
    # seams merged: no two polygons of one kind overlap or touch across a window edge
    for k in ("appeared", "disappeared"):
        geoms = [p.geometry for p in res.polygons if p.change == k]
        for x in range(len(geoms)):
            for y in range(x + 1, len(geoms)):
                assert geoms[x].intersection(geoms[y]).area < 1.0


def test_detect_arrays_finds_levir_buildings() -> None:
    def rgb(p: Path) -> np.ndarray:
        return cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)

    a = ImageData.from_hwc(rgb(LEVIR / "A" / f"{PAIR}.png"))
    b = ImageData.from_hwc(rgb(LEVIR / "B" / f"{PAIR}.png"))
    label = cv2.imread(str(LEVIR / "label" / f"{PAIR}.png"), cv2.IMREAD_GRAYSCALE) > 127
    res = detect_arrays(a, b)
    assert res.mask is not None and res.mask.shape == (256, 256)
    flagged = res.mask > 0
    # far better than chance: most flagged pixels are labelled change
    assert (flagged & label).sum() > 0.3 * flagged.sum() > 0
    assert all(p.area_m2 is None for p in res.polygons)  # plain PNG: pixel coordinates
    nothing = detect_arrays(a, a)
    assert nothing.mask is not None and not nothing.mask.any()


def test_plain_images_must_have_same_size(tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((100, 120, 3), np.uint8))
    with pytest.raises(GridMismatchError, match=r"small\.png"):
        detect_files(LEVIR / "A" / f"{PAIR}.png", small)
    with pytest.raises(TileReadError, match=r"missing\.png"):
        detect_files(tmp_path / "missing.png", small)


def test_chips_are_pngs_around_the_polygon() -> None:
    i = rasterio_io.info(NAIP_2020)
    left, _, _, top = i.bounds
    geom = box(left + 500, top - 800, left + 700, top - 600)
    before_png, after_png = chips.chips_for_polygon(NAIP_2009, NAIP_2020, geom, size=128)
    for png in (before_png, after_png):
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and max(img.shape[:2]) == 128
    assert before_png != after_png


def test_geojson_of_a_result_is_valid(tmp_path: Path) -> None:
    res = detect_files(LEVIR / "A" / f"{PAIR}.png", LEVIR / "B" / f"{PAIR}.png")
    fc = json.loads(json.dumps(res.to_geojson()))
    assert fc["type"] == "FeatureCollection" and "crs" not in fc
    for f in fc["features"]:
        assert shape(f["geometry"]).is_valid
        assert f["properties"]["change"] in ("appeared", "disappeared")


def test_naip_tif_is_really_georeferenced() -> None:
    with rasterio.open(NAIP_2009) as ds:
        assert ds.crs is not None and ds.count == 4
