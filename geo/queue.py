"""The durable job queue: procrastinate on the project's PostgreSQL.

* :func:`make_app` builds a procrastinate ``App`` (psycopg 3 connector) with the project's
  tasks registered; configuration comes from the caller, never at import time.
* :func:`enqueue_detection` queues ``detect_scene(scene_id)`` on the caller's SQLAlchemy
  session, so the job is committed (or rolled back) with the scene row: a crash never loses
  it. One queued job per scene (queueing lock ``scene-<id>``), three attempts with
  exponential back-off.
* :func:`run_worker` runs the jobs (``python app.py worker``); ``once=True`` processes until
  the queue is empty, then returns.

The task keeps the scene's :class:`geo.models.DetectionJob` row (state, progress, message,
attempts) up to date for the web page. The detection itself is
``geo.detect_job.run_scene(engine, settings, scene_id, progress)``, imported lazily.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import procrastinate
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo.config import Settings
from geo.models import DetectionJob, JobState

log = logging.getLogger(__name__)

QUEUE = "detection"
DETECT_TASK = "detect_scene"
MAX_ATTEMPTS = 3
RETRY = procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS - 1, exponential_wait=10)


@dataclass
class _WorkerContext:
    engine: Engine
    settings: Settings


_context: _WorkerContext | None = None


def conninfo(engine: Engine) -> str:
    """A libpq connection string for the database of a SQLAlchemy engine."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def set_job(engine: Engine, scene_id: int, **values: Any) -> None:
    """Update the DetectionJob row of a scene in its own short transaction."""
    from sqlalchemy import func

    with engine.begin() as conn:
        conn.execute(update(DetectionJob).where(DetectionJob.scene_id == scene_id)
                     .values(updated_at=func.now(), **values))


def _progress_reporter(engine: Engine, scene_id: int) -> Callable[[float, str | None], None]:
    def report(fraction: float, message: str | None = None) -> None:
        values: dict[str, Any] = {"progress": max(0.0, min(1.0, float(fraction)))}
        if message is not None:
            values["message"] = message
        set_job(engine, scene_id, **values)

    return report


def detect_scene_body(context: Any, scene_id: int) -> None:
    """The body of the ``detect_scene`` task (see the module doc)."""
    if _context is None:
        raise RuntimeError("detect_scene runs only inside run_worker()")
    engine, settings = _context.engine, _context.settings
    attempt = int(getattr(getattr(context, "job", None), "attempts", 0) or 0) + 1
    set_job(engine, scene_id, state=JobState.RUNNING.value, progress=0.0, attempts=attempt,
            message=f"第 {attempt} 次运行 / attempt {attempt}")
    try:
        from geo.detect_job import run_scene  # written in the detection issue

        run_scene(engine, settings, scene_id, _progress_reporter(engine, scene_id))
    except Exception as exc:
        final = attempt >= MAX_ATTEMPTS
        set_job(engine, scene_id, state=(JobState.FAILED if final else JobState.QUEUED).value,
                message=(f"失败 / failed: {exc}" if final
                         else f"第 {attempt} 次失败，将重试 / attempt {attempt} failed, will retry: {exc}"))
        raise
    set_job(engine, scene_id, state=JobState.DONE.value, progress=1.0)  # keeps run_scene's summary


def make_app(dsn: str) -> procrastinate.App:
    """A procrastinate App on the database ``dsn`` with the project's tasks registered."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))
    app.task(name=DETECT_TASK, queue=QUEUE, retry=RETRY, pass_context=True)(detect_scene_body)
    from geo import stalled  # jobs of a worker that died mid-job are queued again (geo/stalled.py)

    stalled.register(app, QUEUE)
    return app


def enqueue_detection(session: Session, scene_id: int, app: procrastinate.App | None = None) -> int:
    """Queue ``detect_scene(scene_id)`` in the session's transaction; return the job id.

    Also creates (or resets to queued) the scene's DetectionJob row. If a job for the scene is
    already waiting, no second one is queued (the existing one is kept).
    """
    existing = session.query(DetectionJob).filter_by(scene_id=scene_id).one_or_none()
    if existing is None:
        session.add(DetectionJob(scene_id=scene_id, state=JobState.QUEUED.value, progress=0.0,
                                 message="排队中 / queued", attempts=0))
    else:
        existing.state, existing.progress, existing.message = JobState.QUEUED.value, 0.0, "排队中 / queued"
    session.flush()
    app = app or make_app("")
    driver_conn = session.connection().connection.driver_connection
    try:
        job_id = app.configure_task(DETECT_TASK, queueing_lock=f"scene-{scene_id}", lock=f"scene-{scene_id}",
                                    connection=driver_conn).defer(scene_id=scene_id)
    except procrastinate.exceptions.AlreadyEnqueued:
        log.info("detection of scene %s is already queued", scene_id)
        return 0
    return int(job_id)


def run_worker(engine: Engine, settings: Settings, concurrency: int = 1, once: bool = False,
               app: procrastinate.App | None = None) -> None:
    """Run queued jobs until stopped (or, with ``once``, until the queue is empty).

    Cleans the imagery store of what a crashed ingest left before starting.
    """
    global _context
    from geo.imagery.store import cleanup_orphans

    removed = cleanup_orphans(engine, settings.data_dir)
    if removed:
        log.info("removed %d orphan file(s) from the imagery store", len(removed))
    _context = _WorkerContext(engine=engine, settings=settings)
    app = app or make_app(conninfo(engine))
    try:
        with app.open():
            app.run_worker(queues=[QUEUE], concurrency=concurrency, wait=not once,
                           install_signal_handlers=not once)
    finally:
        _context = None


def queued_jobs(engine: Engine, task_name: str = DETECT_TASK) -> list[dict[str, Any]]:
    """The procrastinate jobs of a task (id, status, args, attempts), oldest first."""
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status::text AS status, args, attempts FROM procrastinate_jobs "
                                 "WHERE task_name = :t ORDER BY id"), {"t": task_name}).mappings().all()
    return [dict(r) for r in rows]
