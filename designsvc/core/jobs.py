"""Jobs, their events, batches, and the interfaces of job stores and executors.

The store, not a queue's result backend, is the source of truth about a job. Every status
change is a compare-and-set :meth:`JobStore.transition`, so a redelivered task or a racing
cancel can never move a job backwards or finish it twice. Timestamps are RFC 3339 UTC strings
(``2026-11-28T17:01:08.123456Z``); ids are UUIDv7 strings (time-sortable).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from designsvc.core.types import Artifact, JsonDict

__all__ = [
    "DEFAULT_TENANT",
    "TRANSITIONS",
    "ArtifactInfo",
    "BatchRecord",
    "Executor",
    "JobEvent",
    "JobPage",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "now_rfc3339",
    "spec_sha256",
]


class JobStatus(StrEnum):
    """Lifecycle of a job: queued -> running -> succeeded | failed | canceled; a cancel of a
    running job passes through canceling while the solver stops and keeps its best design."""

    QUEUED = "queued"
    RUNNING = "running"
    CANCELING = "canceling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})

TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELED, JobStatus.FAILED}),
    # running -> running: a task redelivered after its worker was lost starts a new attempt;
    # running -> queued: an executor hands a job back (its process pool broke).
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.RUNNING,
            JobStatus.QUEUED,
            JobStatus.CANCELING,
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.CANCELED,
        }
    ),
    JobStatus.CANCELING: frozenset({JobStatus.CANCELED, JobStatus.SUCCEEDED, JobStatus.FAILED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELED: frozenset(),
}
"""Allowed status changes. A store raises ValueError for a transition not allowed here (a
programming error), and TransitionConflictError when the job is not in an expected status."""


def now_rfc3339() -> str:
    """The current time as an RFC 3339 UTC timestamp with microseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def spec_sha256(spec: JsonDict) -> str:
    """Fingerprint of a spec document (canonical JSON: sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


DEFAULT_TENANT = "default"
"""The tenant of jobs made without an API key (the open embedded mode) and of jobs stored
before tenants existed."""


@dataclass(frozen=True)
class JobRecord:
    """A stored job. ``spec`` is the normalized spec document; ``attempts`` counts starts
    (a redelivered task adds one); ``result`` is the result document once the job ends;
    ``error`` is ``{"type", "message", "pointer"?}`` for a failed job."""

    id: str
    status: JobStatus
    spec: JsonDict
    problem: str
    tags: tuple[str, ...]
    created_at: str
    updated_at: str
    spec_sha256: str
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    batch_id: str | None = None
    idempotency_key: str | None = None
    cancel_requested: bool = False
    result: JsonDict | None = None
    error: JsonDict | None = None
    tenant: str = DEFAULT_TENANT

    def to_json(self, *, with_result: bool = False) -> JsonDict:
        data: JsonDict = {
            "id": self.id,
            "tenant": self.tenant,
            "status": self.status.value,
            "problem": self.problem,
            "tags": list(self.tags),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempts": self.attempts,
            "batch_id": self.batch_id,
            "cancel_requested": self.cancel_requested,
            "spec": self.spec,
            "error": self.error,
        }
        if with_result:
            data["result"] = self.result
        return data

    def evolve(self, **changes: Any) -> JobRecord:
        return replace(self, **changes)


@dataclass(frozen=True)
class JobEvent:
    """One event of a job: ``id`` counts from 1 per job (the SSE event id), ``type`` is
    ``stage``, ``progress``, ``status`` or ``log``, ``data`` a JSON object."""

    id: int
    type: str
    data: JsonDict
    at: str


@dataclass(frozen=True)
class JobPage:
    """One page of a job listing, oldest first; ``next_cursor`` is None on the last page."""

    items: Sequence[JobRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class ArtifactInfo:
    name: str
    media_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class BatchRecord:
    """A batch: the request that made it, and its jobs in grid order (one per scenario x
    option combination x repetition, with ``cells[i]`` naming the scenario, options and
    repetition of ``job_ids[i]``)."""

    id: str
    created_at: str
    request: JsonDict
    job_ids: tuple[str, ...]
    cells: tuple[JsonDict, ...] = field(default_factory=tuple)
    tags: tuple[str, ...] = ()
    tenant: str = DEFAULT_TENANT


class JobStore(ABC):
    """Persistent jobs, events, artifacts and batches. Implementations share one test suite
    (tests/unit/store) and must be safe to use from several threads and processes at once."""

    url: str
    """The URL that opens this store again (in another process)."""

    @abstractmethod
    def create_job(
        self,
        *,
        spec: JsonDict,
        problem: str,
        tags: Sequence[str] = (),
        idempotency_key: str | None = None,
        batch_id: str | None = None,
        job_id: str | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> tuple[JobRecord, bool]:
        """Store a new queued job owned by ``tenant``; return it and True. With an
        ``idempotency_key`` already used for the same spec (same ``spec_sha256``), return that
        job and False; used for another spec, raise IdempotencyConflictError. Keys are global
        to the store: the service scopes them by tenant before they get here."""

    @abstractmethod
    def get_job(self, job_id: str) -> JobRecord:
        """Raise JobNotFoundError for an unknown id."""

    @abstractmethod
    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        tag: str | None = None,
        batch_id: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        tenant: str | None = None,
    ) -> JobPage:
        """Jobs matching every given filter, oldest first, ``limit`` per page; pass the
        page's ``next_cursor`` to get the next one. An invalid cursor raises ValueError."""

    @abstractmethod
    def count_unfinished(self, tenant: str) -> int:
        """How many of ``tenant``'s jobs are queued, running or canceling."""

    @abstractmethod
    def delete_job(self, job_id: str) -> JobRecord:
        """Delete a finished job with its events, artifacts (files too) and index entries;
        return the record as it was. TransitionConflictError when the job is not finished
        (cancel it first), JobNotFoundError when there is none."""

    @abstractmethod
    def purge_finished(self, finished_before: str, *, limit: int = 1000) -> int:
        """Delete up to ``limit`` finished jobs whose ``finished_at`` is before the RFC 3339
        time ``finished_before`` (the retention sweep); return how many went."""

    # -- small keyed documents (API keys, agent sessions, webhook endpoints) -----------

    @abstractmethod
    def put_record(self, collection: str, key: str, data: JsonDict, *, only_new: bool = False) -> bool:
        """Store ``data`` under ``collection``/``key`` (replacing it unless ``only_new``);
        return False when ``only_new`` and the key exists (nothing written)."""

    @abstractmethod
    def get_record(self, collection: str, key: str) -> JsonDict | None:
        """The document under ``collection``/``key``, or None."""

    @abstractmethod
    def delete_record(self, collection: str, key: str) -> bool:
        """Remove the document; False when there was none."""

    @abstractmethod
    def list_records(self, collection: str) -> list[tuple[str, JsonDict]]:
        """Every (key, document) of ``collection``, sorted by key."""

    @abstractmethod
    def transition(
        self,
        job_id: str,
        *,
        expected: Collection[JobStatus],
        to: JobStatus,
        result: JsonDict | None = None,
        error: JsonDict | None = None,
        new_attempt: bool = False,
    ) -> JobRecord:
        """Atomically move the job from one of ``expected`` to ``to`` (which TRANSITIONS must
        allow), storing ``result``/``error`` when given; ``new_attempt`` adds one to
        ``attempts`` and sets ``started_at``; a terminal ``to`` sets ``finished_at``. Raise
        TransitionConflictError when the job is in another status, JobNotFoundError when
        there is no such job. Appends, in the same atomic step, a ``status`` event with data
        ``{"status": to, "attempts": n}`` (the event stream ends after a terminal one)."""

    @abstractmethod
    def request_cancel(self, job_id: str) -> JobRecord:
        """Set ``cancel_requested``; a queued job becomes canceled at once, a running one
        canceling (its worker sees the flag and interrupts the solver). Terminal jobs are
        returned unchanged."""

    @abstractmethod
    def append_event(self, job_id: str, type: str, data: JsonDict) -> JobEvent:
        """Append an event; ids count from 1 per job."""

    @abstractmethod
    def read_events(self, job_id: str, *, after: int = 0, limit: int = 1000) -> list[JobEvent]:
        """Events with ``id > after``, oldest first, at most ``limit``."""

    @abstractmethod
    def put_artifact(self, job_id: str, artifact: Artifact) -> ArtifactInfo:
        """Store an artifact (replacing one of the same name)."""

    @abstractmethod
    def get_artifact(self, job_id: str, name: str) -> Artifact:
        """Raise ArtifactNotFoundError when there is none of that name."""

    @abstractmethod
    def list_artifacts(self, job_id: str) -> list[ArtifactInfo]: ...

    @abstractmethod
    def create_batch(
        self,
        *,
        request: JsonDict,
        job_ids: Sequence[str],
        cells: Sequence[JsonDict],
        tags: Sequence[str] = (),
        batch_id: str | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> BatchRecord: ...

    @abstractmethod
    def get_batch(self, batch_id: str) -> BatchRecord:
        """Raise JobNotFoundError("batch", id) for an unknown id."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreError when the store cannot be used (for /readyz)."""

    def close(self) -> None:  # noqa: B027 - optional hook; most stores need nothing
        """Release connections."""


class Executor(ABC):
    """Runs stored jobs: ``submit`` hands a job id to a worker, which runs
    ``designsvc.services.jobs.execute_job`` against the same store."""

    name: str

    @abstractmethod
    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        """Enqueue the job; it is already stored as queued."""

    def shutdown(self, *, wait: bool = True) -> None:  # noqa: B027 - optional hook
        """Stop taking jobs; with ``wait``, let running ones finish."""
