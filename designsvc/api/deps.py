"""Dependencies of the routes (``Annotated`` aliases in the manner of the full-stack
FastAPI template): the app's context, its store and executor, the raw JSON body, the
validated path ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Header, Path, Request

from designsvc.api.errors import ApiError
from designsvc.api.sse import EventStreamSettings
from designsvc.core.errors import ArtifactNotFoundError, JobNotFoundError, StoreError
from designsvc.core.jobs import Executor, JobStore
from designsvc.core.types import PLAIN_NAME
from designsvc.runtime import ServiceSettings

__all__ = [
    "ApiContext",
    "ArtifactName",
    "BatchId",
    "ContextDep",
    "ExecutorDep",
    "IdempotencyKey",
    "JobId",
    "JsonBody",
    "StoreDep",
    "get_context",
    "get_executor",
    "get_store",
    "parse_json_body",
]

"""Ids and artifact names the stores accept (plain file names); anything else is unknown."""


@dataclass
class ApiContext:
    """What the routes share: settings, store and executor (None until the lifespan has
    built them, when the app was not given them), SSE timing, and what the app owns
    (builds, so closes at exit) and whether it resubmits unfinished jobs at startup (None:
    when it owns the executor)."""

    settings: ServiceSettings
    store: JobStore | None
    executor: Executor | None
    event_stream: EventStreamSettings
    recover: bool | None
    owns_store: bool = False
    owns_executor: bool = False
    security: Any = None
    """The app's :class:`designsvc.api.security.SecurityState` (made on first use)."""


def get_context(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.context)


ContextDep = Annotated[ApiContext, Depends(get_context)]


def get_store(context: ContextDep) -> JobStore:
    """The job store; StoreError (503) when the app has none open."""
    if context.store is None:
        raise StoreError("the job store is not open (the app's lifespan has not run)")
    return context.store


def get_executor(context: ContextDep) -> Executor:
    if context.executor is None:
        raise StoreError("the executor is not running (the app's lifespan has not run)")
    return context.executor


StoreDep = Annotated[JobStore, Depends(get_store)]
ExecutorDep = Annotated[Executor, Depends(get_executor)]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


async def parse_json_body(request: Request) -> Any:
    """The request body parsed as JSON (any content type is read as JSON); 400
    ``malformed-json`` with line and column when it is not JSON (NaN and Infinity are
    refused: JSON has no such values)."""
    raw = await request.body()
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        detail = f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except UnicodeDecodeError as exc:
        detail = f"the request body is not UTF-8 text: {exc.reason} at byte {exc.start}"
    except ValueError as exc:
        detail = f"the request body is not valid JSON: {exc}"
    except RecursionError:
        detail = "the request body is nested too deeply"
    raise ApiError(400, detail, slug="malformed-json", title="Malformed JSON")


JsonBody = Annotated[Any, Depends(parse_json_body)]


def _job_id(job_id: Annotated[str, Path(description="job id (UUIDv7)")]) -> str:
    if not PLAIN_NAME.fullmatch(job_id):
        raise JobNotFoundError("job", job_id)
    return job_id


def _batch_id(batch_id: Annotated[str, Path(description="batch id (UUIDv7)")]) -> str:
    if not PLAIN_NAME.fullmatch(batch_id):
        raise JobNotFoundError("batch", batch_id)
    return batch_id


def _artifact_name(name: Annotated[str, Path(description="artifact file name")]) -> str:
    if not PLAIN_NAME.fullmatch(name):
        raise ArtifactNotFoundError(f"no artifact {name!r}")
    return name


JobId = Annotated[str, Depends(_job_id)]
BatchId = Annotated[str, Depends(_batch_id)]
ArtifactName = Annotated[str, Depends(_artifact_name)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=256,
        description="a client-chosen key: the same key with the same body returns the job made first (200)",
    ),
]
