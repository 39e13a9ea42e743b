"""Wall time of the detection job on the sample scenes, and how its classes agree with the truth.

In a throwaway database: loads ``sample_tiles/records.geojson``, ingests every sample GeoTIFF
through the imagery store (no queue), then runs :func:`geo.detect_job.run_scene` on each later
epoch — in this process, and again through a 2-worker Dask process cluster with small windows
— and prints, per scene: seconds, detections per class, labelled changes found (30 % of a
labelled outline covered by detections of its kind) and how many of those carry the expected
class.

Usage::

    python benchmarks/detect_job_sample.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geoalchemy2.shape import to_shape  # noqa: E402
from shapely.geometry import shape  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from detection.types import DetectParams  # noqa: E402
from geo.config import Settings  # noqa: E402
from geo.db import session_factory, transaction  # noqa: E402
from geo.demo_imagery import SAMPLE_DIR, ingest_samples, load_records, sample_scenes  # noqa: E402
from geo.detect_job import JobOptions, dask_client, run_scene  # noqa: E402
from geo.models import Detection  # noqa: E402
from geo.testdb import throwaway_database  # noqa: E402


def agreement(engine, scene_id: int, area: str) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(labelled changes, found, found with the expected class)."""
    truth = [f for f in json.loads((SAMPLE_DIR / "ground_truth.geojson").read_text())["features"]
             if f["properties"]["area"] == area]
    with session_factory(engine)() as s:
        dets = [(d.change, d.klass, to_shape(d.geom)) for d in
                s.scalars(select(Detection).where(Detection.scene_id == scene_id))]
    found = right = 0
    for f in truth:
        g = shape(f["geometry"])
        kind = f["properties"]["change"]
        hits = [(k, dg.intersection(g).area) for c, k, dg in dets if c == kind and dg.intersects(g)]
        if hits and sum(a for _, a in hits) >= 0.3 * g.area:
            found += 1
            right += max(hits, key=lambda h: h[1])[0] == f["properties"]["expected_class"]
    return len(truth), found, right


def main() -> None:
    with throwaway_database(prefix="wj_bench_job") as eng, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        with transaction(session_factory(eng)) as s:
            load_records(s, SAMPLE_DIR / "records.geojson")
        scenes = sample_scenes()
        t0 = time.perf_counter()
        ids = ingest_samples(eng, settings, scenes, queue=False, say=lambda _m: None)
        print(f"ingest of {len(ids)} sample scenes: {time.perf_counter() - t0:.1f} s")
        later = [(sc, i) for sc, i in zip(scenes, ids, strict=True) if sc.captured_at == max(
            x.captured_at for x in scenes if x.area == sc.area)]
        runs = [("in-process", None, DetectParams()),
                ("dask 2 procs, 512 px windows", "dask", DetectParams(window=512, overlap=64))]
        for label, kind, params in runs:
            for sc, scene_id in later:
                opts = JobOptions(force=True)
                with eng.begin() as conn:  # each run starts from no detections of the scene
                    conn.execute(text("DELETE FROM detections WHERE scene_id = :i"), {"i": scene_id})
                t0 = time.perf_counter()
                if kind == "dask":
                    with dask_client(settings, n_workers=2, processes=True) as client:
                        t1 = time.perf_counter()
                        added = run_scene(eng, settings, scene_id, params=params, client=client, options=opts)
                        startup = t1 - t0
                else:
                    startup = 0.0
                    added = run_scene(eng, settings, scene_id, params=params, options=opts)
                dt = time.perf_counter() - t0
                with session_factory(eng)() as s:
                    counts = Counter(s.scalars(select(Detection.klass).where(Detection.scene_id == scene_id)))
                n, found, right = agreement(eng, scene_id, sc.area)
                print(f"{sc.path.name} [{label}]: {dt:.1f} s (cluster start {startup:.1f} s), added {added}, "
                      f"classes {dict(sorted(counts.items()))}; labelled {n}, found {found}, "
                      f"expected class {right}/{found}")


if __name__ == "__main__":
    main()
