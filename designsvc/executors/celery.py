"""The distributed executor: a Celery client that hands job ids to workers over Redis.

The API process only *sends* messages: task ``designsvc.run_job`` with the job id as its one
argument, on queue ``cpu`` or ``gpu``. The worker side (``workers.celery_app``) defines the
same queues and runs ``designsvc.services.jobs.execute_job``. There is no result backend:
the job store is the source of truth, so nothing is ever read back from Celery.

This module imports Celery but no solver backend and no torch.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from designsvc.core.errors import StoreError
from designsvc.core.jobs import Executor

__all__ = ["QUEUES", "TASK_NAME", "CeleryExecutor", "make_queues"]

log = logging.getLogger(__name__)

TASK_NAME = "designsvc.run_job"
"""The task every message names; its one argument is the job id."""
QUEUES = ("cpu", "gpu")
"""Queue names: ``gpu`` for training and surrogate inference, ``cpu`` for everything else."""


def make_queues() -> tuple[Any, ...]:
    """The kombu ``Queue`` objects of :data:`QUEUES` (direct exchange, routing key = name),
    shared by the client and the workers so both declare them identically."""
    from kombu.entity import Exchange, Queue

    return tuple(
        Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]
        for name in QUEUES
    )


class CeleryExecutor(Executor):
    """Sends ``designsvc.run_job(job_id)`` to Redis at ``redis_url`` (the broker the workers
    consume). JSON serializer only; results are ignored (the store has them). A broker that
    cannot be reached raises StoreError (the API answers 503) after about two seconds."""

    name = "celery"

    def __init__(self, redis_url: str) -> None:
        from celery import Celery

        self.redis_url = redis_url
        self._lock = threading.Lock()
        self._closed = False
        self.app = Celery("designsvc-client", broker=redis_url, set_as_current=False)
        self.app.conf.update(
            task_serializer="json",
            accept_content=["json"],
            result_serializer="json",
            task_ignore_result=True,
            result_backend=None,
            task_queues=make_queues(),
            task_default_queue="cpu",
            task_create_missing_queues=False,
            broker_connection_retry_on_startup=True,
            # A publish that cannot reach Redis fails after a few seconds (the API answers
            # 503) instead of hanging a request thread.
            task_publish_retry=True,
            task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
            broker_transport_options={"socket_connect_timeout": 5, "socket_timeout": 10},
        )

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        if queue not in QUEUES:
            raise ValueError(f"unknown queue {queue!r}; known: {', '.join(QUEUES)}")
        with self._lock:
            if self._closed:
                raise RuntimeError("the celery executor is shut down")
        from kombu.exceptions import OperationalError

        try:
            self.app.send_task(TASK_NAME, args=[job_id], queue=queue, ignore_result=True)
        except (OperationalError, OSError) as exc:  # Redis unreachable after the publish retries
            raise StoreError(f"cannot send job {job_id} to the {queue} queue: {exc}") from exc
        log.debug("job %s: sent to queue %s", job_id, queue)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop sending; the jobs already sent stay in Redis for the workers."""
        del wait  # nothing runs here
        with self._lock:
            self._closed = True
        self.app.close()
