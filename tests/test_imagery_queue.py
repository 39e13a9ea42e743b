"""The durable queue: ingest queues detect_scene in its transaction; a worker runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.config import Settings
from geo.db import session_factory
from geo.imagery.ingest import SortieInput, ingest_file
from geo.imagery.validate import Limits
from geo.queue import DETECT_TASK, enqueue_detection, queued_jobs, run_worker
from tests.imagery_files import CAPTURED, DISTRICT, write_geotiff

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def qengine() -> Iterator[Engine]:
    """A database of its own, so the worker sees only this module's jobs."""
    from geo.testdb import throwaway_database

    with throwaway_database(prefix="wj_queue") as eng:
        yield eng


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def job_row(engine: Engine, scene_id: int) -> dict[str, object]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT state, progress, message, attempts FROM detection_jobs "
                                      "WHERE scene_id = :s"), {"s": scene_id}).mappings().one())


def test_ingest_queues_one_job_per_scene(qengine: Engine, settings: Settings, tmp_path: Path) -> None:
    res = ingest_file(qengine, settings, write_geotiff(tmp_path / "q1.tif", seed=61), sensor="drone",
                      captured_at=CAPTURED, sortie=SortieInput(pilot="赵飞手"), limits=Limits(district=DISTRICT))
    jobs = [j for j in queued_jobs(qengine) if j["args"] == {"scene_id": res.scene_id}]
    assert len(jobs) == 1 and jobs[0]["status"] == "todo" and jobs[0]["id"] == res.job_id
    assert job_row(qengine, res.scene_id)["state"] == "queued"
    # a second request while one waits is absorbed by the queueing lock
    with session_factory(qengine).begin() as s:
        assert enqueue_detection(s, res.scene_id) == 0
    assert len([j for j in queued_jobs(qengine) if j["args"] == {"scene_id": res.scene_id}]) == 1


def test_job_rolls_back_with_the_scene(qengine: Engine) -> None:
    """Deferred on the caller's connection: an aborted transaction leaves no job."""
    before = len(queued_jobs(qengine))
    s = session_factory(qengine)()
    s.begin()
    scene_id = s.execute(text("SELECT coalesce(max(id), 0) FROM scenes")).scalar_one()
    assert scene_id > 0
    s.execute(text("DELETE FROM detection_jobs WHERE scene_id = :s"), {"s": scene_id})
    s.execute(text("DELETE FROM procrastinate_jobs WHERE args = jsonb_build_object('scene_id', CAST(:s AS int))"),
              {"s": scene_id})
    assert enqueue_detection(s, scene_id) > 0
    s.rollback()
    s.close()
    assert len(queued_jobs(qengine)) == before


def test_worker_runs_the_job(qengine: Engine, settings: Settings, tmp_path: Path) -> None:
    """``python app.py worker --once`` runs the real detect_scene and the job row ends done."""
    res = ingest_file(qengine, settings, write_geotiff(tmp_path / "q2.tif", seed=62), sensor="drone",
                      captured_at=CAPTURED, limits=Limits(district=DISTRICT))
    env = {**os.environ, "DATABASE_URL": qengine.url.render_as_string(hide_password=False),
           "DATA_DIR": str(settings.data_dir)}
    proc = subprocess.run([sys.executable, str(ROOT / "app.py"), "worker", "--once"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = job_row(qengine, res.scene_id)
    assert row["state"] == "done", row
    assert row["progress"] == 1.0
    mine = [j for j in queued_jobs(qengine) if j["args"] == {"scene_id": res.scene_id}]
    assert [j["status"] for j in mine] == ["succeeded"]


def test_failed_job_is_retried_later(qengine: Engine, settings: Settings, tmp_path: Path) -> None:
    """A job whose scene file vanished fails, says it will retry, and waits (back-off) in the queue."""
    res = ingest_file(qengine, settings, write_geotiff(tmp_path / "q3.tif", seed=63), sensor="drone",
                      captured_at=CAPTURED, limits=Limits(district=DISTRICT))
    (settings.data_dir / res.relpath).unlink()
    run_worker(qengine, settings, once=True)
    row = job_row(qengine, res.scene_id)
    assert row["state"] == "queued" and "will retry" in str(row["message"]), row
    with qengine.connect() as conn:
        status, attempts, later = conn.execute(text(
            "SELECT status::text, attempts, scheduled_at > now() FROM procrastinate_jobs WHERE id = :i"),
            {"i": res.job_id}).one()
    assert (status, attempts, later) == ("todo", 1, True)
    assert DETECT_TASK == "detect_scene"


def test_queue_schema_migrates_down_and_up() -> None:
    """Revision 0005 installs procrastinate's schema; ``db downgrade base`` removes every trace of it."""
    from sqlalchemy import text

    from geo.migrate import downgrade, upgrade
    from geo.testdb import throwaway_database

    count = ("SELECT (SELECT count(*) FROM pg_tables WHERE tablename LIKE 'procrastinate%') + "
             "(SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%') + "
             "(SELECT count(*) FROM pg_type WHERE typname LIKE 'procrastinate%')")
    with throwaway_database(prefix="wj_queue_mig") as eng:
        with eng.connect() as conn:
            assert conn.execute(text(count)).scalar_one() > 20
        downgrade(eng, "base")
        with eng.connect() as conn:
            assert conn.execute(text(count)).scalar_one() == 0
        upgrade(eng)
        with eng.connect() as conn:
            assert conn.execute(text(count)).scalar_one() > 20
