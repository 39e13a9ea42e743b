"""Recovering the jobs of workers that died mid-job (SIGKILL, power loss, OOM killer).

procrastinate marks a job ``doing`` when a worker takes it; a worker that dies never finishes
it. Every worker sends a heartbeat (every 10 s); a ``doing`` job whose worker has been silent
for :data:`STALLED_AFTER_S` is *stalled*. :func:`register` adds a periodic task to an app that
puts stalled jobs back in the queue (``todo``, attempts counted), so another worker runs them.
The detection job is idempotent (:mod:`geo.detect_job`), so running it again is safe.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

#: A worker silent for this long (seconds) is dead; three missed heartbeats.
STALLED_AFTER_S = 30.0
#: How often the recovery runs (seconds; a divisor of 60).
EVERY_S = 10
TASK_NAME = "retry_stalled_jobs"


async def retry_stalled_jobs(app: Any, stalled_after_s: float = STALLED_AFTER_S,
                             queue: str | None = None) -> list[int]:
    """Put the stalled jobs of ``queue`` (all queues when None) back to ``todo``; return their ids."""
    jobs = await app.job_manager.get_stalled_jobs(queue=queue, seconds_since_heartbeat=stalled_after_s)
    retried = []
    for job in jobs:
        if job.task_name == TASK_NAME or job.id is None:
            continue
        await app.job_manager.retry_job_by_id_async(job.id, retry_at=datetime.now(UTC))
        log.warning("job %s (%s %s) was stalled (its worker died): queued again", job.id, job.task_name,
                    job.task_kwargs)
        retried.append(int(job.id))
    return retried


async def forget_finished_runs(app: Any) -> None:
    """Delete the finished rows of the recovery task itself (one every few seconds, forever).

    The row the periodic deferrer still points at is kept.
    """
    try:
        await app.connector.execute_query_async(
            "DELETE FROM procrastinate_jobs j WHERE j.task_name = %(t)s"
            " AND j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')"
            " AND NOT EXISTS (SELECT 1 FROM procrastinate_periodic_defers p WHERE p.job_id = j.id)",
            t=TASK_NAME,
        )
    except Exception:  # housekeeping must never fail the recovery
        log.exception("could not delete finished %s jobs", TASK_NAME)


def register(app: Any, queue: str, every_s: int = EVERY_S, stalled_after_s: float = STALLED_AFTER_S) -> None:
    """Register the periodic stalled-job recovery on a procrastinate app, in ``queue``.

    Args:
        app: the procrastinate ``App`` the workers run.
        queue: the queue the workers listen to (the recovery task runs there too).
        every_s: period in seconds (a divisor of 60).
        stalled_after_s: heartbeat silence after which a worker is considered dead.
    """
    if every_s < 1 or 60 % every_s:
        raise ValueError(f"every_s must divide 60, got {every_s}")

    async def recover(timestamp: int) -> None:
        await retry_stalled_jobs(app, stalled_after_s=stalled_after_s)
        await forget_finished_runs(app)

    task = app.task(name=TASK_NAME, queue=queue, queueing_lock=TASK_NAME)(recover)
    app.periodic(cron=f"* * * * * */{every_s}", periodic_id=TASK_NAME)(task)
