"""The ``python app.py detect`` command and the Dask fan-out, on real pairs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from detection.distributed import close_client, get_client, scheduler_address
from detection.pipeline import detect_files, warm_up
from detection.types import DetectParams

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
LEVIR = DATA / "changedet" / "levir"
PAIR = "test_7_0256_0512"
NAIP_2009 = DATA / "aerial" / "m_4709963_se_14_1_20090818.tif"
NAIP_2020 = DATA / "aerial" / "m_4709963_se_14_1_20200831.tif"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "detect", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )


def test_cli_on_a_levir_pair(tmp_path: Path) -> None:
    mask, gj = tmp_path / "mask.png", tmp_path / "out.geojson"
    a, b = LEVIR / "A" / f"{PAIR}.png", LEVIR / "B" / f"{PAIR}.png"
    r = _run(str(a), str(b), "--mask", str(mask), "--geojson", str(gj))
    assert r.returncode == 0, r.stderr
    m = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
    assert m.shape == (256, 256) and m.dtype == np.uint8
    assert set(np.unique(m)) <= {0, 255} and (m == 255).any()
    fc = json.loads(gj.read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.png", "out.geojson"]  # no temp left


def test_cli_on_geotiffs_writes_polygons_in_their_crs(tmp_path: Path) -> None:
    mask, gj = tmp_path / "m.png", tmp_path / "p.geojson"
    r = _run(str(NAIP_2009), str(NAIP_2020), "--mask", str(mask), "--geojson", str(gj))
    assert r.returncode == 0, r.stderr
    m = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
    assert m.shape == (723, 934)  # the AFTER grid (2020 is one row shorter)
    fc = json.loads(gj.read_text(encoding="utf-8"))
    assert fc["crs"]["properties"]["name"] == "EPSG:26914"
    for f in fc["features"]:
        x, y = f["geometry"]["coordinates"][0][0]
        assert 300_000 < x < 800_000 and 5_000_000 < y < 5_400_000  # UTM metres, not pixels


def test_cli_errors_name_the_file_and_write_nothing(tmp_path: Path) -> None:
    mask = tmp_path / "mask.png"
    r = _run(str(tmp_path / "nope.png"), str(LEVIR / "B" / f"{PAIR}.png"), "--mask", str(mask))
    assert r.returncode == 1 and "nope.png" in r.stderr
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    r = _run(str(bad), str(LEVIR / "B" / f"{PAIR}.png"), "--mask", str(mask))
    assert r.returncode == 1 and "bad.png" in r.stderr
    r = _run(str(LEVIR / "A" / f"{PAIR}.png"), str(NAIP_2020), "--mask", str(mask))
    assert r.returncode == 1 and "CRS" in r.stderr
    a, b = LEVIR / "A" / f"{PAIR}.png", LEVIR / "B" / f"{PAIR}.png"
    r = _run(str(a), str(b), "--mask", str(tmp_path / "no" / "m.png"))
    assert r.returncode == 1 and "m.png" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png"]


def test_cli_looks_for_vanished_structures_inside_given_records(tmp_path: Path) -> None:
    from rasterio.warp import transform_geom
    from shapely.geometry import shape

    samples = ROOT / "sample_tiles"
    before, after = samples / "area1_2024-09.tif", samples / "area1_2025-03.tif"
    truth = json.loads((samples / "ground_truth.geojson").read_text(encoding="utf-8"))["features"]
    shed = next(f for f in truth if f["properties"]["id"] == "area1-11")  # a shed torn down
    assert shed["properties"]["change"] == "disappeared"

    def vanished_cover(*extra: str) -> float:
        gj = tmp_path / "p.geojson"
        r = _run(str(before), str(after), "--mask", str(tmp_path / "m.png"), "--geojson", str(gj), *extra)
        assert r.returncode == 0, r.stderr
        fc = json.loads(gj.read_text(encoding="utf-8"))
        crs = fc["crs"]["properties"]["name"]
        target = shape(transform_geom("EPSG:4326", crs, shed["geometry"]))
        gone = [shape(f["geometry"]) for f in fc["features"] if f["properties"]["change"] == "disappeared"]
        return sum(g.intersection(target).area for g in gone) / target.area

    assert vanished_cover() < 0.3  # the model alone does not see it
    assert vanished_cover("--look-back", str(samples / "records.geojson")) >= 0.3
    # a file that is not GeoJSON: named, and nothing written
    bad = tmp_path / "records.txt"
    bad.write_text("no json here", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    r = _run(str(before), str(after), "--mask", str(out / "m.png"), "--look-back", str(bad))
    assert r.returncode == 1 and "records.txt" in r.stderr and not list(out.iterdir())


def test_cli_can_keep_vegetation_coloured_roofs(tmp_path: Path) -> None:
    # bare ground, then a shed with a teal steel roof: its colour is vegetation's by the veto's test
    rng = np.random.default_rng(4)
    a = np.array([150, 135, 110], np.float32) + rng.normal(0, 8, (256, 256, 3))
    b = a.copy()
    b[90:140, 80:150] = (40, 130, 130)
    b[140:145, 80:150] *= 0.45  # its shadow
    for name, img in (("a.png", a), ("b.png", b)):
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))

    def shed_cover(*extra: str) -> float:
        r = _run(str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--mask", str(tmp_path / "m.png"), *extra)
        assert r.returncode == 0, r.stderr
        return float((cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED)[90:140, 80:150] == 255).mean())

    assert shed_cover() < 0.3
    assert shed_cover("--keep-vegetation") > 0.8


def test_scheduler_address_is_read_from_the_given_mapping_only() -> None:
    assert scheduler_address({}) is None
    assert scheduler_address({"DASK_SCHEDULER_ADDRESS": " tcp://h:8786 "}) == "tcp://h:8786"


def test_warm_up_runs_the_whole_path_and_finds_its_made_up_roof() -> None:
    res = warm_up()
    assert [p.change for p in res.polygons] == ["appeared"]
    # the roof (64 x 80 px) and its shadow, not the lawn around it
    assert 64 * 80 <= res.polygons[0].geometry.area <= 2 * (64 + 8) * 80


@pytest.mark.timeout(300)
def test_detect_files_through_a_two_worker_process_cluster() -> None:
    # 48 windows: sent up to three a task (see task_spans)
    params = DetectParams(window=128, overlap=32)
    local = detect_files(NAIP_2009, NAIP_2020, params)
    client = get_client(n_workers=2, processes=True)
    try:
        assert len(client.scheduler_info()["workers"]) == 2
        # each worker was warmed up as it started: the model is loaded before any window arrives
        loaded = client.run(lambda: __import__("detection.change").change.load_model.cache_info().currsize)
        assert sorted(loaded.values()) == [1, 1]
        # and runs lean: no statistical profiler sampling the windows' stacks, no work stealing
        profiling = client.run(lambda: __import__("dask").config.get("distributed.worker.profile.enabled"))
        assert not any(profiling.values())
        assert not client.run_on_scheduler(lambda dask_scheduler: "stealing" in dask_scheduler.extensions)
        seen: list[float] = []
        dist = detect_files(NAIP_2009, NAIP_2020, params, progress=seen.append, client=client)
    finally:
        close_client(client)
    assert local.mask is not None and dist.mask is not None
    assert np.array_equal(local.mask, dist.mask)
    assert seen[-1] == 1.0 and len(seen) == 1 + local.stats["windows"] == 49  # each window counted
    assert len(dist.polygons) == len(local.polygons)
    assert sum(p.geometry.area for p in dist.polygons) == pytest.approx(sum(p.geometry.area for p in local.polygons))
