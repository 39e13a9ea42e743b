"""Pure functions of detection/ on small synthetic arrays."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from detection import align, change, vectorize, windows
from detection.errors import DetectionError, GridMismatchError, TileReadError
from detection.metrics import Scores, cva_baseline
from detection.types import APPEARED, DISAPPEARED, ChangePolygon, ImageData


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.uniform(0, 255, (h // 8, w // 8, 3)).astype(np.float32), (w, h))
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def test_errors_inherit_builtins() -> None:
    assert issubclass(TileReadError, OSError) and issubclass(TileReadError, DetectionError)
    assert issubclass(GridMismatchError, ValueError)


def test_imagedata_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        ImageData(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError):
        ImageData(np.zeros((3, 4, 4), np.uint8), valid=np.ones((3, 3), bool))
    img = ImageData(np.zeros((3, 4, 5), np.uint8), Affine(0.5, 0, 0, 0, -0.5, 0), "EPSG:32651")
    assert (img.width, img.height, img.pixel_size) == (5, 4, 0.5)


def test_phase_correlation_recovers_subpixel_shift() -> None:
    ref = _texture(256, 256).astype(np.float32)
    mov = align.apply_shift(ref, -1.5, 0.75)  # content moved by (+1.5, -0.75)
    dx, dy, resp = align.estimate_shift(ref.mean(axis=2), mov.mean(axis=2))
    assert resp > 0.1
    assert abs(dx - 1.5) < 0.15 and abs(dy + 0.75) < 0.15
    back = align.apply_shift(mov, dx, dy)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(back[inner] - ref[inner]).mean() < np.abs(mov[inner] - ref[inner]).mean() / 2


def test_histogram_matching_removes_illumination_change() -> None:
    a = _texture(128, 128)
    b = np.clip(a.astype(np.float32) * 0.7 + 30, 0, 255).astype(np.uint8)
    m = align.match_histograms(b, a)
    assert np.abs(m.astype(int) - a.astype(int)).mean() < 3
    assert np.abs(b.astype(int) - a.astype(int)).mean() > 10


def test_reproject_requires_crs_on_both_sides() -> None:
    img = ImageData(np.zeros((3, 8, 8), np.uint8), crs=None)
    with pytest.raises(GridMismatchError):
        align.reproject_to_grid(img, Affine.identity(), "EPSG:32651", (8, 8))


def test_tiles_cover_grid_once() -> None:
    tl = windows.tiles(1000, 700, 256, 32)
    cover = np.zeros((700, 1000), np.int32)
    for t in tl:
        c = t.core
        cover[int(c.row_off) : int(c.row_off + c.height), int(c.col_off) : int(c.col_off + c.width)] += 1
        rs, cs = t.inner
        assert rs.stop - rs.start == c.height and cs.stop - cs.start == c.width
    assert (cover == 1).all()


def test_seam_pieces_are_merged() -> None:
    left = ChangePolygon(box(0, 0, 10, 10), "appeared", 100.0, 0.9)
    right = ChangePolygon(box(10, 0, 14, 10), "appeared", 40.0, 0.5)
    other = ChangePolygon(box(10, 20, 14, 30), "disappeared", 40.0, 0.7)
    merged = windows.merge_across_seams([left, right, other], tol=0.5)
    kinds = sorted(p.change for p in merged)
    assert kinds == ["appeared", "disappeared"]
    app = next(p for p in merged if p.change == "appeared")
    assert app.geometry.area == pytest.approx(140, rel=0.02)
    assert 0.5 < app.score < 0.9


def test_vectorize_areas_kinds_and_min_area() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[10:30, 10:50] = APPEARED  # 800 px = 200 m² at 0.5 m
    mask[60:64, 60:64] = DISAPPEARED  # 16 px = 4 m²: below 5 m²
    mask[70:90, 70:80] = DISAPPEARED  # 200 px = 50 m²
    score = np.where(mask > 0, 0.8, 0).astype(np.float32)
    t = Affine(0.5, 0, 350000, 0, -0.5, 3450000)
    polys = vectorize.vectorize(mask, score, t, "EPSG:32651", min_area_m2=5.0)
    assert sorted((p.change, round(p.area_m2 or 0)) for p in polys) == [("appeared", 200), ("disappeared", 50)]
    assert all(p.score == pytest.approx(0.8) for p in polys)
    minx, _, _, maxy = polys[0].geometry.bounds if polys[0].change == "appeared" else polys[1].geometry.bounds
    assert (minx, maxy) == (350005.0, 3449995.0)
    plain = vectorize.vectorize(mask, score, Affine.identity(), None, min_area_px=100)
    assert len(plain) == 2 and all(p.area_m2 is None for p in plain)


def test_candidate_stage_discards_unchanged_pixels() -> None:
    a = _texture(256, 256)
    b = a.copy()
    b[100:140, 100:160] = 200
    cand = change.candidate_mask(a, b, threshold=10)
    assert cand.shape == (64, 64)
    assert cand[30, 32] and not cand[5, 5]
    assert cand.mean() < 0.3


def test_candidate_groups_the_size_of_a_building_site_are_looked_around_farther() -> None:
    a = _texture(256, 256)
    b = a.copy()
    b[40:120, 40:120] = 220  # a large changed area: 20 x 20 cells
    b[200:216, 200:216] = 220  # a lone small change: 4 x 4 cells
    narrow = change.candidate_mask(a, b, threshold=10, cluster_cells=0)
    wide = change.candidate_mask(a, b, threshold=10, cluster_cells=30, cluster_dilate=15)
    # beside the large area (cells 10..29) the candidates reach 3 cells farther on each side
    assert np.flatnonzero(narrow[20]).tolist() == list(range(6, 34))
    assert np.flatnonzero(wide[20]).tolist() == list(range(3, 37))
    # the lone small change (cells 50..53) keeps the narrow disc, and nothing is lost anywhere
    assert np.array_equal(narrow[40:64, 40:64], wide[40:64, 40:64]) and narrow[52, 46]
    assert not (narrow & ~wide).any()


def test_scores_pool_pixels_and_objects() -> None:
    label = np.zeros((50, 50), np.uint8)
    label[5:15, 5:15] = 255
    label[30:40, 30:40] = 255
    pred = np.zeros_like(label)
    pred[5:15, 5:12] = 255  # 70 % of the first object
    pred[45:48, 0:3] = 255  # a false blob
    s = Scores()
    s.add(pred, label)
    assert s.tp == 70 and s.fp == 9 and s.fn == 130
    assert s.object_recall == 0.5
    assert s.false_blobs == 1
    assert s.f1 == pytest.approx(140 / (140 + 9 + 130))


def test_baseline_flags_a_strong_change() -> None:
    a = np.full((64, 64, 3), 90, np.uint8)
    b = a.copy()
    b[20:40, 20:40] = (230, 230, 230)
    m = cva_baseline(a, b)
    assert m[30, 30] == 255 and m[5, 5] == 0


def test_detection_package_imports_no_upper_layers() -> None:
    root = Path(__file__).resolve().parents[1] / "detection"
    banned = {"geo", "webmap", "reports", "flask", "sqlalchemy", "geoalchemy2"}
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert n.split(".")[0].lower() not in banned, f"{path.name} imports {n}"


@pytest.mark.parametrize(("crs", "lat"), [("EPSG:4326", 60.0), ("EPSG:4326", 31.2), ("EPSG:32651", 31.2)])
def test_look_back_regions_grow_by_the_same_metres_east_and_north(tmp_path: Path, crs: str, lat: float) -> None:
    import json

    import rasterio
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping, shape

    from detection.cli_support import read_regions
    from detection.types import LOOK_BACK_MARGIN_M

    lon = 121.5
    record = box(lon, lat, lon + 0.0005, lat + 0.0003)  # about 50 x 33 m at 31 deg
    (tmp_path / "r.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": mapping(record)}]}), encoding="utf-8")
    x0, y0 = transform_geom("EPSG:4326", crs, {"type": "Point", "coordinates": (lon, lat)})["coordinates"]
    step = 1e-5 if crs == "EPSG:4326" else 1.0
    tif = tmp_path / "img.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=8, height=8, count=3, dtype="uint8", crs=crs,
                       transform=Affine(step, 0, x0, 0, -step, y0)) as ds:
        ds.write(np.zeros((3, 8, 8), np.uint8))
    (grown,) = read_regions(tmp_path / "r.geojson", tif)
    # measured on a metric grid of its own place: the margin is metres on the ground both ways
    local = f"+proj=tmerc +lat_0={lat} +lon_0={lon} +k=1 +x_0=0 +y_0=0 +ellps=WGS84"
    g = shape(transform_geom(crs, local, mapping(grown)))
    r = shape(transform_geom("EPSG:4326", local, mapping(record)))
    gx0, gy0, gx1, gy1 = g.bounds
    rx0, ry0, rx1, ry1 = r.bounds
    for grow in (rx0 - gx0, gx1 - rx1, ry0 - gy0, gy1 - ry1):
        assert grow == pytest.approx(LOOK_BACK_MARGIN_M, abs=0.02)


def test_median_of_a_uint8_array_from_its_histogram_equals_numpys() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 5, 10, 11, 999, 1000, 74_000):
        for top in (2, 5, 256):
            x = rng.integers(0, top, n, dtype=np.uint8)
            assert change._median_u8(x) == float(np.median(x)), (n, top)
    assert change._median_u8(np.array([[0, 255], [255, 3]], np.uint8)) == 129.0


def test_range_excess_is_the_distance_outside_the_neighbours_range_in_the_worst_band() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (37, 41, 3), dtype=np.uint8)
    y = rng.integers(0, 256, (37, 41, 3), dtype=np.uint8)
    # reference: each pixel against the min..max of y over itself and its 4 neighbours (inside)
    yi = y.astype(int)
    pad_hi = np.pad(yi, ((1, 1), (1, 1), (0, 0)), constant_values=-1)
    pad_lo = np.pad(yi, ((1, 1), (1, 1), (0, 0)), constant_values=256)
    shifts = [(1, 1), (0, 1), (2, 1), (1, 0), (1, 2)]
    hi = np.max([pad_hi[r : r + 37, c : c + 41] for r, c in shifts], axis=0)
    lo = np.min([pad_lo[r : r + 37, c : c + 41] for r, c in shifts], axis=0)
    want = np.maximum(np.maximum(x - hi, lo - x), 0).max(axis=2)
    got = change._range_excess(x, y)
    assert got.dtype == np.uint8 and np.array_equal(got, want)
    assert np.array_equal(change._range_excess(x[:, :, 0], y[:, :, 0]),
                          np.maximum(np.maximum(x[:, :, 0] - hi[:, :, 0], lo[:, :, 0] - x[:, :, 0]), 0))


def test_components_are_opencvs_default_labelling() -> None:
    rng = np.random.default_rng(5)
    for density in (0.002, 0.05, 0.5):
        mask = (rng.random((300, 257)) < density).astype(np.uint8)
        n, lab, st = change.components(mask)
        ref_n, ref_lab, ref_st, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        assert n == ref_n and n > 1
        assert np.array_equal(lab, ref_lab) and np.array_equal(st, ref_st)


def test_task_spans_cover_every_window_once_and_shrink_to_single_windows() -> None:
    from detection.pipeline import task_spans

    for n, threads in ((100, 2), (25, 1), (1, 4), (400, 8), (7, 2)):
        spans = task_spans(n, threads)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # contiguous, in order
        sizes = [j - i for i, j in spans]
        assert sizes == sorted(sizes, reverse=True) and min(sizes) == 1
        assert sizes[-threads:] == [1] * min(threads, len(sizes))  # the last ones balance the workers
    assert len(task_spans(100, 2)) < 60  # fewer tasks than windows
