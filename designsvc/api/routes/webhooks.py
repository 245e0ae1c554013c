"""``/v1/webhooks``: a tenant's webhook endpoints and their deliveries (see
:mod:`designsvc.services.webhooks`).

- ``POST /v1/webhooks`` ``{"url", "events"?, "description"?}`` (admin scope): 201 with the
  endpoint and its ``secret`` (``whsec_...``), which is shown this once; 422 with the pointer
  ``/url`` for a URL that is not http(s) or holds credentials.
- ``GET /v1/webhooks``: the tenant's endpoints (no secrets).
- ``DELETE /v1/webhooks/{id}`` (admin scope): 204.
- ``GET /v1/webhooks/{id}/deliveries``: the endpoint's latest deliveries, newest first, with
  their attempts and the last status code or error.

Another tenant's endpoint answers 404. Events are signed per Standard Webhooks and sent at
least once: receivers dedupe on the ``webhook-id`` header.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, Field

from designsvc.api.deps import JsonBody, StoreDep
from designsvc.api.errors import problem_responses
from designsvc.api.security import AdminPrincipal, ReadPrincipal
from designsvc.core.errors import JobNotFoundError
from designsvc.core.types import PLAIN_NAME, JsonDict
from designsvc.services.webhooks import (
    WebhookCreate,
    create_endpoint,
    delete_endpoint,
    list_deliveries,
    list_endpoints,
    public_endpoint,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": WebhookCreate.model_json_schema()}},
    }
}


class WebhookPublic(BaseModel):
    """A webhook endpoint (its secret is shown only when it is made)."""

    id: str
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool = Field(description="false once the URL answered 410 Gone")
    disabled_reason: str | None = None
    created_at: str


class WebhookCreatedPublic(WebhookPublic):
    secret: str = Field(description="the signing secret (whsec_...): shown this once, keep it")


class WebhooksPublic(BaseModel):
    items: list[WebhookPublic]


class DeliveryAttemptPublic(BaseModel):
    at: str
    status_code: int | None = None
    error: str | None = None
    duration_s: float


class DeliveryPublic(BaseModel):
    """One event for one endpoint; ``id`` is its ``webhook-id`` header."""

    id: str
    event_type: str
    job_id: str
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    created_at: str
    next_attempt_at: str | None = None
    last_attempt_at: str | None = None
    finished_at: str | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    attempt_log: list[DeliveryAttemptPublic] = Field(default_factory=list, description="the latest attempts")
    payload: dict[str, Any]

    @classmethod
    def of(cls, data: JsonDict) -> DeliveryPublic:
        return cls.model_validate({k: v for k, v in data.items() if k in cls.model_fields})


class DeliveriesPublic(BaseModel):
    items: list[DeliveryPublic]


def _webhook_id(webhook_id: Annotated[str, Path(description="webhook endpoint id (UUIDv7)")]) -> str:
    if not PLAIN_NAME.fullmatch(webhook_id):
        raise JobNotFoundError("webhook", webhook_id)
    return webhook_id


WebhookId = Annotated[str, Depends(_webhook_id)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreatedPublic,
    openapi_extra=_CREATE_BODY,
    responses=problem_responses(400, 401, 403, 413, 422, 429, 503),
    summary="Register a webhook endpoint",
)
def create_webhook(body: JsonBody, principal: AdminPrincipal, store: StoreDep) -> WebhookCreatedPublic:
    """Register a URL that is POSTed the tenant's job events (``job.succeeded``,
    ``job.failed``, ``job.canceled``) as JSON, signed per Standard Webhooks with the returned
    ``secret`` (shown only here): verify the ``webhook-signature`` header with any Standard
    Webhooks library. Failed sends are retried with exponential backoff, and an event may
    arrive more than once (at-least-once delivery): dedupe on the ``webhook-id`` header. An
    answer of 410 Gone disables the endpoint."""
    new = create_endpoint(store, principal.tenant, body)
    return WebhookCreatedPublic(**new.endpoint, secret=new.secret)


@router.get(
    "",
    response_model=WebhooksPublic,
    responses=problem_responses(401, 403, 429, 503),
    summary="List webhook endpoints",
)
def list_webhooks(principal: ReadPrincipal, store: StoreDep) -> WebhooksPublic:
    """The tenant's webhook endpoints, oldest first (without secrets)."""
    return WebhooksPublic(
        items=[WebhookPublic(**public_endpoint(data)) for data in list_endpoints(store, principal.tenant)]
    )


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 429, 503),
    summary="Delete a webhook endpoint",
)
def delete_webhook(principal: AdminPrincipal, webhook_id: WebhookId, store: StoreDep) -> Response:
    """Stop sending events to the endpoint; its pending deliveries are dropped (failed)."""
    delete_endpoint(store, principal.tenant, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveriesPublic,
    responses=problem_responses(401, 403, 404, 422, 429, 503),
    summary="Recent deliveries of a webhook endpoint",
)
def webhook_deliveries(
    principal: ReadPrincipal,
    webhook_id: WebhookId,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="deliveries to return")] = 50,
) -> DeliveriesPublic:
    """The endpoint's latest deliveries, newest first: state, attempts, the last status code
    or error, and the event sent."""
    found = list_deliveries(store, principal.tenant, webhook_id, limit=limit)
    return DeliveriesPublic(items=[DeliveryPublic.of(d) for d in found])
