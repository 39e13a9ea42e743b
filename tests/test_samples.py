"""The committed sample imagery, its generator and its ground truth."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.warp import Resampling, reproject
from shapely.geometry import box, shape

from geo import samples

ROOT = Path(__file__).resolve().parent.parent
TILES = ROOT / "sample_tiles"
EPSG_OF = {ep.label: ep.epsg for ep in samples.EPOCHS}


def _load(name: str) -> dict[str, Any]:
    return json.loads((TILES / name).read_text(encoding="utf-8"))


def _tifs() -> list[Path]:
    return sorted(TILES.glob("*.tif"))


def _checksum(path: Path) -> str:
    with rasterio.open(path) as src:
        return hashlib.sha256(src.read().tobytes()).hexdigest()


def _footprint_wgs84(path: Path) -> Any:
    with rasterio.open(path) as src:
        return samples.reproject_geom(box(*src.bounds).segmentize(10.0), src.crs, 4326)


def _pair(area: str) -> tuple[np.ndarray, np.ndarray, Any, Any, tuple[int, int]]:
    """Epoch 1 and epoch 2 resampled onto epoch 1's grid (float32, bands first)."""
    before, after = (TILES / f"{area}_{ep.label}.tif" for ep in samples.EPOCHS)
    with rasterio.open(before) as a, rasterio.open(after) as b:
        img_a = a.read().astype(np.float32)
        img_b = np.zeros_like(img_a)
        reproject(b.read().astype(np.float32), img_b, src_transform=b.transform, src_crs=b.crs,
                  dst_transform=a.transform, dst_crs=a.crs, resampling=Resampling.bilinear)
        return img_a, img_b, a.crs, a.transform, (a.height, a.width)


SMALL = samples.AreaSpec(
    "tiny", 121.40, 31.21, size_m=160.0, rotation=6.0, blocks=("lgf", "villa", "factory", "lgf"),
    wants=((("rooftop", "new_suspect"),), (("villa", "permitted"),), (("shed", "demolition_evidence"),), ()),
)


# ----------------------------------------------------------------------------- generator
def test_generator_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    runs = []
    for i, seed in enumerate((7, 7, 8)):
        out = tmp_path / f"run{i}"
        written = samples.generate(out, seed=seed, areas=[SMALL])
        tifs = sorted(p for p in written if p.suffix == ".tif")
        assert [p.name for p in tifs] == ["tiny_2024-09.tif", "tiny_2025-03.tif"]
        runs.append(([_checksum(p) for p in tifs], (out / "ground_truth.geojson").read_text(encoding="utf-8")))
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]
    assert len(json.loads(runs[0][1])["features"]) >= 1


def test_render_is_a_pure_function_of_scene() -> None:
    scene = samples.build_scene(SMALL, seed=3)
    a1, g1 = samples.render_epoch(scene, 1, samples.EPOCHS[0])
    a2, g2 = samples.render_epoch(samples.build_scene(SMALL, seed=3), 1, samples.EPOCHS[0])
    assert g1 == g2 and g1.epsg == 4549 and a1.shape == (3, 800, 800) and a1.dtype == np.uint8
    assert np.array_equal(a1, a2)
    b1, g_after = samples.render_epoch(scene, 2, samples.EPOCHS[1])
    assert g_after.epsg == 32651 and b1.shape == a1.shape
    assert float(np.abs(b1.astype(int) - a1.astype(int)).mean()) > 5.0  # a different epoch looks different


def test_cli_regenerates_the_committed_files(tmp_path: Path) -> None:
    from app import cli

    result = CliRunner().invoke(cli, ["make-samples", "--out", str(tmp_path), "--seed", str(samples.DEFAULT_SEED)])
    assert result.exit_code == 0, result.output
    for committed in _tifs():
        with rasterio.open(tmp_path / committed.name) as new, rasterio.open(committed) as old:
            diff = np.abs(new.read().astype(np.int16) - old.read().astype(np.int16))
        # identical on the machine that made them; other CPUs' SIMD paths may move a few DN
        assert float(diff.mean()) < 0.5 and float((diff > 8).mean()) < 0.001, committed.name
    for name in ("ground_truth.geojson", "records.geojson"):
        assert json.loads((tmp_path / name).read_text(encoding="utf-8")) == _load(name), name


# ----------------------------------------------------------------------------- committed files
def test_committed_files_and_size() -> None:
    names = {p.name for p in TILES.iterdir()}
    expected = {samples.file_name(a, ep) for a in samples.AREAS for ep in samples.EPOCHS}
    assert expected <= names
    assert {"ground_truth.geojson", "records.geojson", "README.md"} <= names
    total = sum(p.stat().st_size for p in TILES.rglob("*") if p.is_file())
    assert total < 20 * 1024 * 1024
    readme = (TILES / "README.md").read_text(encoding="utf-8")
    for name in [*expected, "EPSG:4549", "EPSG:32651", "make-samples", "expected_class", "record"]:
        assert name in readme, name


@pytest.mark.parametrize("path", _tifs(), ids=lambda p: p.name)
def test_tiles_are_georeferenced_tiled_rgb(path: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    valid, errors, _warnings = cog_validate(str(path))
    assert valid, errors
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == EPSG_OF[path.stem.split("_")[1]]
        assert src.res == pytest.approx((0.2, 0.2))
        assert (src.count, src.dtypes) == (3, ("uint8", "uint8", "uint8"))
        assert (src.width, src.height) == (1500, 1500)
        assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
        assert src.compression is not None and src.compression.name.upper() in ("JPEG", "DEFLATE")
        assert len(src.overviews(1)) >= 2
        assert src.tags()["CAPTURED"].startswith(path.stem.split("_")[1])
        data = src.read(out_shape=(3, 300, 300))
        assert 40 < float(data.mean()) < 200 and float(data.std()) > 20  # an image, not a blank


# ----------------------------------------------------------------------------- ground truth
def test_ground_truth_schema_and_sizes() -> None:
    gt = _load("ground_truth.geojson")
    assert gt["type"] == "FeatureCollection" and "crs" not in gt  # RFC 7946: always WGS 84
    ids = [f["properties"]["id"] for f in gt["features"]]
    assert len(ids) == len(set(ids)) >= 12
    for f in gt["features"]:
        p = f["properties"]
        assert p["change"] in ("appeared", "disappeared")
        assert p["type"] in samples.CHANGE_TYPES
        assert p["expected_class"] in samples.EXPECTED_CLASSES
        assert p["before"] == f"{p['area']}_{samples.EPOCHS[0].label}.tif"
        assert p["after"] == f"{p['area']}_{samples.EPOCHS[1].label}.tif"
        geom = shape(f["geometry"])
        assert geom.is_valid and geom.geom_type == "Polygon"
        assert p["area_m2"] == pytest.approx(samples.area_m2(geom), rel=1e-3)
        assert 6.0 <= p["area_m2"] <= 400.0
        # disappeared structures are only ever classed as demolition evidence here
        assert (p["change"] == "disappeared") == (p["expected_class"] == "demolition_evidence")


def test_every_class_and_kind_is_represented() -> None:
    props = [f["properties"] for f in _load("ground_truth.geojson")["features"]]
    by_class = Counter(p["expected_class"] for p in props)
    assert all(by_class[c] >= 3 for c in samples.EXPECTED_CLASSES), by_class
    kinds = {p["type"] for p in props}
    assert {"rooftop", "courtyard", "shed", "pigeon_loft", "villa"} <= kinds
    assert Counter(p["change"] for p in props)["disappeared"] >= 3


def test_ground_truth_inside_images_and_district() -> None:
    district = box(*samples.DISTRICT_BOUNDS)
    footprints = {p.name: _footprint_wgs84(p) for p in _tifs()}
    for f in _load("ground_truth.geojson")["features"]:
        geom, p = shape(f["geometry"]), f["properties"]
        assert geom.within(district), p["id"]
        assert geom.within(footprints[p["before"]]), p["id"]
        assert geom.within(footprints[p["after"]]), p["id"]


def test_records_cover_their_changes() -> None:
    gt = _load("ground_truth.geojson")["features"]
    recs = _load("records.geojson")["features"]
    violations = [shape(r["geometry"]) for r in recs if r["properties"]["record"] == "violation"]
    permits = [shape(r["geometry"]) for r in recs if r["properties"]["record"] == "permit"]
    assert len(violations) >= 6 and len(permits) >= 3
    for r in recs:
        p = r["properties"]
        assert p["record"] in ("violation", "permit")
        if p["record"] == "violation":
            assert p["kind"] in ("stock", "new") and p["vtype"] in samples.CHANGE_TYPES and p["status"]
        else:
            assert p["permit_no"]
    for f in gt:
        geom, klass = shape(f["geometry"]), f["properties"]["expected_class"]
        in_violation = any(v.contains(geom) for v in violations)
        in_permit = any(pm.contains(geom) for pm in permits)
        touches_any = any(g.intersects(geom) for g in violations + permits)
        if klass in ("known_changed", "demolition_evidence"):
            assert in_violation and not in_permit, f["properties"]["id"]
        elif klass == "permitted":
            assert in_permit and not in_violation, f["properties"]["id"]
        else:
            assert not touches_any, f["properties"]["id"]


# ----------------------------------------------------------------------------- difficulty
def _cva_otsu_f1(area: str) -> tuple[float, float]:
    img_a, img_b, crs, transform, shp = _pair(area)
    truth = samples.ground_truth_mask(_load("ground_truth.geojson"), area, crs, transform, shp)
    mag = np.sqrt(((img_b - img_a) ** 2).sum(0))
    u8 = np.clip(mag / mag.max() * 255.0, 0, 255).astype(np.uint8)
    _, pred = cv2.threshold(u8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    pred = pred.astype(bool)
    tp = float((pred & truth).sum())
    f1 = 2 * tp / (float(pred.sum()) + float(truth.sum()))
    return f1, float(truth.mean())


@pytest.mark.parametrize("area", [a.name for a in samples.AREAS])
def test_naive_cva_otsu_does_badly(area: str) -> None:
    f1, true_fraction = _cva_otsu_f1(area)
    assert 0.001 < true_fraction < 0.05  # real change is a small part of the picture
    assert f1 < 0.4, f"naive CVA+Otsu F1 {f1:.3f} on {area}: the nuisances are too weak"


@pytest.mark.parametrize("area", [a.name for a in samples.AREAS])
def test_epochs_are_misregistered_by_half_to_two_pixels(area: str) -> None:
    img_a, img_b, *_ = _pair(area)
    ga, gb = (np.ascontiguousarray(i[:, 10:-10, 10:-10].mean(0)) for i in (img_a, img_b))
    ga, gb = ((g - g.mean()) / g.std() for g in (ga, gb))
    win = cv2.createHanningWindow(ga.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(ga.astype(np.float32), gb.astype(np.float32), win)
    assert 0.5 <= float(np.hypot(dx, dy)) <= 2.0, (dx, dy)


@pytest.mark.parametrize("area", [a.name for a in samples.AREAS])
def test_every_real_change_is_visible(area: str) -> None:
    img_a, img_b, crs, transform, shp = _pair(area)
    mag = np.sqrt(((img_b - img_a) ** 2).sum(0))
    background = float(np.median(mag))
    ratios = []
    for f in _load("ground_truth.geojson")["features"]:
        if f["properties"]["area"] != area:
            continue
        inside = samples.ground_truth_mask({"features": [f]}, area, crs, transform, shp).astype(np.uint8)
        core = cv2.erode(inside, np.ones((5, 5), np.uint8)).astype(bool)  # away from edges and misregistration
        assert core.sum() >= 20, f["properties"]["id"]
        ratios.append(float(np.median(mag[core])) / background)
    assert min(ratios) > 0.75 and float(np.mean(np.asarray(ratios) > 1.0)) >= 0.8, ratios
