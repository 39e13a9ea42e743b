"""Fan-out of windows over Dask distributed.

Nothing is read from the environment at import time: callers pass the scheduler address (the
app reads ``DASK_SCHEDULER_ADDRESS`` from its settings and hands it in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any


def scheduler_address(environ: Mapping[str, str]) -> str | None:
    """The ``DASK_SCHEDULER_ADDRESS`` of a given environment mapping (None when unset or empty)."""
    value = environ.get("DASK_SCHEDULER_ADDRESS", "").strip()
    return value or None


def get_client(
    address: str | None = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    memory_limit: str = "2GiB",
    processes: bool = True,
) -> Any:
    """A Dask client: connected to ``address`` when given, else to a new ``LocalCluster``.

    Args:
        address: scheduler address of an existing cluster (e.g. ``tcp://10.0.0.5:8786``).
        n_workers: workers of the local cluster.
        threads_per_worker: threads per local worker (1: the method is single-threaded numpy/OpenCV).
        memory_limit: per-worker memory limit of the local cluster.
        processes: local workers as processes (True) or threads.

    Returns:
        A ``distributed.Client``; close it (and its cluster) with :func:`close_client`.
    """
    from distributed import Client, LocalCluster

    if address:
        return Client(address)
    import dask

    # Dask sets MALLOC_TRIM_THRESHOLD_=64 KB in its workers, which also fixes glibc's mmap
    # threshold at 128 KB: every temporary array of the method is then mapped, page-faulted in
    # and unmapped afresh (about a third more CPU). Big blocks come from the heap instead, and up
    # to 64 MB of it stays mapped between windows.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    environ["MALLOC_MMAP_THRESHOLD_"] = str(256 * 2**20)
    environ["MALLOC_TRIM_THRESHOLD_"] = str(64 * 2**20)
    lean = {
        "distributed.nanny.pre-spawn-environ": environ,
        # each worker's statistical profiler samples the running window's stack every 10 ms
        # (about 5 % of a worker's CPU here); the windows are alike, so there is nothing to steal
        "distributed.worker.profile.enabled": False,
        "distributed.scheduler.work-stealing": False,
        # the event loops' tick (a check for blocked loops) and the system monitor (dashboard
        # figures) woke every 20 and 500 ms: 5 % of a core in the client and 2.5 % in each worker
        # while idle, 1.4 % and 0.6 % at these intervals (the nanny's memory limit is not affected)
        "distributed.admin.tick.interval": "1s",
        "distributed.admin.system-monitor.interval": "2s",
    }
    with dask.config.set(lean):
        cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=threads_per_worker, processes=processes,
            memory_limit=memory_limit, dashboard_address=":0",
        )
    client = Client(cluster)
    if processes:
        client.register_plugin(_detection_worker(), name="detection-worker")
    return client


def _detection_worker() -> Any:
    """A Dask worker plugin, run in each worker process as it starts (also after restarts): one
    OpenCV thread (the parallelism comes from the workers), then the detection path warmed up on
    a made-up pair (:func:`detection.pipeline.warm_up`), so the first window is no slower."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class DetectionWorker(WorkerPlugin):  # type: ignore[misc]
        def setup(self, worker: Any) -> None:
            import logging

            import cv2

            cv2.setNumThreads(1)
            from detection.errors import ModelError
            from detection.pipeline import warm_up

            try:
                warm_up()
            except ModelError as exc:  # each window's task reports it again, with its scene
                logging.getLogger(__name__).warning("detection worker not warmed up: %s", exc)

    return DetectionWorker()


def close_client(client: Any) -> None:
    """Close a client and, when it owns one, its local cluster."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def total_threads(client: Any) -> int:
    """Worker threads of the client's cluster (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def map_unordered(client: Any, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> Iterator[Any]:
    """Submit ``fn(*a)`` for each ``a`` and yield results as they finish (not in order).

    Results are released as soon as they are yielded so memory on the client stays flat.
    """
    from distributed import as_completed

    futures = [client.submit(fn, *a, pure=False) for a in args]
    try:
        for fut in as_completed(futures):
            res = fut.result()
            fut.release()
            yield res
    finally:
        for f in futures:
            f.cancel()
