"""``/v1/batches``: a scenario grid becomes jobs; its summary and CSV table."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from designsvc.api.deps import ContextDep, ExecutorDep, JsonBody, StoreDep
from designsvc.api.errors import problem_responses
from designsvc.api.schemas import BatchPublic
from designsvc.api.security import OwnedBatchId, SubmitPrincipal, submit_policy
from designsvc.api.sse import json_safe
from designsvc.core.types import JsonDict
from designsvc.services.batches import batch_summary, batch_table_csv, submit_batch

__all__ = ["BATCH_REQUEST_BODY", "batch_url", "router"]

router = APIRouter(prefix="/v1", tags=["batches"])

BATCH_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchCreate"}}},
    }
}


def batch_url(batch_id: str) -> str:
    return f"/v1/batches/{batch_id}"


@router.post(
    "/batches",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchPublic,
    openapi_extra=BATCH_REQUEST_BODY,
    responses=problem_responses(400, 401, 403, 413, 422, 429, 503),
    summary="Submit a batch",
)
def create_batch(
    *,
    request_body: JsonBody,
    principal: SubmitPrincipal,
    context: ContextDep,
    store: StoreDep,
    executor: ExecutorDep,
    response: Response,
) -> JsonDict:
    """Expand the scenario grid (scenarios x option grid x repetitions), validate every
    cell, store the jobs and the batch, and enqueue the jobs: 202 with the batch summary
    and ``Location``. Nothing is stored when a cell is invalid (422 with pointers into
    the batch request), or when the batch would pass the tenant's cap of unfinished jobs
    (429)."""
    batch = submit_batch(store, executor, request_body, policy=submit_policy(context, principal))
    response.headers["Location"] = batch_url(batch.id)
    return dict(json_safe(batch_summary(store, batch)))


@router.get(
    "/batches/{batch_id}",
    response_model=BatchPublic,
    responses=problem_responses(401, 403, 404, 429, 503),
    summary="Get a batch's summary",
)
def get_batch(batch_id: OwnedBatchId, store: StoreDep) -> JsonDict:
    """Counters of the batch's jobs by status and the aggregate table (one row per
    scenario and option combination, over its repetitions)."""
    return dict(json_safe(batch_summary(store, store.get_batch(batch_id))))


@router.get(
    "/batches/{batch_id}/table.csv",
    response_class=Response,
    responses={
        200: {"description": "the aggregate table", "content": {"text/csv": {"schema": {"type": "string"}}}},
        **problem_responses(401, 403, 404, 429, 503),
    },
    summary="Get a batch's table as CSV",
)
def get_batch_table(batch_id: OwnedBatchId, store: StoreDep) -> Response:
    """The aggregate table as CSV: scenario, one column per grid option, then the counts
    and aggregates (empty cells for missing values)."""
    summary = batch_summary(store, store.get_batch(batch_id))
    return Response(
        content=batch_table_csv(summary),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="batch-{batch_id}.csv"'},
    )
