"""Response documents of the REST API (pydantic models, named ``XPublic``).

They describe what the routes answer, for clients and for ``/openapi.json``. Timestamps are
RFC 3339 UTC strings; durations are seconds with an ``_s`` suffix; ids are UUIDv7 strings.
Request bodies are the designsvc documents themselves (the job spec of
:mod:`designsvc.core.spec`, the batch request of :mod:`designsvc.services.batches`); the
OpenAPI hook publishes them as ``JobCreate`` and ``BatchCreate``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from designsvc.core.jobs import ArtifactInfo, JobRecord, JobStatus

__all__ = [
    "ArtifactPublic",
    "ArtifactsPublic",
    "BatchPublic",
    "BatchRowPublic",
    "CapabilitiesPublic",
    "HealthPublic",
    "JobErrorPublic",
    "JobPublic",
    "JobsPublic",
    "ModelSizePublic",
    "ProblemKindPublic",
    "ProblemKindsPublic",
    "ResultPublic",
    "SolverPublic",
    "SolversPublic",
    "ValidationPublic",
    "artifact_url",
    "job_url",
]

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"}, description="RFC 3339, UTC")]


def job_url(job_id: str) -> str:
    """The path of a job resource (used in ``Location`` headers)."""
    return f"/v1/jobs/{job_id}"


def artifact_url(job_id: str, name: str) -> str:
    """The path of one artifact of a job."""
    return f"/v1/jobs/{job_id}/artifacts/{name}"


class JobErrorPublic(BaseModel):
    """Why a job failed: the error ``type`` (an exception or cause name) and a ``message``;
    a spec error found at run time also has ``errors`` with pointers."""

    model_config = ConfigDict(extra="allow")

    type: str = "Error"
    message: str = ""


class JobPublic(BaseModel):
    """A job: its lifecycle status, its normalized spec, and its timestamps. ``attempts``
    counts starts (a redelivery after a lost worker adds one)."""

    id: str = Field(description="UUIDv7")
    tenant: str = Field(description="the tenant that owns the job (`default` when the service runs without keys)")
    status: JobStatus
    problem: str = Field(description="versioned problem kind, e.g. assignment@1")
    tags: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    attempts: int
    batch_id: str | None
    cancel_requested: bool
    spec: dict[str, Any] = Field(description="the normalized spec document")
    error: JobErrorPublic | None

    @classmethod
    def of(cls, record: JobRecord) -> JobPublic:
        return cls.model_validate(record.to_json())


class JobsPublic(BaseModel):
    """One page of jobs, oldest first; pass ``next_cursor`` as ``cursor`` for the next page
    (None on the last one). The ``Link`` header carries the same as ``rel="next"``."""

    items: list[JobPublic]
    next_cursor: str | None


class ArtifactPublic(BaseModel):
    """A stored file of a job (a plot, a mask, ...), downloadable at ``url``."""

    name: str
    media_type: str
    size_bytes: int
    sha256: str
    url: str

    @classmethod
    def of(cls, job_id: str, info: ArtifactInfo) -> ArtifactPublic:
        return cls(
            name=info.name,
            media_type=info.media_type,
            size_bytes=info.size_bytes,
            sha256=info.sha256,
            url=artifact_url(job_id, info.name),
        )


class ArtifactsPublic(BaseModel):
    items: list[ArtifactPublic]


class ResultPublic(BaseModel):
    """The result document (DESIGN.md section 4) of a finished job.

    ``status`` is the job's final status. ``design`` is the problem kind's own decoded
    form. A job that ended before it produced a result (canceled while queued, failed at
    start, its worker lost) has the same members, with ``outcome`` and everything after it
    null and ``error`` saying why. Members a problem kind or proposer adds (``comparison``
    with ``compare_baselines``) pass through."""

    model_config = ConfigDict(extra="allow")

    id: str
    problem: str
    status: JobStatus
    spec: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = Field(default=None, description="{termination, solution_status}")
    objective: float | None = None
    bound: float | None = None
    gap: float | None = Field(default=None, description="relative gap between objective and bound")
    design: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = Field(default=None, description="{objective, feasible, violations, breakdown}")
    solver: dict[str, Any] | None = None
    proposer: dict[str, Any] | None = None
    timings: dict[str, float] | None = Field(default=None, description="seconds: build_s, solve_s, ..., total_s")
    provenance: dict[str, Any] | None = None
    artifacts: list[dict[str, Any]] = Field(default_factory=list, description="name, media_type, ..., url")
    error: dict[str, Any] | None = None


class ModelSizePublic(BaseModel):
    variables: int
    integer_variables: int
    fixed_variables: int
    constraints: int
    objectives: int


class ValidationPublic(BaseModel):
    """A valid spec: its resolved problem kind and solver, and the size of its model."""

    valid: Literal[True]
    problem: str
    solver: str
    model: ModelSizePublic


class BatchRowPublic(BaseModel):
    """One scenario x option combination, aggregated over its repetitions."""

    scenario: str
    options: dict[str, Any]
    runs: int
    finished: int
    succeeded: int
    feasible: int
    objective_mean: float | None
    objective_best: float | None
    gap_mean: float | None
    time_s_mean: float | None


class BatchPublic(BaseModel):
    """A batch: counters of its jobs by status, and the aggregate table."""

    id: str
    created_at: Timestamp
    tags: list[str]
    jobs: int
    finished: int
    done: bool
    counters: dict[str, int]
    table: list[BatchRowPublic]
    job_ids: list[str]


class ProblemKindPublic(BaseModel):
    """A registered problem kind; ``error`` says why one cannot be loaded."""

    id: str = Field(description="kind@version")
    kind: str
    version: int | None
    title: str
    builtin_instances: list[str]
    schema_url: str
    error: str | None = None


class ProblemKindsPublic(BaseModel):
    items: list[ProblemKindPublic]


class CapabilitiesPublic(BaseModel):
    continuous: bool
    integer: bool
    unbounded_variables: bool
    warm_start: bool
    cancel: bool
    progress: bool
    max_threads: int | None


class SolverPublic(BaseModel):
    """A registered solver: whether it can run here (and why not), its backend version."""

    name: str
    version: str | None
    available: bool
    reason: str | None
    capabilities: CapabilitiesPublic | None


class SolversPublic(BaseModel):
    items: list[SolverPublic]


class HealthPublic(BaseModel):
    status: Literal["ok", "ready"]
