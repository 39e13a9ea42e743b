"""Housekeeping of the stalled-job recovery (its retry path is tested with a SIGKILLed worker in
tests/test_detect_job.py)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from geo import stalled
from geo.queue import QUEUE, conninfo, make_app


def test_recovery_is_registered_and_forgets_its_finished_runs(engine) -> None:
    app = make_app(conninfo(engine))
    assert stalled.TASK_NAME in app.tasks
    assert any(p.task.name == stalled.TASK_NAME for p in app.periodic_registry.periodic_tasks.values())
    ids = []
    with app.open():
        for i in range(3):  # one waiting at a time (queueing lock): finish each before the next
            ids.append(app.configure_task(stalled.TASK_NAME).defer(timestamp=i))
            if i < 2:
                with engine.begin() as conn:
                    conn.execute(text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :i"),
                                 {"i": ids[-1]})

    async def run() -> None:
        async with app.open_async():
            await stalled.forget_finished_runs(app)
            assert await stalled.retry_stalled_jobs(app, queue=QUEUE) == []

    asyncio.run(run())
    with engine.connect() as conn:
        left = conn.execute(text("SELECT id FROM procrastinate_jobs WHERE id = ANY(:ids)"), {"ids": ids}).scalars()
        assert sorted(left) == [ids[2]]  # the finished ones are gone, the waiting one stays
    with pytest.raises(ValueError, match="divide 60"):
        stalled.register(app, QUEUE, every_s=7)
