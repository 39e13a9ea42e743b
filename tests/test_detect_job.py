"""The detection job on real sample imagery and real PostGIS: classes, chips, idempotency, Dask.

One throwaway database and data folder for the module: the sample records are loaded, all
sample GeoTIFFs ingested through the real imagery store, and the jobs of the later epochs run.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import shape
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from detection.types import DetectParams
from geo import matching
from geo.config import Settings
from geo.crs import STORAGE_EPSG, transform
from geo.db import session_factory, transaction
from geo.demo_imagery import SAMPLE_DIR, ingest_samples, load_records, sample_scenes
from geo.detect_job import (
    DetectJobError,
    JobOptions,
    close_shared,
    detections_for_review,
    run_scene,
    shared_client,
)
from geo.models import Detection, DetectionJob, Scene
from geo.testdb import throwaway_database
from tests.builders import add_scene

ROOT = Path(__file__).resolve().parents[1]
GROUND_TRUTH = SAMPLE_DIR / "ground_truth.geojson"
#: A labelled change counts as found when detections of its kind cover this share of it
#: (the object-recall rule of the accuracy benchmark).
FOUND_SHARE = 0.3


@dataclass
class Env:
    engine: Engine
    settings: Settings
    scenes: dict[str, int]  # file name → scene id
    progress: dict[str, list[tuple[float, str]]]
    seconds: dict[str, float]


def _truth() -> list[dict[str, Any]]:
    return list(json.loads(GROUND_TRUTH.read_text(encoding="utf-8"))["features"])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with throwaway_database(prefix="wj_detjob") as eng:
        settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
        with transaction(session_factory(eng)) as s:
            added = load_records(s, SAMPLE_DIR / "records.geojson")
        assert added[0] > 0 and added[1] > 0
        scenes = sample_scenes()
        ids = ingest_samples(eng, settings, scenes, queue=False, say=lambda _m: None)
        e = Env(eng, settings, {sc.path.name: i for sc, i in zip(scenes, ids, strict=True)}, {}, {})
        # the later epoch of area1 runs in this process, with default parameters
        name = "area1_2025-03.tif"
        log: list[tuple[float, str]] = []
        t0 = time.perf_counter()
        run_scene(eng, settings, e.scenes[name], lambda f, m: log.append((f, m)))
        e.seconds[name] = time.perf_counter() - t0
        e.progress[name] = log
        yield e


def _detections(engine: Engine, scene_id: int) -> list[Detection]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(Detection).where(Detection.scene_id == scene_id).order_by(Detection.id)))


def _found(dets: list[Detection], truth: dict[str, Any]) -> Detection | None:
    """The detection of the truth's kind overlapping it most, if they cover FOUND_SHARE of it."""
    g = shape(truth["geometry"])
    same = [(d, to_shape(d.geom)) for d in dets if d.change == truth["properties"]["change"]]
    hits = [(d, dg.intersection(g).area) for d, dg in same if dg.intersects(g)]
    if not hits or sum(a for _, a in hits) < FOUND_SHARE * g.area:
        return None
    return max(hits, key=lambda h: h[1])[0]


# ----------------------------------------------------------------------------- matching on the sample data
def test_ground_truth_outlines_classify_exactly(env: Env) -> None:
    """The records make every labelled change come out as its expected class (no tolerance)."""
    with rasterio.open(SAMPLE_DIR / "area1_2025-03.tif") as ds:
        tile_crs = ds.crs.to_string()
    truth = _truth()
    changes = []
    for f in truth:
        # through the tile's CRS and back, as a detection would come
        geom = transform(shape(f["geometry"]), STORAGE_EPSG, tile_crs)
        ch = matching.to_change(f["properties"]["change"], geom, 0.9, tile_crs)
        assert ch is not None
        changes.append(ch)
    with session_factory(env.engine)() as s:
        got = matching.match(s, changes, batch_size=7)
    wrong = [(f["properties"]["id"], f["properties"]["expected_class"], m.result.klass)
             for f, m in zip(truth, got, strict=True) if m.result.klass != f["properties"]["expected_class"]]
    assert not wrong, wrong
    known = [m for f, m in zip(truth, got, strict=True) if f["properties"]["expected_class"] == "known_changed"]
    # area before = the item's recorded area; after = item ∪ change (the changes lie inside the items here)
    assert known and all(m.result.area_before_m2 and m.result.area_after_m2 is not None
                         and m.result.area_after_m2 >= 0.99 * m.result.area_before_m2 for m in known)


# ----------------------------------------------------------------------------- the job, end to end
def test_sample_scene_job_classifies_the_real_changes(env: Env) -> None:
    """Detected changes that match a labelled one carry its expected class.

    Tolerance: the detector's outline is not the label's; an outline that merges a change with
    a neighbouring structure can cross into (or out of) a record, so at most one found change in
    five (rounded up) may come out in another class -- but never one that hides a change the
    office must review (a suspect or a known item's change taken for permitted or unmatched).
    How many labelled changes are found at all is the detector's recall, measured on
    sample_tiles by benchmarks/changedet_accuracy.py; here at least half of them must be, so that
    the comparison is never near empty (the exact check of the classes is
    test_ground_truth_outlines_classify_exactly).
    """
    scene_id = env.scenes["area1_2025-03.tif"]
    dets = _detections(env.engine, scene_id)
    truth = [f for f in _truth() if f["properties"]["area"] == "area1"]
    found = {f["properties"]["id"]: _found(dets, f) for f in truth}
    hits = {k: d for k, d in found.items() if d is not None}
    missed = sorted(k for k, d in found.items() if d is None)
    assert 2 * len(hits) >= len(truth), f"{len(hits)} of {len(truth)} found; missed {missed}"
    expected = {f["properties"]["id"]: f["properties"]["expected_class"] for f in truth}
    wrong = {k: (expected[k], d.klass) for k, d in hits.items() if d.klass != expected[k]}
    queued = {"new_suspect", "known_changed", "demolition_evidence"}
    hidden = {k: w for k, w in wrong.items() if w[0] in queued and w[1] not in queued}
    assert not hidden, hidden
    assert len(wrong) <= math.ceil(0.2 * len(hits)), wrong


def test_structures_that_vanished_inside_records_are_found_as_demolition_evidence(env: Env) -> None:
    """The model learnt change as structures appearing; inside recorded violations the job also
    asks, with the dates swapped, whether one vanished (without it, none of these is found)."""
    scene_id = env.scenes["area1_2025-03.tif"]
    dets = _detections(env.engine, scene_id)
    gone = [f for f in _truth() if f["properties"]["area"] == "area1" and f["properties"]["change"] == "disappeared"]
    assert len(gone) >= 2
    found = [d for d in (_found(dets, f) for f in gone) if d is not None]
    assert found and all(d.klass == "demolition_evidence" for d in found)


def test_look_back_regions_are_the_live_records_over_the_scene_in_its_crs(env: Env) -> None:
    scene_id = env.scenes["area1_2025-03.tif"]
    with session_factory(env.engine)() as s:
        scene = s.get(Scene, scene_id)
        assert scene is not None
        regions = matching.look_back_regions(s, scene_id, scene.crs, margin_m=2.0)
        live = s.execute(text(
            "SELECT ST_AsBinary(v.geom) FROM violations v JOIN scenes sc ON ST_Intersects(v.geom, sc.footprint)"
            " WHERE sc.id = :i AND v.status <> 'dismissed' ORDER BY v.id"), {"i": scene_id}).scalars().all()
        n_all = s.execute(text("SELECT count(*) FROM violations")).scalar_one()
    assert 0 < len(live) < n_all and len(regions) == len(live)  # only those over this scene
    for region, wkb in zip(regions, live, strict=True):
        record = transform(shapely.from_wkb(bytes(wkb)), STORAGE_EPSG, scene.crs)
        # in the scene's metric CRS, with its margin of 2 m all round
        assert region.contains(record.buffer(1.9)) and not region.contains(record.buffer(2.1))


def test_detections_carry_dates_places_and_review_state(env: Env) -> None:
    scene_id = env.scenes["area1_2025-03.tif"]
    before_id = env.scenes["area1_2024-09.tif"]
    dets = _detections(env.engine, scene_id)
    assert dets
    for d in dets:
        assert d.before_scene_id == before_id
        assert d.before_captured_at < d.after_captured_at
        assert d.area_m2 >= 4.0 and 0.0 <= d.score <= 1.0
        assert d.review_status == ("not_queued" if d.klass in ("permitted", "unmatched") else "pending")
        assert (d.violation_id is not None) == (d.klass in ("known_changed", "demolition_evidence"))
        if d.klass == "permitted":
            assert d.permit_id is not None
        if d.klass == "known_changed":
            assert d.area_before_m2 and d.area_after_m2 and d.area_after_m2 >= 0.99 * d.area_before_m2
        if d.klass == "demolition_evidence":
            assert d.area_before_m2 and d.area_after_m2 is not None and d.area_after_m2 < d.area_before_m2
        if d.klass == "new_suspect":
            assert d.area_before_m2 == 0 and d.area_after_m2 == pytest.approx(d.area_m2, abs=0.01)
    with session_factory(env.engine)() as s:
        queue = detections_for_review(s, scene_id=scene_id, limit=1000)
        assert queue and all(d.review_status == "pending" for d in queue)
        assert [d.score for d in queue] == sorted((d.score for d in queue), reverse=True)
        # the footprints lie inside the after scene's
        outside = s.scalar(text(
            "SELECT count(*) FROM detections d JOIN scenes s ON s.id = d.scene_id"
            " WHERE d.scene_id = :i AND NOT ST_Intersects(d.geom, s.footprint)"), {"i": scene_id})
        assert outside == 0


def test_chips_are_pngs_written_whole(env: Env) -> None:
    dets = _detections(env.engine, env.scenes["area1_2025-03.tif"])
    for d in dets:
        for rel in (d.chip_before, d.chip_after):
            assert rel and not Path(rel).is_absolute()
            data = (env.settings.data_dir / rel).read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import cv2

    img = cv2.imdecode(np.frombuffer((env.settings.data_dir / dets[0].chip_after).read_bytes(), np.uint8),
                       cv2.IMREAD_COLOR)
    assert img is not None and max(img.shape[:2]) == 256
    assert not list((env.settings.data_dir / "chips").rglob(".tmp-*"))


def test_job_row_and_progress(env: Env) -> None:
    scene_id = env.scenes["area1_2025-03.tif"]
    with session_factory(env.engine)() as s:
        job = s.scalars(select(DetectionJob).where(DetectionJob.scene_id == scene_id)).one()
    n = len(_detections(env.engine, scene_id))
    assert job.state == "done" and job.progress == 1.0 and job.attempts == 1
    assert f"{n} " in (job.message or "")
    fractions = [f for f, _ in env.progress["area1_2025-03.tif"]]
    assert fractions[0] < 0.1 and fractions[-1] >= 0.9
    assert fractions == sorted(fractions)
    assert any("detect" in m for _, m in env.progress["area1_2025-03.tif"])


def test_rerun_adds_no_duplicates(env: Env) -> None:
    scene_id = env.scenes["area1_2025-03.tif"]
    before = {d.fingerprint for d in _detections(env.engine, scene_id)}
    # the job is done: a second call changes nothing
    assert run_scene(env.engine, env.settings, scene_id) == 0
    # forced to run the whole pipeline again: the same detections, none added
    assert run_scene(env.engine, env.settings, scene_id, options=JobOptions(force=True)) == 0
    after = _detections(env.engine, scene_id)
    assert {d.fingerprint for d in after} == before and len(after) == len(before)
    with session_factory(env.engine)() as s:
        job = s.scalars(select(DetectionJob).where(DetectionJob.scene_id == scene_id)).one()
        assert job.state == "done" and job.attempts == 3


def test_first_epoch_has_nothing_to_compare(env: Env) -> None:
    scene_id = env.scenes["area2_2024-09.tif"]
    assert run_scene(env.engine, env.settings, scene_id) == 0
    with session_factory(env.engine)() as s:
        job = s.scalars(select(DetectionJob).where(DetectionJob.scene_id == scene_id)).one()
        assert job.state == "done" and "no earlier imagery" in (job.message or "")
        assert s.scalar(select(func.count()).select_from(Detection).where(Detection.scene_id == scene_id)) == 0


def test_missing_scene_file_fails_the_job_clearly(env: Env) -> None:
    with transaction(session_factory(env.engine)) as s:
        scene = add_scene(s, footprint=shape({"type": "Polygon", "coordinates": [[
            (121.0, 31.0), (121.001, 31.0), (121.001, 31.001), (121.0, 31.001), (121.0, 31.0)]]}))
        scene_id, rel = scene.id, scene.path
    with pytest.raises(DetectJobError, match=rf"scene {scene_id}.*{rel}.*missing"):
        run_scene(env.engine, env.settings, scene_id)
    with session_factory(env.engine)() as s:
        job = s.scalars(select(DetectionJob).where(DetectionJob.scene_id == scene_id)).one()
        assert job.state == "failed" and "missing" in (job.message or "")


def test_scene_through_a_two_worker_process_cluster(env: Env) -> None:
    """DASK_SCHEDULER_ADDRESS names a 2-process cluster; small windows split the scene over both.

    The same windows run one after the other in this process give the very same detections.
    """
    from distributed import Client, LocalCluster, get_task_stream

    scene_id = env.scenes["area2_2025-03.tif"]
    params = DetectParams(window=512, overlap=64)  # 1500 x 1500 px: 9 windows
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as watcher:
        settings = Settings(data_dir=env.settings.data_dir, dask_scheduler=cluster.scheduler_address)
        with get_task_stream(watcher) as stream:
            try:
                added = run_scene(env.engine, settings, scene_id, params=params)
            finally:
                close_shared()
    assert len(stream.data) >= 9
    assert len({t["worker"] for t in stream.data}) == 2
    dets = _detections(env.engine, scene_id)
    assert added == len(dets) > 0
    again = run_scene(env.engine, env.settings, scene_id, params=params,
                      options=JobOptions(force=True, chips=False, local_cluster=False))
    assert again == 0
    assert {d.fingerprint for d in _detections(env.engine, scene_id)} == {d.fingerprint for d in dets}


def test_local_cluster_only_for_scenes_of_several_windows(env: Env) -> None:
    assert shared_client(env.settings, windows=1) is None
    assert shared_client(env.settings, windows=9, local=False) is None
    try:
        client = shared_client(env.settings, windows=9)
        assert client is not None and client.cluster is not None
        assert len(client.scheduler_info()["workers"]) == 2
        assert shared_client(env.settings, windows=4) is client  # kept for later jobs
    finally:
        close_shared()


def test_unknown_scene(env: Env) -> None:
    from geo.errors import NotFound

    with pytest.raises(NotFound, match="scene 999999"):
        run_scene(env.engine, env.settings, 999999)


def test_scene_rows_point_at_stored_cogs(env: Env) -> None:
    with session_factory(env.engine)() as s:
        for sid in env.scenes.values():
            scene = s.get(Scene, sid)
            assert scene is not None and (env.settings.data_dir / scene.path).is_file()


# ----------------------------------------------------------------------------- a killed worker
def _job(engine: Engine, scene_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT state, progress, attempts, message FROM detection_jobs WHERE scene_id = :s"),
                           {"s": scene_id}).mappings().one_or_none()
    return dict(row) if row else {}


def _worker(engine: Engine, settings: Settings, *args: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    environ.update(DATABASE_URL=engine.url.render_as_string(hide_password=False), DATA_DIR=str(settings.data_dir))
    return subprocess.Popen([sys.executable, str(ROOT / "app.py"), "worker", *args], env=environ, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_job_survives_a_killed_worker(tmp_path: Path) -> None:
    """SIGKILL a real worker mid-job; a new worker completes the job exactly once."""
    with throwaway_database(prefix="wj_detkill") as eng:
        settings = Settings(data_dir=tmp_path / "data")
        with transaction(session_factory(eng)) as s:
            load_records(s, SAMPLE_DIR / "records.geojson")
        area1 = [sc for sc in sample_scenes() if sc.area == "area1"]
        before_id, after_id = ingest_samples(eng, settings, area1, queue=True, say=lambda _m: None)
        assert _job(eng, after_id)["state"] == "queued"

        first = _worker(eng, settings)
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                job = _job(eng, after_id)
                if job["state"] == "running" and job["progress"] > 0.05:
                    break
                assert first.poll() is None, first.stderr.read() if first.stderr else ""
                time.sleep(0.2)
            else:
                pytest.fail(f"the worker never got going: {_job(eng, after_id)}")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(timeout=30)
        killed = _job(eng, after_id)
        assert killed["state"] == "running" and killed["progress"] < 1.0
        with eng.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM detections WHERE scene_id = :s"), {"s": after_id}) == 0
            assert conn.scalar(text("SELECT status::text FROM procrastinate_jobs WHERE args->>'scene_id' = :s"),
                               {"s": str(after_id)}) == "doing"

        second = _worker(eng, settings)
        try:
            deadline = time.monotonic() + 420
            while time.monotonic() < deadline and _job(eng, after_id)["state"] != "done":
                assert second.poll() is None, second.stderr.read() if second.stderr else ""
                time.sleep(0.5)
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=60)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait(timeout=30)
        done = _job(eng, after_id)
        assert done["state"] == "done" and done["progress"] == 1.0 and done["attempts"] >= 2, done
        with eng.connect() as conn:
            fps = conn.execute(text("SELECT fingerprint FROM detections WHERE scene_id = :s"),
                               {"s": after_id}).scalars().all()
            statuses = conn.execute(text("SELECT status::text FROM procrastinate_jobs WHERE args->>'scene_id' = :s"),
                                    {"s": str(after_id)}).scalars().all()
        assert fps and len(fps) == len(set(fps))
        assert statuses == ["succeeded"]
        assert _job(eng, before_id)["state"] == "done"


# ----------------------------------------------------------------------------- several earlier scenes
def _crop(src: Path, dst: Path, cols: tuple[int, int], captured: str) -> Path:
    from rasterio.windows import Window

    with rasterio.open(src) as ds:
        win = Window(cols[0], 0, cols[1] - cols[0], ds.height)
        profile = {**ds.profile, "width": cols[1] - cols[0], "transform": ds.window_transform(win)}
        profile.update(tiled=True, blockxsize=256, blockysize=256, compress="deflate", photometric="RGB")
        with rasterio.open(dst, "w", **profile) as out:
            out.write(ds.read(window=win))
            out.update_tags(**{**ds.tags(), "CAPTURED": captured})
    return dst


def test_new_scene_compared_with_two_earlier_tiles(tmp_path: Path) -> None:
    """The earlier imagery is two half tiles: both are compared, each for its own half, once."""
    from datetime import datetime

    from geo.imagery.ingest import ingest_file

    west = _crop(SAMPLE_DIR / "area1_2024-09.tif", tmp_path / "west.tif", (0, 800), "2024-09-18T10:30:00+08:00")
    east = _crop(SAMPLE_DIR / "area1_2024-09.tif", tmp_path / "east.tif", (700, 1500), "2024-08-02T10:30:00+08:00")
    with throwaway_database(prefix="wj_detpair") as eng:
        settings = Settings(data_dir=tmp_path / "data")
        with transaction(session_factory(eng)) as s:
            load_records(s, SAMPLE_DIR / "records.geojson")
        ids = {}
        for path, captured in ((east, "2024-08-02T10:30:00+08:00"), (west, "2024-09-18T10:30:00+08:00"),
                               (SAMPLE_DIR / "area1_2025-03.tif", "2025-03-14T14:40:00+08:00")):
            ids[path.name] = ingest_file(eng, settings, path, sensor="drone", captured_at=datetime.fromisoformat(
                captured), queue=False).scene_id
        after_id = ids["area1_2025-03.tif"]
        # what is tested is the pairing: low thresholds give each half detections to speak for
        params = DetectParams(threshold=0.03, seed_threshold=0.08, blob_score=0.08)
        added = run_scene(eng, settings, after_id, params=params)
        with session_factory(eng)() as s:
            dets = list(s.scalars(select(Detection).where(Detection.scene_id == after_id)))
            feet = {i: to_shape(s.get(Scene, i).footprint) for i in ids.values()}  # type: ignore[union-attr]
        assert added == len(dets) > 0
        befores = Counter(d.before_scene_id for d in dets)
        assert set(befores) == {ids["west.tif"], ids["east.tif"]}, befores
        for d in dets:
            assert feet[d.before_scene_id].contains(to_shape(d.geom).representative_point())
        # the east tile speaks only for the part west of it left uncovered (no double detections)
        west_only = feet[ids["west.tif"]]
        assert not [d for d in dets if d.before_scene_id == ids["east.tif"]
                    and west_only.contains(to_shape(d.geom).representative_point())]
