"""Ingest: validate → checksum → COG in the store → scene row + sortie + queued job.

The one orchestration used by the command line (``python app.py ingest``) and the web upload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo.config import Settings
from geo.imagery.errors import DuplicateScene, ImageryError
from geo.imagery.store import Stage, existing_scene, sha256_file, store_scene
from geo.imagery.validate import Limits, SceneInfo, validate_file
from geo.models import AdminUnit, Scene, Sortie, UnitLevel

#: progress(stage, fraction of the whole file's work done)
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class SortieInput:
    """The sortie (出动) a drone file belongs to.

    Attributes:
        code: the sortie's code; None with a pilot makes one from the time and pilot.
        pilot: the pilot (飞手); required for a new sortie.
        drone: the aircraft.
        task: the area or task name.
        flown_at: the flight time; defaults to the capture time.
    """

    code: str | None = None
    pilot: str | None = None
    drone: str | None = None
    task: str | None = None
    flown_at: datetime | None = None

    @property
    def empty(self) -> bool:
        """Whether no sortie was given at all."""
        return not (self.code or self.pilot)


@dataclass(frozen=True)
class IngestResult:
    """A stored scene."""

    filename: str
    scene_id: int
    sha256: str
    relpath: str
    sortie_id: int | None
    job_id: int


def district_geometry(session: Session) -> BaseGeometry | None:
    """The union of the district units (or, without one, of the streets); None when empty."""
    for level in (UnitLevel.DISTRICT, UnitLevel.STREET):
        wkb = session.scalar(select(func.ST_AsBinary(func.ST_Union(AdminUnit.geom)))
                             .where(AdminUnit.level == level.value))
        if wkb is not None:
            from shapely import wkb as shp_wkb

            return shp_wkb.loads(bytes(wkb))
    return None


def _street_of(session: Session, footprint: MultiPolygon) -> int | None:
    centre = from_shape(footprint.centroid, srid=4326)
    return session.scalar(select(AdminUnit.id).where(AdminUnit.level == UnitLevel.STREET.value,
                                                     func.ST_Intersects(AdminUnit.geom, centre)).limit(1))


def _sortie(session: Session, s: SortieInput, name: str, captured_at: datetime, footprint: MultiPolygon,
            user_id: int | None) -> Sortie:
    flown = s.flown_at or captured_at
    code = (s.code or f"{flown:%Y%m%d-%H%M}-{s.pilot}")[:40]
    from sqlalchemy import text

    # Serialise concurrent uploads of one sortie (get-or-create must not race).
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"sortie:{code}"})
    sortie = session.scalar(select(Sortie).where(Sortie.code == code).with_for_update())
    if sortie is None:
        if not s.pilot:
            raise ImageryError(name, "sortie", f"出动 {code} 不存在；新出动需要填写飞手",
                               f"sortie {code} does not exist; a new sortie needs a pilot")
        sortie = Sortie(code=code, pilot=s.pilot.strip()[:60], drone=(s.drone or None), flown_at=flown,
                        task=(s.task or None), street_id=_street_of(session, footprint), created_by=user_id,
                        geom=from_shape(footprint, srid=4326))
        session.add(sortie)
    else:
        if s.pilot and s.pilot.strip() != sortie.pilot:
            raise ImageryError(name, "sortie", f"出动 {code} 的飞手是 {sortie.pilot}，不是 {s.pilot}",
                               f"sortie {code} was flown by {sortie.pilot}, not {s.pilot}")
        old = to_shape(sortie.geom) if sortie.geom is not None else MultiPolygon()
        merged = old.union(footprint)
        polys = list(getattr(merged, "geoms", [merged]))
        sortie.geom = from_shape(MultiPolygon(polys), srid=4326)
    session.flush()
    return sortie


def record_scene(session: Session, relpath: str, info: SceneInfo, sha256: str, sensor: str,
                 captured_at: datetime, sortie: SortieInput | None, uploader_id: int | None) -> Scene:
    """Add the scene row (and its sortie) in the caller's transaction."""
    sortie_row = None
    if sortie is not None and not sortie.empty:
        sortie_row = _sortie(session, sortie, info.filename, captured_at, info.footprint, uploader_id)
    scene = Scene(sha256=sha256, path=relpath, original_name=info.filename, sensor=sensor,
                  captured_at=captured_at, crs=info.crs, resolution_m=info.resolution_m, width=info.width,
                  height=info.height, band_count=info.band_count, dtype=info.dtype, size_bytes=info.size_bytes,
                  sortie_id=sortie_row.id if sortie_row else None, uploaded_by=uploader_id,
                  footprint=from_shape(info.footprint, srid=4326))
    session.add(scene)
    session.flush()
    return scene


def ingest_file(engine: Engine, settings: Settings, path: Path, *, sensor: str, captured_at: datetime | None,
                name: str | None = None, sortie: SortieInput | None = None, uploader_id: int | None = None,
                limits: Limits | None = None, progress: Progress | None = None,
                on_stage: Stage | None = None, queue: bool = True) -> IngestResult:
    """Validate, store and record one file, and queue its change detection.

    Args:
        engine: the database.
        settings: gives the data folder.
        path: where the bytes are.
        sensor: ``drone`` or ``satellite``.
        captured_at: the capture time (aware).
        name: the user's file name (default: ``path.name``).
        sortie: the sortie of a drone file.
        uploader_id: the user who uploaded it.
        limits: validation limits (district check included); default :class:`Limits`.
        progress: called with (stage, fraction) as the work goes on.
        on_stage: crash-injection hook for tests (see :func:`geo.imagery.store.store_scene`).
        queue: whether to queue the detection job (always, outside tests of the store).

    Returns:
        The stored scene.

    Raises:
        ImageryError: the file was refused (``DuplicateScene`` names the stored one).
        StoreError: the store could not be written.
    """
    from geo.db import session_factory

    report = progress or (lambda _s, _f: None)
    name = name if name is not None else path.name
    report("validate", 0.0)
    info = validate_file(path, name, sensor, captured_at, limits,
                         progress=lambda f: report("validate", 0.4 * f))
    assert captured_at is not None  # validate_file refuses None
    size = max(info.size_bytes, 1)
    done = [0]

    def hashed(n: int) -> None:
        done[0] += n
        report("checksum", 0.4 + 0.1 * done[0] / size)

    sha = sha256_file(path, hashed)
    with session_factory(engine)() as s:
        found = existing_scene(s, sha)
    if found:
        raise DuplicateScene(info.filename, *found)
    report("convert", 0.5)
    ids: dict[str, int] = {"job": 0, "sortie": 0}

    def record(session: Session, relpath: str) -> int:
        scene = record_scene(session, relpath, info, sha, sensor, captured_at, sortie, uploader_id)
        ids["sortie"] = scene.sortie_id or 0
        if queue:
            from geo.queue import enqueue_detection

            ids["job"] = enqueue_detection(session, scene.id)
        return scene.id

    stored = store_scene(engine, settings.data_dir, path, info, sha, record, on_stage or (lambda _s: None))
    report("done", 1.0)
    return IngestResult(filename=info.filename, scene_id=stored.scene_id, sha256=sha, relpath=stored.relpath,
                        sortie_id=ids["sortie"] or None, job_id=ids["job"])
