"""The demo's imagery path: sample records, sample scenes, their detection jobs.

:func:`load` is what ``make demo`` (``python app.py demo``) calls after the district is seeded:

1. the violation and permit records of ``sample_tiles/records.geojson`` are added (those that
   are not in the database yet), each violation walked through the workflow to its status;
2. every ``sample_tiles/*.tif`` is ingested, oldest capture first (``geo.imagery.ingest``),
   which queues its detection job;
3. the queued jobs are run to completion by the durable queue (a worker that stops when the
   queue is empty), so the map shows classified detections with chips.

Running it again keeps what is there (known scenes are recognised by checksum, known records
by code) and only does what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import shape
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo import items, workflow
from geo.config import PROJECT_ROOT, Settings
from geo.db import session_factory, transaction
from geo.errors import ImportFileError
from geo.models import DetectionJob, JobState, Permit, Scene, Status, Violation

SAMPLE_DIR = PROJECT_ROOT / "sample_tiles"
SayFn = Callable[[str], None]


@dataclass(frozen=True)
class SampleScene:
    """A sample GeoTIFF and the capture facts written in its tags."""

    path: Path
    captured_at: datetime
    sensor: str
    area: str


@dataclass
class LoadResult:
    """What :func:`load` did."""

    violations_added: int = 0
    permits_added: int = 0
    scene_ids: list[int] = field(default_factory=list)
    detections: int = 0
    jobs_done: int = 0


# ----------------------------------------------------------------------------- records
def _date(value: Any, where: str, field_name: str, path: Path) -> datetime:
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ImportFileError(str(path), f"not a date: {value!r}", row=int(where), field=field_name) from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _place(session: Session, geom_wkt: str) -> tuple[int | None, int | None]:
    row = session.execute(text(
        "WITH g AS (SELECT ST_GeomFromText(:w, 4326) AS g) SELECT"
        " (SELECT u.id FROM admin_units u, g WHERE u.level = 'street' AND ST_Intersects(u.geom, g.g)"
        "  ORDER BY ST_Area(ST_Intersection(u.geom, g.g)) DESC LIMIT 1) AS street_id,"
        " (SELECT p.id FROM parcels p, g WHERE ST_Intersects(p.geom, g.g)"
        "  ORDER BY ST_Area(ST_Intersection(p.geom, g.g)) DESC LIMIT 1) AS parcel_id"
    ), {"w": geom_wkt}).one()
    return row.street_id, row.parcel_id


def load_records(session: Session, path: Path) -> tuple[int, int]:
    """Add the violations and permits of a records GeoJSON that are not in the database yet.

    Returns:
        (violations added, permits added).

    Raises:
        ImportFileError: naming the file, the feature (1-based) and the field that is wrong.
    """
    try:
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImportFileError(str(path), f"not a GeoJSON FeatureCollection: {exc}") from exc
    known_codes = set(session.scalars(select(Violation.code)))
    known_permits = set(session.scalars(select(Permit.permit_no)))
    added_v = added_p = 0
    for n, feat in enumerate(features, start=1):
        props = feat.get("properties") or {}
        try:
            geom = items.as_multipolygon(shape(feat["geometry"]))
        except Exception as exc:
            raise ImportFileError(str(path), f"bad geometry: {exc}", row=n, field="geometry") from exc
        street_id, parcel_id = _place(session, geom.wkt)
        kind = props.get("record")
        if kind == "permit":
            if props.get("permit_no") in known_permits:
                continue
            if not props.get("permit_no"):
                raise ImportFileError(str(path), "missing", row=n, field="permit_no")
            issued = _date(props["issued_at"], str(n), "issued_at", path) if props.get("issued_at") else None
            session.add(Permit(permit_no=props["permit_no"], holder=props.get("holder"), issued_at=issued,
                               parcel_id=parcel_id, street_id=street_id, geom=from_shape(geom, srid=4326)))
            added_p += 1
        elif kind == "violation":
            code = props.get("code")
            if not code:
                raise ImportFileError(str(path), "missing", row=n, field="code")
            if code in known_codes:
                continue
            try:
                target = Status(props.get("status", "confirmed"))
            except ValueError as exc:
                raise ImportFileError(str(path), f"unknown status {props.get('status')!r}", row=n,
                                      field="status") from exc
            when = _date(props.get("discovered_at"), str(n), "discovered_at", path)
            start = Status.SUSPECTED if target in (Status.SUSPECTED, Status.DISMISSED) else Status.CONFIRMED
            item = items.create_violation(
                session, code=code, geom=geom, kind=props.get("kind", "stock"), vtype=props.get("vtype", "other"),
                source=props.get("source", "database"), discovered_at=when, actor="样例数据 / sample records",
                status=start, in_database=bool(props.get("in_database")), is_key=bool(props.get("is_key")),
                street_id=street_id, parcel_id=parcel_id, area=props.get("area_m2"),
                reason=props.get("note"),
            )
            for step in workflow.status_path(target, start)[1:]:
                items.transition(session, item.id, workflow.Transition(step, "样例数据 / sample records", "样例记录"),
                                 occurred_at=when)
            added_v += 1
        else:
            raise ImportFileError(str(path), f"record must be 'violation' or 'permit', got {kind!r}", row=n,
                                  field="record")
    session.flush()
    return added_v, added_p


# ----------------------------------------------------------------------------- scenes
def sample_scenes(folder: Path = SAMPLE_DIR) -> list[SampleScene]:
    """The sample GeoTIFFs with their capture time and sensor (from the TIFF tags), oldest first."""
    import rasterio

    out = []
    for path in sorted(folder.glob("*.tif")):
        with rasterio.open(path) as ds:
            tags = ds.tags()
        if "CAPTURED" not in tags:
            raise ImportFileError(str(path), "the sample has no CAPTURED tag", field="CAPTURED")
        captured = datetime.fromisoformat(tags["CAPTURED"])
        out.append(SampleScene(path, captured, tags.get("SENSOR", "drone"), tags.get("AREA", path.stem)))
    out.sort(key=lambda s: (s.captured_at, s.path.name))
    return out


def ingest_samples(engine: Engine, settings: Settings, scenes: Sequence[SampleScene], queue: bool = True,
                   say: SayFn = print) -> list[int]:
    """Ingest the sample scenes not stored yet (oldest first); return every sample's scene id."""
    from geo.imagery.errors import DuplicateScene
    from geo.imagery.ingest import SortieInput, ingest_file

    ids = []
    for sc in scenes:
        try:
            res = ingest_file(engine, settings, sc.path, sensor=sc.sensor, captured_at=sc.captured_at,
                              sortie=SortieInput(pilot="演示飞手", task=f"样例 {sc.area}") if sc.sensor == "drone"
                              else None, queue=queue)
            ids.append(res.scene_id)
            say(f"  ingested {sc.path.name} → scene {res.scene_id}")
        except DuplicateScene as exc:
            ids.append(exc.existing_id)
            say(f"  {sc.path.name}: already stored (scene {exc.existing_id})")
    return ids


def load(engine: Engine, settings: Settings, say: SayFn = print, folder: Path = SAMPLE_DIR,
         use_queue: bool = True) -> LoadResult:
    """Load the sample records and imagery and run their detection jobs (see the module doc).

    Args:
        engine: the (migrated, seeded) database.
        settings: data folder and Dask scheduler.
        say: where to print what happens.
        folder: the sample folder.
        use_queue: run the jobs through the durable queue (a worker that stops when the queue is
            empty); False runs :func:`geo.detect_job.run_scene` directly with a progress bar.
    """
    result = LoadResult()
    records = folder / "records.geojson"
    if records.is_file():
        with transaction(session_factory(engine)) as s:
            result.violations_added, result.permits_added = load_records(s, records)
        say(f"  sample records: {result.violations_added} violations, {result.permits_added} permits added")
    scenes = sample_scenes(folder)
    result.scene_ids = ingest_samples(engine, settings, scenes, queue=use_queue, say=say)
    if use_queue:
        from geo.queue import run_worker

        say("  running the queued detection jobs …")
        run_worker(engine, settings, once=True)
    _run_missing(engine, settings, result.scene_ids, say)
    with session_factory(engine)() as s:
        result.jobs_done = int(s.scalar(select(func.count()).select_from(DetectionJob).where(
            DetectionJob.scene_id.in_(result.scene_ids), DetectionJob.state == JobState.DONE.value)) or 0)
        result.detections = int(s.scalar(text("SELECT count(*) FROM detections WHERE scene_id = ANY(:ids)"),
                                         {"ids": result.scene_ids}) or 0)
    say(f"  detection: {result.jobs_done}/{len(result.scene_ids)} jobs done, {result.detections} detections")
    return result


def _run_missing(engine: Engine, settings: Settings, scene_ids: Sequence[int], say: SayFn) -> None:
    """Run, in this process, the job of every sample scene that is not done (oldest first)."""
    from tqdm import tqdm

    from geo.detect_job import run_scene

    with session_factory(engine)() as s:
        done = set(s.scalars(select(DetectionJob.scene_id).where(DetectionJob.state == JobState.DONE.value)))
        order = list(s.scalars(select(Scene.id).where(Scene.id.in_(scene_ids)).order_by(Scene.captured_at, Scene.id)))
    todo = [i for i in order if i not in done]
    for scene_id in todo:
        with tqdm(total=100, desc=f"scene {scene_id}", unit="%", leave=False) as bar:
            def show(fraction: float, message: str, bar: Any = bar) -> None:
                bar.n = round(100 * fraction)
                bar.set_postfix_str(message[:40], refresh=True)

            added = run_scene(engine, settings, scene_id, show)
        say(f"  scene {scene_id}: {added} detections")
