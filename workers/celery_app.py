"""The Celery application of designsvc workers.

Start a worker with ``designsvc worker --redis URL [--queues cpu,gpu] [--concurrency N]``
(or ``celery -A workers.celery_app worker -Q cpu``). Settings come from the environment:

``DESIGNSVC_REDIS_URL``
    The broker (and, unless ``DESIGNSVC_STORE_URL`` says otherwise, the job store).
``DESIGNSVC_VISIBILITY_TIMEOUT_S``
    Seconds before Redis hands an unacknowledged message to another worker (default
    :data:`DEFAULT_VISIBILITY_TIMEOUT_S`, 8 days). Lower it only for tests or for a
    deployment that caps ``limits.time_limit_s`` lower.
``DESIGNSVC_SOFT_SHUTDOWN_TIMEOUT_S``
    Seconds a cold shutdown lets running jobs go on before it requeues them (default
    :data:`SOFT_SHUTDOWN_TIMEOUT_S`, 30).

Why the settings are what they are (DESIGN.md sections 6 and 11):

* ``task_acks_late`` + ``worker_prefetch_multiplier=1``: a message is acknowledged when its
  job ends, and a busy worker reserves no further jobs, so a lost worker loses no job.
* ``task_reject_on_worker_lost``: a killed child process puts its message back on the queue
  at once (without it Celery acks the message and the job would stay ``running`` forever).
  The loop this could cause is bounded by the attempt counter in the job record:
  ``execute_job`` fails a job after ``DEFAULT_MAX_ATTEMPTS`` starts.
* Visibility timeout 8 days: with acks_late on Redis, a message not acknowledged within the
  visibility timeout is delivered *again*, to another worker, even when the first one is
  still working on it. The spec allows ``limits.time_limit_s`` up to 7 days (solving time;
  model building, proposer rounds and evaluation come on top), so the timeout is 7 days plus
  a day of margin. The price: a job whose whole worker died hard (SIGKILL, machine lost) waits
  that long before another worker takes it; a warm or cold shutdown puts messages back at once.
* Time limits are backstops only, in this order: the solver's own limit (<= 7 days) < soft
  limit (7 d 6 h) < hard limit (7 d 12 h) < visibility timeout (8 d). A soft limit cannot
  interrupt a long C call; a hard limit kills the child, and ``workers.tasks`` then records
  the job as failed.
* Shutdown: a warm shutdown (SIGTERM) waits for running jobs, however long; if the process
  is then killed, their messages wait for the visibility timeout. So the containers stop
  workers with SIGQUIT (cold shutdown; ``stop_signal`` in docker-compose.yml): running jobs
  get :data:`SOFT_SHUTDOWN_TIMEOUT_S` to end, then their messages go back on the queue at once.
* Redis restarts: the store and the broker are one Redis, so a job whose last store write
  fails while Redis is down is retried (``workers.tasks``) by publishing to that same Redis.
  Celery's default publish retry gives up after about a second, the task is then rejected
  without requeue, and the job stayed ``running`` until the visibility timeout (measured, see
  tests/integration/test_faults.py). So a worker's publishes wait up to
  :data:`PUBLISH_RETRY_BUDGET_S` for Redis to come back (``task_publish_retry_policy`` and
  the transport's ``connect_retries_timeout``; the pool child is idle meanwhile: nothing can
  be fetched either); the retry then starts a new attempt.
* JSON only, no result backend (the job store is the source of truth), ``task_ignore_result``.
"""

from __future__ import annotations

import logging
import os

from celery import Celery

from designsvc.executors.celery import make_queues

__all__ = [
    "DEFAULT_VISIBILITY_TIMEOUT_S",
    "HARD_TIME_LIMIT_S",
    "SOFT_TIME_LIMIT_S",
    "app",
    "create_app",
    "transport_options",
]

log = logging.getLogger(__name__)

DAY_S = 24 * 3600
MAX_JOB_TIME_LIMIT_S = 7 * DAY_S
"""The largest ``limits.time_limit_s`` the spec accepts (designsvc.core.spec.LimitsSpec)."""
SOFT_TIME_LIMIT_S = MAX_JOB_TIME_LIMIT_S + 6 * 3600
HARD_TIME_LIMIT_S = MAX_JOB_TIME_LIMIT_S + 12 * 3600
DEFAULT_VISIBILITY_TIMEOUT_S = MAX_JOB_TIME_LIMIT_S + DAY_S
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SOFT_SHUTDOWN_TIMEOUT_S = 30.0
"""Seconds a cold shutdown waits for running jobs before it requeues them."""
MAX_TASKS_PER_CHILD = 100
"""A child process is replaced after this many jobs (solver backends leak a little)."""
PUBLISH_RETRY_BUDGET_S = 300
"""About how long a worker's publish (a task retry) waits for an unreachable Redis."""


def transport_options(visibility_timeout_s: int) -> dict[str, int]:
    """Redis transport options for a visibility timeout. The sweep that puts overdue
    unacknowledged messages back runs every ``interval * throttle`` seconds (100 s by
    default); with a short timeout (tests) it runs every few seconds instead."""
    options = {"visibility_timeout": visibility_timeout_s}
    if visibility_timeout_s < 3600:
        options["unacked_restore_interval"] = max(1, min(10, visibility_timeout_s // 5))
        options["unacked_restore_throttle"] = 1
    return options


def _visibility_timeout_s() -> int:
    raw = os.environ.get("DESIGNSVC_VISIBILITY_TIMEOUT_S")
    if not raw:
        return DEFAULT_VISIBILITY_TIMEOUT_S
    value = int(raw)
    if value <= 0:
        raise ValueError(f"DESIGNSVC_VISIBILITY_TIMEOUT_S must be > 0, got {raw!r}")
    if value <= HARD_TIME_LIMIT_S:
        log.warning(
            "DESIGNSVC_VISIBILITY_TIMEOUT_S=%d is below the hard time limit (%d s): a job running longer "
            "than it is delivered again to another worker",
            value,
            HARD_TIME_LIMIT_S,
        )
    return value


def _soft_shutdown_timeout_s() -> float:
    raw = os.environ.get("DESIGNSVC_SOFT_SHUTDOWN_TIMEOUT_S")
    value = float(raw) if raw else SOFT_SHUTDOWN_TIMEOUT_S
    if not value >= 0:
        raise ValueError(f"DESIGNSVC_SOFT_SHUTDOWN_TIMEOUT_S must be >= 0, got {raw!r}")
    return value


def create_app(redis_url: str | None = None, *, visibility_timeout_s: int | None = None) -> Celery:
    """A worker app on ``redis_url`` (default ``$DESIGNSVC_REDIS_URL``)."""
    broker = redis_url or os.environ.get("DESIGNSVC_REDIS_URL") or DEFAULT_REDIS_URL
    timeout_s = visibility_timeout_s if visibility_timeout_s is not None else _visibility_timeout_s()
    options = transport_options(timeout_s)
    celery_app = Celery("designsvc", broker=broker, include=["workers.tasks"])
    celery_app.conf.update(
        # Serialization: JSON only, everywhere.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # No result backend: the job store is the source of truth.
        result_backend=None,
        task_ignore_result=True,
        # Queues: cpu (default) and gpu.
        task_queues=make_queues(),
        task_default_queue="cpu",
        task_create_missing_queues=False,
        # Long jobs: acknowledge at the end, reserve one job per process, requeue on a lost child.
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        # Above the longest job (see the module docstring). connect_retries_timeout: how long a
        # publish (a task retry) retries connecting (kombu caps it at the 4 s connect timeout).
        broker_transport_options={**options, "connect_retries_timeout": PUBLISH_RETRY_BUDGET_S},
        result_backend_transport_options=dict(options),
        # Backstops only: the solver's own time limit comes first.
        task_soft_time_limit=SOFT_TIME_LIMIT_S,
        task_time_limit=HARD_TIME_LIMIT_S,
        worker_max_tasks_per_child=MAX_TASKS_PER_CHILD,
        # A cold shutdown (SIGQUIT, docker-compose.yml's stop_signal) first lets running jobs
        # end for this long, then stops them and puts their messages back on the queue at once
        # (measured: "Restoring 1 unacknowledged message(s)"); the next worker starts a new
        # attempt.
        worker_soft_shutdown_timeout=_soft_shutdown_timeout_s(),
        # On a broker connection loss, let running jobs finish and record their results in the
        # store; cancelling them would leave them ``running`` until the visibility timeout.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_retry_on_startup=True,
        # A task retry published while Redis restarts waits for it (module docstring).
        task_publish_retry_policy={
            "max_retries": PUBLISH_RETRY_BUDGET_S // 2,
            "interval_start": 0.5,
            "interval_step": 0.5,
            "interval_max": 2,
        },
        worker_disable_rate_limits=True,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return celery_app


app = create_app()
"""The app ``celery -A workers.celery_app`` and ``designsvc worker`` run."""
