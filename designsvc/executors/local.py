"""The embedded executor: a pool of worker processes inside the server or CLI process.

Workers are started with ``spawn`` (a fork of a threaded server process is unsafe), open
the store from its URL once per process, and run ``execute_job`` for each job id, so a job
runs exactly as it would on a Celery worker. A worker process that dies (killed, out of
memory) breaks the pool: the executor builds a new pool and hands every unfinished job
to it again; ``execute_job`` counts the attempt and fails the job after its limit.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from designsvc.core.jobs import Executor, JobStatus, JobStore

__all__ = ["LocalExecutor"]

log = logging.getLogger(__name__)

_worker_store: JobStore | None = None


def _init_worker(store_url: str) -> None:
    global _worker_store
    from designsvc.services.jobs import prepare_worker_process
    from designsvc.store import open_store

    prepare_worker_process()

    _worker_store = open_store(store_url)


def _execute(job_id: str) -> str:
    from designsvc.services.jobs import execute_job

    assert _worker_store is not None, "worker not initialized"
    return execute_job(_worker_store, job_id).status.value


class LocalExecutor(Executor):
    """``max_workers`` processes (default: the number of CPUs), each running one job at a
    time. ``store`` is the parent's store (used to requeue jobs of a broken pool); workers
    open their own from ``store.url``."""

    name = "local"

    def __init__(self, store: JobStore, *, max_workers: int | None = None) -> None:
        self.store = store
        self.max_workers = max_workers or os.cpu_count() or 1
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._pending: dict[str, Future[str]] = {}
        self._closed = False

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.max_workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.store.url,),
        )

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        del queue  # one pool serves both queues; a CUDA device, if any, is shared
        with self._lock:
            if self._closed:
                raise RuntimeError("the local executor is shut down")
            pool = self._pool
            future = pool.submit(_execute, job_id)
            self._pending[job_id] = future
        future.add_done_callback(functools.partial(self._done, job_id, pool=pool))

    def _done(self, job_id: str, future: Future[str], *, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pending.get(job_id) is future:
                del self._pending[job_id]
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            return
        if isinstance(exc, BrokenProcessPool):
            self._recover_from_broken_pool(job_id, pool)
            return
        log.error("job %s: executor error: %r", job_id, exc)
        self._fail(job_id, f"executor error: {exc!r}")

    def _recover_from_broken_pool(self, job_id: str, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._closed:
                return
            if self._pool is broken:  # the first job to notice replaces the pool
                log.warning("a worker process died; starting a new pool")
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
        try:
            status = self.store.get_job(job_id).status
        except Exception:
            log.exception("job %s: cannot read it after the pool broke", job_id)
            return
        if not status.terminal:
            self.submit(job_id)

    def _fail(self, job_id: str, message: str) -> None:
        try:
            self.store.transition(
                job_id,
                expected={JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELING},
                to=JobStatus.FAILED,
                error={"type": "ExecutorError", "message": message},
            )
        except Exception:
            log.exception("job %s: cannot record the executor error", job_id)

    @property
    def pending(self) -> int:
        """Jobs handed to the pool and not finished yet."""
        with self._lock:
            return len(self._pending)

    def worker_pids(self) -> list[int]:
        """Process ids of the pool's live worker processes."""
        with self._lock:
            processes = list(getattr(self._pool, "_processes", None) or {})
        return [int(pid) for pid in processes]

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the pool. With ``wait``, running jobs finish first. Without it, the worker
        processes are terminated: a pool left to wind down alone keeps a worker that is in
        the middle of a solve alive after this process exits (seen: orphaned workers after
        ``designsvc serve`` got SIGTERM); their jobs stay running in the store and start a
        new attempt when the service starts again (``recover_jobs``)."""
        with self._lock:
            self._closed = True
            pool = self._pool
        # ProcessPoolExecutor has no public way to stop its workers before Python 3.14
        # (terminate_workers); its process table is the documented-by-source way in.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=wait, cancel_futures=not wait)
        if not wait:
            for process in processes:
                if process.is_alive():
                    process.terminate()
            for process in processes:
                process.join(timeout=10)
