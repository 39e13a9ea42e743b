"""The change-detection job of one stored scene: pair, detect, match, store.

:func:`run_scene` is what the durable queue task ``detect_scene(scene_id)`` calls. It

1. marks the scene's :class:`~geo.models.DetectionJob` running (its own short commit, so the
   scene's page shows progress at once) and picks the earlier scene(s) to compare with
   (:mod:`geo.pairing`);
2. runs :func:`detection.pipeline.detect_files` on each pair (windows over Dask when a
   client is given or configured);
3. classifies the polygons against the violation database in one query per batch
   (:mod:`geo.matching`);
4. writes before/after chips (PNG, temporary name then rename) under ``DATA_DIR/chips``;
5. inserts the detections and marks the job done in ONE transaction. Each detection's identity
   is ``(scene_id, before_scene_id, fingerprint)``, inserted with ``ON CONFLICT DO NOTHING``: a
   job that is run again (retried after a crash, or re-queued) adds no duplicate.

A job killed at any point leaves either no detections of that run or all of them; chips have
names derived from the fingerprint, so a rerun overwrites the same files.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo import matching, pairing
from geo.config import Settings
from geo.db import session_factory, transaction
from geo.errors import GeoError, NotFound
from geo.models import Detection, DetectionJob, JobState, ReviewStatus, Scene

#: ``progress(fraction 0..1, message)``: how a job reports progress to its caller.
ProgressFn = Callable[[float, str], None]

#: Folder of the review chips, under the data folder.
CHIPS_DIR = "chips"


class DetectJobError(GeoError, RuntimeError):
    """A detection job cannot run (scene file missing, bad pairing)."""


@dataclass(frozen=True)
class JobOptions:
    """Tunables of a job (defaults suit drone and satellite imagery alike).

    Attributes:
        min_share: smallest share of the new footprint an earlier scene must cover.
        max_pairs: earlier scenes to compare with at most (each further one only for the part
            of the new scene the earlier choices leave uncovered).
        batch_size: polygons per matching query.
        rules: matching thresholds.
        chips: whether to write before/after chips.
        chip_size: chip side in pixels.
        force: run even when the job is already done.
        local_cluster: without ``DASK_SCHEDULER_ADDRESS`` and a client, fan a scene of several
            windows out over a process-wide LocalCluster (False: one window after the other here).
    """

    min_share: float = pairing.DEFAULT_MIN_SHARE
    max_pairs: int = 3
    batch_size: int = 500
    rules: matching.Rules = field(default_factory=matching.Rules)
    chips: bool = True
    chip_size: int = 256
    force: bool = False
    local_cluster: bool = True


# ----------------------------------------------------------------------------- Dask
_shared: dict[str, Any] = {}
_shared_lock = threading.Lock()


@contextmanager
def dask_client(settings: Settings, n_workers: int | None = None, processes: bool = True) -> Iterator[Any]:
    """A Dask client for the duration of a block: the configured scheduler or a LocalCluster.

    Args:
        settings: ``settings.dask_scheduler`` (``DASK_SCHEDULER_ADDRESS``) names an existing
            cluster; without it a LocalCluster is started and shut down afterwards.
        n_workers: LocalCluster workers (default: the CPUs, at most 4).
        processes: LocalCluster workers as processes (True) or threads.
    """
    from detection.distributed import close_client, get_client

    workers = n_workers or max(1, min(4, os.cpu_count() or 1))
    client = get_client(settings.dask_scheduler, n_workers=workers, processes=processes)
    try:
        yield client
    finally:
        close_client(client)


def shared_client(settings: Settings, windows: int = 1, local: bool = True) -> Any | None:
    """The process-wide Dask client for jobs, created on first use and kept for later jobs.

    Args:
        settings: with ``DASK_SCHEDULER_ADDRESS`` set, a client of that cluster.
        windows: how many windows the scene has; a scene of one window runs in this process
            (a cluster would only add its start-up time).
        local: without a configured scheduler, start a LocalCluster (2 worker processes, at
            most one per CPU) for scenes of several windows; False runs them in this process.

    Returns:
        A client, or None to run the windows in this process.
    """
    key = settings.dask_scheduler or "local"
    if settings.dask_scheduler is None and (not local or windows <= 1):
        return None
    with _shared_lock:
        client = _shared.get(key)
        if client is None or client.status not in ("running", "connecting"):
            from detection.distributed import get_client

            client = get_client(settings.dask_scheduler, n_workers=max(1, min(2, os.cpu_count() or 1)))
            _shared[key] = client
            if len(_shared) == 1:
                atexit.register(close_shared)
        return client


def close_shared() -> None:
    """Close the process-wide clients (and the LocalCluster) made by :func:`shared_client`."""
    from detection.distributed import close_client

    with _shared_lock:
        clients = list(_shared.values())
        _shared.clear()
    for client in clients:
        with suppress(Exception):
            close_client(client)


# ----------------------------------------------------------------------------- job state
class _Reporter:
    """Writes progress to the job row and forwards it to the caller, both throttled.

    A report goes through when forced, when the message changes, after ``every_s`` seconds or
    after 10 % more progress; the others (a chip, a window) are dropped.
    """

    def __init__(self, engine: Engine, job_id: int, progress: ProgressFn | None, every_s: float = 1.0) -> None:
        self.engine, self.job_id, self.progress, self.every_s = engine, job_id, progress, every_s
        self._last = 0.0
        self._last_fraction = -1.0
        self._last_message = ""

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        now = time.monotonic()
        if (force or message != self._last_message or now - self._last >= self.every_s
                or fraction - self._last_fraction >= 0.1):
            self._last, self._last_fraction, self._last_message = now, fraction, message
            if self.progress is not None:
                self.progress(fraction, message)
            with self.engine.begin() as conn:
                conn.execute(
                    text("UPDATE detection_jobs SET progress = :p, message = :m, updated_at = now() WHERE id = :i"),
                    {"p": fraction, "m": message[:1000], "i": self.job_id},
                )

    def span(self, start: float, end: float, message: str) -> Callable[..., None]:
        """A callback for a sub-step mapping its own progress onto ``start..end``.

        It accepts ``(fraction)`` or ``(done, total)``, whichever the sub-step reports.
        """

        def report(*args: Any, **_kw: Any) -> None:
            if len(args) >= 2 and args[1]:
                frac = float(args[0]) / float(args[1])
            elif args:
                frac = float(args[0])
            else:
                return
            self(start + (end - start) * min(1.0, max(0.0, frac)), message)

        return report


def _begin_job(engine: Engine, scene_id: int) -> tuple[int, str | None]:
    """Create or restart the scene's job row (own commit); return its id and previous state."""
    with engine.begin() as conn:
        prev = conn.execute(text("SELECT state FROM detection_jobs WHERE scene_id = :s"), {"s": scene_id}).scalar()
        job_id = conn.execute(
            text(
                "INSERT INTO detection_jobs (scene_id, state, progress, message, attempts, updated_at)"
                " VALUES (:s, 'running', 0, :m, 1, now())"
                " ON CONFLICT (scene_id) DO UPDATE SET state = 'running', progress = 0, message = :m,"
                # the queue marks the row running (with procrastinate's attempt count) before calling
                # run_scene: count an attempt here only when nobody did
                " attempts = CASE WHEN detection_jobs.state = 'running' THEN greatest(detection_jobs.attempts, 1)"
                " ELSE detection_jobs.attempts + 1 END, updated_at = now()"
                " RETURNING id"
            ),
            {"s": scene_id, "m": "开始 / starting"},
        ).scalar_one()
    return int(job_id), prev


def _fail_job(engine: Engine, job_id: int, message: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE detection_jobs SET state = 'failed', message = :m, updated_at = now() WHERE id = :i"),
            {"m": message[:2000], "i": job_id},
        )


def ensure_job(session: Session, scene_id: int) -> DetectionJob:
    """The scene's job row, created ``queued`` when missing (for whoever defers the task)."""
    session.execute(
        insert(DetectionJob).values(scene_id=scene_id, state=JobState.QUEUED.value, progress=0.0, attempts=0)
        .on_conflict_do_nothing(index_elements=["scene_id"])
    )
    job = session.scalars(select(DetectionJob).where(DetectionJob.scene_id == scene_id)).one()
    return job


# ----------------------------------------------------------------------------- chips
def chip_paths(scene_id: int, before_id: int, fp: str) -> tuple[str, str]:
    """Paths (relative to the data folder) of a detection's before and after chips."""
    base = f"{CHIPS_DIR}/{scene_id}/{before_id}/{fp[:24]}"
    return f"{base}_before.png", f"{base}_after.png"


# ----------------------------------------------------------------------------- the job
@dataclass(frozen=True)
class _Found:
    matched: matching.Matched
    image_geom: Any
    before_id: int
    before_at: datetime


def _scene_file(settings: Settings, scene: Scene) -> Path:
    path = Path(scene.path)
    full = path if path.is_absolute() else settings.data_dir / path
    if not full.is_file():
        raise DetectJobError(f"scene {scene.id} ({scene.original_name}): file {scene.path} is missing from the store")
    return full


def run_scene(engine: Engine, settings: Settings, scene_id: int, progress: ProgressFn | None = None, *,
              params: Any = None, client: Any = None, options: JobOptions = JobOptions()) -> int:
    """Run the change-detection job of one scene; return how many detections it added.

    Args:
        engine: the database.
        settings: data folder and Dask scheduler.
        scene_id: the new scene.
        progress: called as ``progress(fraction, message)``.
        params: :class:`detection.types.DetectParams` (defaults when None).
        client: a Dask client for the windows; None uses :func:`shared_client` (the configured
            scheduler, else a LocalCluster for scenes of several windows).
        options: pairing, matching and chip options.

    Returns:
        Number of detections inserted by this run (0 when a rerun found them all stored).

    Raises:
        NotFound: no such scene.
        DetectJobError: the scene's file (or an earlier one's) is missing.
        detection.DetectionError: the pipeline failed on the imagery.
    """
    factory = session_factory(engine)
    with factory() as s:
        scene = s.get(Scene, scene_id)
        if scene is None:
            raise NotFound(f"scene {scene_id} does not exist")
        s.expunge(scene)
    job_id, previous = _begin_job(engine, scene_id)
    report = _Reporter(engine, job_id, progress)
    try:
        if previous == JobState.DONE.value and not options.force:
            with engine.begin() as conn:
                conn.execute(text("UPDATE detection_jobs SET state = 'done', progress = 1, message = :m,"
                                  " updated_at = now() WHERE id = :i"),
                             {"m": "已完成（重复运行未作改动）/ already done, nothing changed", "i": job_id})
            report(1.0, "already done")
            return 0
        return _run(engine, settings, scene, job_id, report, params, client, options)
    except BaseException as exc:
        # A failure (or a shutdown) marks the row; the queue decides whether to retry.
        with suppress(Exception):
            _fail_job(engine, job_id, f"{type(exc).__name__}: {exc}")
        raise


def _run(engine: Engine, settings: Settings, scene: Scene, job_id: int, report: _Reporter, params: Any,
         client: Any, options: JobOptions) -> int:
    from detection.pipeline import detect_files
    from detection.types import DetectParams

    params = params or DetectParams()
    report(0.01, "配对 / pairing", force=True)
    after_path = _scene_file(settings, scene)
    with session_factory(engine)() as s:
        pairs = pairing.earlier_scenes(s, scene.id, min_share=options.min_share, max_pairs=options.max_pairs)
        befores = {c.scene_id: s.get(Scene, c.scene_id) for c in pairs}
        # where a structure that vanished is demolition evidence: look for those there too
        look_back = matching.look_back_regions(s, scene.id, scene.crs)
    if not pairs:
        _finish(engine, job_id, [], scene, settings, "没有更早的影像可对比 / no earlier imagery of this place")
        report(1.0, "no earlier imagery", force=True)
        return 0

    if client is None:
        from detection.windows import tiles

        windows = len(tiles(scene.width, scene.height, params.window, params.overlap))
        client = shared_client(settings, windows=windows, local=options.local_cluster)
    found: list[_Found] = []
    share = 0.75 / len(pairs)
    for k, cand in enumerate(pairs):
        before = befores[cand.scene_id]
        assert before is not None
        before_path = _scene_file(settings, before)
        start = 0.05 + k * share
        msg = f"变化检测 / detecting against scene {before.id} ({before.captured_at:%Y-%m-%d})"
        report(start, msg, force=True)
        result = detect_files(before_path, after_path, params, progress=report.span(start, start + 0.85 * share, msg),
                              client=client, keep_mask=False, look_back=look_back)
        changes: list[tuple[matching.Change, Any]] = []
        for poly in result.polygons:
            ch = matching.to_change(poly.change, poly.geometry, poly.score, poly.crs or result.crs)
            # a further earlier scene only speaks for the part the ones before it left uncovered
            if ch is not None and (k == 0 or cand.adds is None
                                   or cand.adds.contains(ch.geom.representative_point())):
                changes.append((ch, poly.geometry))
        report(start + 0.87 * share, "与违建库比对 / matching against the violation database")
        with session_factory(engine)() as s:
            matched = matching.match(s, [c for c, _ in changes], rules=options.rules, batch_size=options.batch_size)
        batch = [_Found(m, g, before.id, before.captured_at) for m, (_, g) in zip(matched, changes, strict=True)]
        found.extend(batch)
        if options.chips:
            _write_chips(settings, scene.id, before_path, after_path, batch, options.chip_size,
                         report.span(start + 0.9 * share, start + share, "生成影像切片 / writing chips"))
    report(0.9, "保存结果 / storing detections", force=True)
    return _finish(engine, job_id, found, scene, settings, None, chips=options.chips)


def _write_chips(settings: Settings, scene_id: int, before_path: Path, after_path: Path, found: Sequence[_Found],
                 size: int, progress: Callable[..., None]) -> None:
    from geo.chips import chips_for_polygons, write_atomic

    for i, png_before, png_after in chips_for_polygons(before_path, after_path, [f.image_geom for f in found],
                                                       size=size, progress=progress):
        f = found[i]
        rel_b, rel_a = chip_paths(scene_id, f.before_id, f.matched.change.fingerprint)
        write_atomic(settings.data_dir / rel_b, png_before)
        write_atomic(settings.data_dir / rel_a, png_after)


def _finish(engine: Engine, job_id: int, found: Sequence[_Found], scene: Scene, settings: Settings,
            message: str | None, chips: bool = True) -> int:
    """Insert every detection and mark the job done, in one transaction."""
    rows: list[dict[str, Any]] = []
    for f in found:
        ch, res = f.matched.change, f.matched.result
        fp = ch.fingerprint
        rel_b, rel_a = chip_paths(scene.id, f.before_id, fp) if chips else (None, None)
        rows.append({
            "scene_id": scene.id, "before_scene_id": f.before_id, "fingerprint": fp, "change": ch.change,
            "klass": res.klass, "score": round(ch.score, 4), "area_m2": round(ch.area_m2, 2),
            "area_before_m2": None if res.area_before_m2 is None else round(res.area_before_m2, 2),
            "area_after_m2": None if res.area_after_m2 is None else round(res.area_after_m2, 2),
            "before_captured_at": f.before_at, "after_captured_at": scene.captured_at,
            "street_id": res.street_id, "parcel_id": res.parcel_id, "violation_id": res.violation_id,
            "permit_id": res.permit_id, "review_status": res.review_status,
            "chip_before": rel_b, "chip_after": rel_a, "geom": from_shape(ch.geom, srid=4326),
        })
    counts: dict[str, int] = {}
    for f in found:
        counts[f.matched.result.klass] = counts.get(f.matched.result.klass, 0) + 1
    summary = message or (
        f"完成：{len(rows)} 处变化 / done: {len(rows)} changes ("
        + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) + ")"
    )
    inserted = 0
    with transaction(session_factory(engine)) as s:
        for start in range(0, len(rows), 500):
            stmt = (insert(Detection).values(rows[start:start + 500])
                    .on_conflict_do_nothing(constraint="uq_detections_identity").returning(Detection.id))
            inserted += len(s.execute(stmt).all())
        s.execute(
            text("UPDATE detection_jobs SET state = 'done', progress = 1, message = :m, updated_at = now()"
                 " WHERE id = :i"),
            {"m": summary, "i": job_id},
        )
    return inserted


# ----------------------------------------------------------------------------- queries for the web side
def detections_for_review(session: Session, *, street_id: int | None = None, klass: str | None = None,
                          scene_id: int | None = None, status: str = ReviewStatus.PENDING.value,
                          limit: int = 100, offset: int = 0) -> list[Detection]:
    """Detections waiting for review, best score first.

    Args:
        session: an open session.
        street_id: only this street's (a street team's scope).
        klass: only this class (e.g. ``new_suspect``).
        scene_id: only this scene's.
        status: review status (``pending`` is the queue).
        limit: page size.
        offset: rows to skip.
    """
    q = select(Detection).where(Detection.review_status == status)
    if street_id is not None:
        q = q.where(Detection.street_id == street_id)
    if klass is not None:
        q = q.where(Detection.klass == klass)
    if scene_id is not None:
        q = q.where(Detection.scene_id == scene_id)
    q = q.order_by(Detection.score.desc(), Detection.id).limit(limit).offset(offset)
    return list(session.scalars(q))


def job_status(session: Session, scene_id: int) -> DetectionJob | None:
    """The scene's detection job row (state, progress, message, attempts), or None."""
    return session.scalars(select(DetectionJob).where(DetectionJob.scene_id == scene_id)).one_or_none()
