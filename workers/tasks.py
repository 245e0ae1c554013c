"""The one task of designsvc workers: ``designsvc.run_job(job_id)``.

It is thin on purpose: it opens the job store (once per worker process) and calls
``designsvc.services.jobs.execute_job``, exactly what the embedded process pool runs. A
redelivered message is harmless: ``execute_job`` starts with a compare-and-set transition,
counts the attempt, and fails the job after ``DEFAULT_MAX_ATTEMPTS`` starts.

Two things Celery does outside the task are mapped onto the job record here:

* the store cannot be reached: the task is retried with backoff (the job stays queued);
* the hard time limit killed the child, or the child was lost and the message not requeued:
  Celery reports a task failure in the worker's main process, and the job is recorded as
  failed (it would otherwise stay ``running``);
* a cold shutdown terminates the pool child with SIGTERM (billiard's ``TERM_SIGNAL``;
  SIGQUIT under ``REMAP_SIGTERM=SIGQUIT``). billiard's handler turns it into ``SystemExit``
  raised wherever the child's main thread is, and inside a solver callback (HiGHS's
  user-interrupt check) that exception was swallowed: the solve ended with "Solve error" and
  the job was recorded *failed* (measured). So while a job runs, that signal has its default
  action: the child dies at once, Celery sees a lost worker, and with
  ``task_reject_on_worker_lost`` the message goes back on the queue for a new attempt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from billiard.common import TERM_SIGNAL  # type: ignore[import-untyped]
from celery import Task
from celery.signals import task_failure, worker_process_init

from designsvc.core.errors import StoreError
from designsvc.core.jobs import JobStatus, JobStore
from designsvc.executors.celery import TASK_NAME
from designsvc.runtime import ServiceSettings, build_store
from designsvc.services.jobs import DEFAULT_MAX_ATTEMPTS, execute_job, prepare_worker_process
from workers.celery_app import app

__all__ = ["run_job", "worker_store"]

log = logging.getLogger(__name__)

STORE_RETRY_MAX = 10
"""Retries of a job whose store cannot be reached (backoff 2, 4, ... up to 300 s)."""

_stores: dict[int, JobStore] = {}
_stores_lock = threading.Lock()


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _prepare_pool_child(**_: Any) -> None:
    """Each pool child runs jobs at the same lower priority as the embedded pool's workers."""
    prepare_worker_process()


def worker_store() -> JobStore:
    """This process's job store, opened on first use: ``$DESIGNSVC_STORE_URL``, else the
    Redis store on ``$DESIGNSVC_REDIS_URL``. Keyed by process id, so a forked pool child
    never reuses its parent's connections."""
    pid = os.getpid()
    with _stores_lock:
        store = _stores.get(pid)
        if store is None:
            settings = ServiceSettings.from_env()
            if settings.redis_url is None and settings.store_url is None:
                settings = settings.with_changes(redis_url=str(app.conf.broker_url))
            store = build_store(settings)
            _stores[pid] = store
        return store


@contextlib.contextmanager
def _die_on_terminate() -> Iterator[None]:
    """The pool's terminate signal kills this process outright during the block (see the
    module docstring); the previous handler comes back afterwards. Only the main thread can
    change handlers (a solo or threads pool keeps them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(TERM_SIGNAL, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(TERM_SIGNAL, previous)


@app.task(  # type: ignore[untyped-decorator]  # celery has no type hints
    name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run_job(self: Task, job_id: str) -> str:
    """Run the stored job ``job_id`` to its end; return its final status."""
    try:
        store = worker_store()
        with _die_on_terminate():
            return execute_job(store, job_id, max_attempts=DEFAULT_MAX_ATTEMPTS).status.value
    except StoreError as exc:
        retries = int(self.request.retries or 0)
        if retries >= STORE_RETRY_MAX:
            raise
        countdown = min(300, 2 ** (retries + 1))
        log.warning("job %s: store unavailable (%s); retrying in %d s", job_id, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=STORE_RETRY_MAX) from exc


@task_failure.connect  # type: ignore[untyped-decorator]
def _record_task_failure(
    sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, args: Any = None, **_: Any
) -> None:
    """A failure Celery saw outside ``execute_job`` (hard time limit, a lost child whose
    message was not requeued, an error before the job started): fail the job unless it ended."""
    if getattr(sender, "name", None) != TASK_NAME or not args:
        return
    job_id = str(args[0])
    try:
        store = worker_store()
        record = store.get_job(job_id)
        if record.status.terminal:
            return
        store.transition(
            job_id,
            expected={JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELING},
            to=JobStatus.FAILED,
            error={"type": type(exception).__name__, "message": f"worker: {exception}"},
        )
        log.error("job %s: failed in the worker: %r", job_id, exception)
    except Exception:
        log.exception("job %s: cannot record the worker failure %r", job_id, exception)
