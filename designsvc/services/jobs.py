"""Job use-cases shared by the API, the CLI and every executor: submit, execute, cancel,
recover.

``execute_job`` is the one function a worker runs, in the embedded process pool or in a
Celery worker alike: it takes a job id, reads the spec from the store, and records
everything (status, events, artifacts, result) back in the store. It starts with a
compare-and-set transition, so a redelivered task is harmless, and it counts attempts, so a
job whose worker keeps dying fails after ``max_attempts`` instead of looping.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from designsvc.agent.turn import ResolvedAgentTurn
from designsvc.core.cancel import CancelToken
from designsvc.core.errors import (
    ArtifactQuotaExceededError,
    JobNotFoundError,
    SpecError,
    StoreError,
    TransitionConflictError,
)
from designsvc.core.jobs import DEFAULT_TENANT, Executor, JobRecord, JobStatus, JobStore
from designsvc.core.types import JsonDict
from designsvc.services.pipeline import run_any
from designsvc.services.policy import OPEN_POLICY, SubmitPolicy
from designsvc.services.validation import AnyJob, ResolvedTraining, resolve_any
from designsvc.services.webhooks import enqueue_job_webhooks

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "cancel_job",
    "execute_job",
    "hand_over",
    "prepare_worker_process",
    "queue_for",
    "recover_jobs",
    "scoped_idempotency_key",
    "submit_job",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 3
"""Starts of a job (first run plus redeliveries after a lost worker) before it fails."""
PROGRESS_EVENT_INTERVAL_S = 0.5
"""Progress events are stored at most this often (the latest one is kept)."""


def prepare_worker_process() -> None:
    """Set up a process that runs jobs (a local pool worker, a Celery pool child).

    It runs at a lower CPU priority (``$DESIGNSVC_WORKER_NICE``, default 10; 0 keeps it): on
    a machine that also serves the API, solvers then take the CPU the API does not need, and
    requests are answered promptly however many solves run (on an idle machine it costs
    nothing). Solver and BLAS threads default to one per process unless a spec asks for more.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    niceness = int(os.environ.get("DESIGNSVC_WORKER_NICE", "10"))
    if niceness > 0:
        with contextlib.suppress(OSError):  # not permitted here: run at normal priority
            os.nice(niceness)


def queue_for(job: AnyJob) -> str:
    """The executor queue of a job: a training job's trainer's queue (``gpu``); a solve
    job's proposer's queue (``gpu`` for neural proposers); an agent turn's (``gpu``); else ``cpu``."""
    if isinstance(job, ResolvedAgentTurn):
        return job.queue
    if isinstance(job, ResolvedTraining):
        return job.trainer_cls.queue
    if job.proposer_cls is not None:
        return job.proposer_cls.queue
    return "cpu"


def submit_job(
    store: JobStore,
    executor: Executor,
    spec: Any,
    *,
    idempotency_key: str | None = None,
    batch_id: str | None = None,
    policy: SubmitPolicy = OPEN_POLICY,
) -> tuple[JobRecord, bool]:
    """Validate ``spec`` (a solve or a training spec), store it as a queued job of
    ``policy.tenant`` and hand it to ``executor``.

    Returns the job and whether it was created (False: the idempotency key named an existing
    job with the same spec, which is not submitted again). Raises SpecError (also for limits
    the policy sets) and QuotaExceededError before storing anything, and
    IdempotencyConflictError for a key reused with another spec. Idempotency keys are per
    tenant.
    """
    job = resolve_any(spec)
    policy.check_job(job)
    policy.check_capacity(store)
    record, created = store.create_job(
        spec=job.spec.model_dump(mode="json", exclude_none=True),
        problem=job.problem_id,
        tags=job.spec.tags,
        idempotency_key=scoped_idempotency_key(policy.tenant, idempotency_key),
        batch_id=batch_id,
        tenant=policy.tenant,
    )
    if created:
        hand_over(store, executor, record.id, queue_for(job))
    return record, created


def scoped_idempotency_key(tenant: str, key: str | None) -> str | None:
    """The store's idempotency key for a tenant's key: the key itself for the default
    tenant (as before tenants), else a SHA-256 of tenant and key (so two tenants' keys never
    meet, and the result stays within the store's 256 characters)."""
    if key is None or tenant == DEFAULT_TENANT:
        return key
    return "t:" + hashlib.sha256(f"{tenant}\x00{key}".encode()).hexdigest()


def hand_over(store: JobStore, executor: Executor, job_id: str, queue: str) -> None:
    """``executor.submit``; when it fails (broker down, pool shut down) the stored job is
    marked failed, so no queued job waits for a message that was never sent, and the caller
    gets StoreError (the API answers 503)."""
    try:
        executor.submit(job_id, queue=queue)
    except Exception as exc:
        message = f"the job could not be handed to the {executor.name} executor: {exc}"
        with contextlib.suppress(Exception):  # the store may be what is down
            store.transition(
                job_id,
                expected={JobStatus.QUEUED},
                to=JobStatus.FAILED,
                error={"type": "SubmitError", "message": message},
            )
        raise StoreError(message) from exc


def cancel_job(store: JobStore, job_id: str) -> JobRecord:
    """Ask a job to stop: a queued job is canceled at once; a running one keeps its best
    design so far once its solver stops (its worker polls the flag)."""
    return _notify(store, store.request_cancel(job_id))


def execute_job(
    store: JobStore,
    job_id: str,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    cancel_poll_s: float = 0.2,
) -> JobRecord:
    """Run a stored job to its end and record the outcome; return the final record.

    A job already finished, or taken by another worker, is returned as it is. A job found
    running is a redelivery after a lost worker: it starts a new attempt, or fails once
    ``max_attempts`` starts have been used.
    """
    try:
        record = _start(store, job_id, max_attempts)
    except TransitionConflictError:
        return store.get_job(job_id)
    if record.status is not JobStatus.RUNNING:
        return _notify(store, record)

    token = CancelToken()
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch_cancel, args=(store, job_id, token, stop, cancel_poll_s), name=f"cancel-{job_id}", daemon=True
    )
    watcher.start()
    try:
        return _notify(store, _run(store, record, token))
    finally:
        stop.set()
        watcher.join()


def _notify(store: JobStore, record: JobRecord) -> JobRecord:
    """Queue the webhooks of a finished job (idempotent); a webhook error never fails it."""
    if record.status.terminal:
        try:
            enqueue_job_webhooks(store, record)
        except Exception:
            log.exception("job %s: cannot queue its webhooks", record.id)
    return record


def _start(store: JobStore, job_id: str, max_attempts: int) -> JobRecord:
    record = store.get_job(job_id)
    if record.status.terminal:
        return record
    if record.status is JobStatus.QUEUED:
        return store.transition(job_id, expected={JobStatus.QUEUED}, to=JobStatus.RUNNING, new_attempt=True)
    # Found running or canceling: its previous worker was lost mid-job.
    if record.attempts >= max_attempts or record.status is JobStatus.CANCELING:
        to = JobStatus.CANCELED if record.status is JobStatus.CANCELING else JobStatus.FAILED
        message = (
            "canceled while its worker was lost"
            if to is JobStatus.CANCELED
            else f"its worker was lost {record.attempts} times (max_attempts={max_attempts})"
        )
        return store.transition(
            job_id,
            expected={record.status},
            to=to,
            error={"type": "WorkerLost", "message": message},
        )
    log.warning("job %s: redelivered after a lost worker; attempt %d", job_id, record.attempts + 1)
    return store.transition(job_id, expected={JobStatus.RUNNING}, to=JobStatus.RUNNING, new_attempt=True)


def _watch_cancel(store: JobStore, job_id: str, token: CancelToken, stop: threading.Event, poll_s: float) -> None:
    while not stop.wait(poll_s):
        try:
            if store.get_job(job_id).cancel_requested:
                token.cancel()
                return
        except Exception:  # a store hiccup must not kill the watcher
            log.exception("job %s: cannot read the cancel flag", job_id)


def _event_recorder(store: JobStore, job_id: str) -> Callable[[JsonDict], None]:
    last_progress = 0.0

    def record(event: JsonDict) -> None:
        nonlocal last_progress
        kind = str(event.get("type", "log"))
        if kind == "progress":
            now = time.monotonic()
            if now - last_progress < PROGRESS_EVENT_INTERVAL_S:
                return
            last_progress = now
        data = {k: v for k, v in event.items() if k != "type"}
        try:
            store.append_event(job_id, kind, data)
        except Exception:  # events are informative: losing one must not fail the job
            log.exception("job %s: cannot store an event", job_id)

    return record


def _run(store: JobStore, record: JobRecord, token: CancelToken) -> JobRecord:
    job_id = record.id
    ended = {JobStatus.RUNNING, JobStatus.CANCELING}
    try:
        job = resolve_any(record.spec)
        output = run_any(job, job_id=job_id, on_event=_event_recorder(store, job_id), cancel_token=token)
    except SpecError as exc:
        error: JsonDict = {
            "type": "SpecError",
            "message": str(exc),
            "errors": [{"pointer": e.pointer, "message": e.message} for e in exc.errors],
        }
        return store.transition(job_id, expected=ended, to=JobStatus.FAILED, error=error)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        return store.transition(
            job_id, expected=ended, to=JobStatus.FAILED, error={"type": type(exc).__name__, "message": str(exc)}
        )
    try:
        for artifact in output.artifacts:
            store.put_artifact(job_id, artifact)
    except ArtifactQuotaExceededError as exc:
        # The store works but this artifact does not fit: retrying cannot help (a StoreError
        # would be taken for an unreachable store and the job redelivered), so the job fails
        # with the quota's message and keeps its result document.
        log.warning("job %s: %s", job_id, exc)
        error = {"type": "ArtifactQuotaExceededError", "message": str(exc)}
        return store.transition(job_id, expected=ended, to=JobStatus.FAILED, result=output.result, error=error)
    result = output.result
    return store.transition(
        job_id, expected=ended, to=JobStatus(result["status"]), result=result, error=result.get("error")
    )


def recover_jobs(store: JobStore, executor: Executor) -> list[str]:
    """Hand every unfinished job to ``executor`` again (after the embedded server restarted:
    its process pool died with the jobs it held). Running jobs count an attempt when they
    start again, and ``execute_job`` fails them past the attempt limit; return the ids
    resubmitted."""
    resubmitted: list[str] = []
    for status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELING):
        cursor: str | None = None
        while True:
            page = store.list_jobs(status=status, cursor=cursor, limit=500)
            for record in page.items:
                try:
                    queue = queue_for(resolve_any(record.spec))
                except (SpecError, JobNotFoundError):
                    queue = "cpu"
                executor.submit(record.id, queue=queue)
                resubmitted.append(record.id)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return resubmitted
