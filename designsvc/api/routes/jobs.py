"""``/v1/jobs``: submit, read, list, cancel, result, events (SSE), artifacts, validate.

Handlers are plain functions (FastAPI runs them in its thread pool, since the stores block);
the spec body is read raw (:data:`~designsvc.api.deps.JsonBody`) so that its errors are
designsvc's own SpecError pointers into the spec.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from designsvc.api.deps import ArtifactName, ContextDep, ExecutorDep, IdempotencyKey, JsonBody, StoreDep
from designsvc.api.errors import ApiError, problem_responses
from designsvc.api.schemas import (
    ArtifactPublic,
    ArtifactsPublic,
    JobPublic,
    JobsPublic,
    ResultPublic,
    ValidationPublic,
    artifact_url,
    job_url,
)
from designsvc.api.security import OwnedJobId, ReadPrincipal, SubmitPrincipal, submit_policy
from designsvc.api.sse import job_event_stream, json_safe
from designsvc.core.jobs import JobRecord, JobStatus
from designsvc.core.types import JsonDict
from designsvc.services.jobs import cancel_job, submit_job
from designsvc.services.validation import validate_spec

__all__ = ["JOB_SPEC_BODY", "result_document", "router"]

router = APIRouter(prefix="/v1", tags=["jobs"])

JOB_SPEC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobCreate"}}},
    }
}
"""The OpenAPI request body of a spec (the schema is added by :mod:`designsvc.api.openapi`)."""

_RESULT_MEMBERS = (
    "outcome",
    "objective",
    "bound",
    "gap",
    "design",
    "evaluation",
    "solver",
    "proposer",
    "timings",
    "provenance",
)


@router.post(
    "/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    openapi_extra=JOB_SPEC_BODY,
    responses={
        200: {"model": JobPublic, "description": "the job made earlier with the same Idempotency-Key and spec"},
        **problem_responses(400, 401, 403, 413, 422, 429, 503),
    },
    summary="Submit a job",
)
def create_job(
    *,
    spec: JsonBody,
    principal: SubmitPrincipal,
    context: ContextDep,
    store: StoreDep,
    executor: ExecutorDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobPublic:
    """Validate the spec, store it as a queued job of the caller's tenant and hand it to the
    executor: 202 with the job and ``Location``. With an ``Idempotency-Key`` the tenant used
    before for the same spec (compared after normalization), 200 with that job; for another
    spec, 422. Over the service's limits (time limit, instance size): 422 with the pointer;
    at the tenant's cap of unfinished jobs: 429."""
    policy = submit_policy(context, principal)
    record, created = submit_job(store, executor, spec, idempotency_key=idempotency_key, policy=policy)
    response.headers["Location"] = job_url(record.id)
    if not created:
        response.status_code = status.HTTP_200_OK
    return JobPublic.of(record)


@router.post(
    "/jobs:validate",
    response_model=ValidationPublic,
    openapi_extra=JOB_SPEC_BODY,
    responses=problem_responses(400, 401, 403, 413, 422, 429),
    summary="Validate a spec and build its model",
)
def validate_job(spec: JsonBody, principal: ReadPrincipal) -> JsonDict:
    """Check the spec completely and build its model without solving or storing anything:
    200 with the model's size, or 422 with pointers into the spec."""
    return validate_spec(spec)


def _page_link(request: Request, cursor: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    params.append(("cursor", cursor))
    return f'<{request.url.path}?{urlencode(params)}>; rel="next"'


@router.get(
    "/jobs",
    response_model=JobsPublic,
    responses=problem_responses(401, 403, 422, 429, 503),
    summary="List jobs",
)
def list_jobs(
    *,
    principal: ReadPrincipal,
    request: Request,
    store: StoreDep,
    response: Response,
    status_: Annotated[JobStatus | None, Query(alias="status", description="only jobs in this status")] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=256, description="only jobs with this tag")] = None,
    batch_id: Annotated[str | None, Query(min_length=1, max_length=128, description="only this batch's jobs")] = None,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="jobs per page")] = 50,
) -> JobsPublic:
    """The caller's tenant's jobs matching every filter, oldest first, ``limit`` per page.
    The next page is at ``next_cursor`` and in the ``Link: <...>; rel="next"`` header."""
    try:
        page = store.list_jobs(
            status=status_, tag=tag, batch_id=batch_id, cursor=cursor, limit=limit, tenant=principal.tenant
        )
    except ValueError as exc:
        raise ApiError(
            422,
            "the cursor is not one this server gave out",
            slug="invalid-request",
            title="Invalid request",
            errors=[{"parameter": "cursor", "in": "query", "detail": str(exc)}],
        ) from exc
    if page.next_cursor is not None:
        response.headers["Link"] = _page_link(request, page.next_cursor)
    return JobsPublic(items=[JobPublic.of(r) for r in page.items], next_cursor=page.next_cursor)


@router.get(
    "/jobs/{job_id}",
    response_model=JobPublic,
    responses=problem_responses(401, 403, 404, 429, 503),
    summary="Get a job",
)
def get_job(job_id: OwnedJobId, store: StoreDep) -> JobPublic:
    return JobPublic.of(store.get_job(job_id))


@router.delete(
    "/jobs/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409, 429, 503),
    summary="Delete a finished job",
)
def delete_job(job_id: OwnedJobId, principal: SubmitPrincipal, store: StoreDep) -> Response:
    """Delete a finished job with its events, result and artifacts: 204. A job still queued
    or running is 409 (cancel it first). Finished jobs are also deleted by the service's
    retention (``DESIGNSVC_RETENTION_S``)."""
    store.delete_job(job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def result_document(record: JobRecord) -> JsonDict:
    """The result document of a finished job, with artifact URLs. A job that ended without
    one (canceled while queued, failed before its pipeline returned) gets the same members,
    null, with its ``error``. ``status`` is always the job's."""
    if record.result is not None:
        document = dict(record.result)
    else:
        document = {"id": record.id, "problem": record.problem, "spec": record.spec}
        document.update(dict.fromkeys(_RESULT_MEMBERS))
        document["artifacts"] = []
    document["status"] = record.status.value
    if document.get("error") is None:
        document["error"] = record.error
    document["artifacts"] = [
        {**a, "url": artifact_url(record.id, a["name"])}
        for a in document.get("artifacts") or []
        if isinstance(a, dict) and "name" in a
    ]
    return dict(json_safe(document))


@router.get(
    "/jobs/{job_id}/result",
    response_model=ResultPublic,
    responses=problem_responses(401, 403, 404, 409, 429, 503),
    summary="Get a job's result",
)
def get_result(job_id: OwnedJobId, store: StoreDep) -> JsonDict:
    """The result document once the job is finished (succeeded, failed or canceled; a
    canceled job keeps its best design so far); 409 before."""
    record = store.get_job(job_id)
    if not record.status.terminal:
        raise ApiError(
            409,
            f"job {job_id} is {record.status.value}; its result is ready once it has finished",
            slug="result-not-ready",
            title="Result not ready",
            headers={"Retry-After": "1"},
            extra={"job_status": record.status.value},
        )
    return result_document(record)


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses=problem_responses(401, 403, 404, 429, 503),
    summary="Cancel a job",
)
def cancel(job_id: OwnedJobId, principal: SubmitPrincipal, store: StoreDep) -> JobPublic:
    """Ask the job to stop: a queued job is canceled at once, a running one becomes
    ``canceling`` and then ``canceled`` with its best design so far. A finished job is
    returned unchanged. Always 202: the body shows where the job is."""
    return JobPublic.of(cancel_job(store, job_id))


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "SSE stream: `id:` event id, `event:` type, `data:` JSON "
            '`{"id","type","at","data"}`; ends with `event: end` after the terminal status event',
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 404, 422, 429, 503),
    },
    summary="Stream a job's events (Server-Sent Events)",
)
async def stream_events(
    *,
    job_id: OwnedJobId,
    request: Request,
    store: StoreDep,
    context: ContextDep,
    after: Annotated[int | None, Query(ge=0, description="only events with a larger id")] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="resume after this event id (wins over ?after=)")
    ] = None,
) -> StreamingResponse:
    """Stored and new events of the job, in order; resumes after ``Last-Event-ID`` or
    ``?after=``. Ends after the job's terminal status event with ``event: end``."""
    start = after or 0
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit():
            raise ApiError(
                422,
                "Last-Event-ID must be an event id this server sent (an integer >= 0)",
                slug="invalid-request",
                title="Invalid request",
                errors=[{"parameter": "Last-Event-ID", "in": "header", "detail": "not an integer >= 0"}],
            )
        start = int(text)
    await run_in_threadpool(store.get_job, job_id)  # 404 before the stream starts
    stream = job_event_stream(
        store, job_id, after=start, settings=context.event_stream, is_disconnected=request.is_disconnected
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/jobs/{job_id}/artifacts",
    response_model=ArtifactsPublic,
    responses=problem_responses(401, 403, 404, 429, 503),
    summary="List a job's artifacts",
)
def list_artifacts(job_id: OwnedJobId, store: StoreDep) -> ArtifactsPublic:
    store.get_job(job_id)
    return ArtifactsPublic(items=[ArtifactPublic.of(job_id, info) for info in store.list_artifacts(job_id)])


@router.get(
    "/jobs/{job_id}/artifacts/{name}",
    response_class=Response,
    responses={
        200: {
            "description": "the artifact's bytes, with its media type (image/png, text/csv, ...)",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        **problem_responses(401, 403, 404, 429, 503),
    },
    summary="Download an artifact",
)
def get_artifact(job_id: OwnedJobId, name: ArtifactName, store: StoreDep) -> Response:
    artifact = store.get_artifact(job_id, name)
    return Response(
        content=artifact.data,
        media_type=artifact.media_type,
        headers={"Content-Disposition": f'inline; filename="{artifact.name}"'},
    )
