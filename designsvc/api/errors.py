"""RFC 9457 problem details: every error the API answers is ``application/problem+json``.

A problem document has the members ``type`` (a URI naming the kind of problem: our own
``urn:designsvc:problem:<slug>``, or ``about:blank`` for a plain HTTP error such as an
unknown route), ``title`` (short, the same for every occurrence of the type), ``status``
(the HTTP status code), ``detail`` (this occurrence, for a human) and ``instance`` (the
request path). Field errors come as ``errors``: each has a ``detail`` and either a
``pointer`` (RFC 6901 JSON pointer into the request body, ``""`` for the whole body) or a
``parameter`` and its location ``in`` (``query``, ``path``, ``header``, ``cookie``).

Mapping of exceptions to statuses (see :func:`install_error_handlers`):

=======================================  =======  =========================================
cause                                    status   problem type slug
=======================================  =======  =========================================
malformed JSON body                      400      ``malformed-json``
RequestValidationError (FastAPI)         422      ``invalid-request``
SpecError                                422      ``invalid-spec``
IdempotencyConflictError                 422      ``idempotency-conflict``
JobNotFoundError, ArtifactNotFoundError  404      ``not-found``
unknown route, wrong method              404/405  ``about:blank`` (405 with ``Allow``)
body above ``max_body_bytes``            413      ``content-too-large``
result asked before the job ended        409      ``result-not-ready``
TransitionConflictError                  409      ``transition-conflict``
no or a bad API key                      401      ``unauthenticated`` (``WWW-Authenticate``)
a key without the route's scope          403      ``forbidden``
over the tenant's request rate           429      ``rate-limited`` (``Retry-After``)
QuotaExceededError (unfinished jobs)     429      ``too-many-unfinished-jobs``
StoreError                               503      ``store-unavailable``
anything else                            500      ``internal-error`` (logged, never leaked)
=======================================  =======  =========================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from designsvc.core.errors import (
    ArtifactNotFoundError,
    IdempotencyConflictError,
    JobNotFoundError,
    SpecError,
    StoreError,
    TransitionConflictError,
    pointer_from_path,
)
from designsvc.core.types import JsonDict
from designsvc.services.policy import QuotaExceededError

__all__ = [
    "PROBLEM_JSON",
    "PROBLEM_TYPE_PREFIX",
    "ApiError",
    "ContentTooLargeError",
    "ProblemDetails",
    "ProblemErrorItem",
    "install_error_handlers",
    "internal_error",
    "problem_body",
    "problem_response",
    "problem_responses",
    "to_api_error",
]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
"""The media type of every error response (RFC 9457)."""
PROBLEM_TYPE_PREFIX = "urn:designsvc:problem:"
"""Our problem types are ``urn:designsvc:problem:<slug>``."""

ParameterLocation = Literal["query", "path", "header", "cookie"]


class ProblemErrorItem(BaseModel):
    """One field at fault: ``pointer`` into the request body, or a named ``parameter``."""

    model_config = ConfigDict(populate_by_name=True)

    detail: str
    pointer: str | None = Field(default=None, description="RFC 6901 JSON pointer into the request body")
    parameter: str | None = Field(default=None, description="name of the query, path or header parameter")
    in_: ParameterLocation | None = Field(default=None, alias="in", description="where the parameter is")


class ProblemDetails(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI of the problem type")
    title: str
    status: int = Field(ge=100, le=599)
    detail: str | None = None
    instance: str | None = Field(default=None, description="the request path")
    errors: list[ProblemErrorItem] | None = None


class ApiError(Exception):
    """An error answered as a problem document. ``slug`` names the problem type (None:
    ``about:blank``, whose title is the HTTP status phrase); ``errors`` are field errors
    (dicts shaped as :class:`ProblemErrorItem`); ``extra`` adds extension members."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[JsonDict] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title or _phrase(status)
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(detail or self.title)

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_PREFIX + self.slug if self.slug else "about:blank"


class ContentTooLargeError(ApiError):
    """The request body is larger than the server takes (413)."""

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than {max_body_bytes} bytes",
            slug="content-too-large",
            title="Content too large",
            extra={"max_body_bytes": max_body_bytes},
        )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(error: ApiError, instance: str | None) -> JsonDict:
    """The JSON document of ``error`` (RFC 9457 members first, then extensions)."""
    body: JsonDict = {
        "type": error.type,
        "title": error.title,
        "status": error.status,
        "detail": error.detail or error.title,
        "instance": instance,
    }
    if error.errors is not None:
        body["errors"] = error.errors
    for key, value in error.extra.items():
        body.setdefault(key, value)
    return body


def problem_response(error: ApiError, instance: str | None) -> JSONResponse:
    """``error`` as an ``application/problem+json`` response."""
    return JSONResponse(
        problem_body(error, instance), status_code=error.status, headers=error.headers, media_type=PROBLEM_JSON
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses (the OpenAPI hook moves them to
    ``application/problem+json``)."""
    return {status: {"model": ProblemDetails, "description": _phrase(status)} for status in statuses}


def _field_errors_of_spec(exc: SpecError) -> list[JsonDict]:
    return [{"pointer": e.pointer, "detail": e.message} for e in exc.errors]


def _from_request_validation(exc: RequestValidationError) -> ApiError:
    errors: list[JsonDict] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            return ApiError(400, f"the request body is not valid JSON: {err.get('msg', '')}", slug="malformed-json")
        item: JsonDict = {"detail": str(err.get("msg", "invalid value"))}
        if loc and loc[0] in ("query", "path", "header", "cookie"):
            item["parameter"] = str(loc[1]) if len(loc) > 1 else ""
            item["in"] = loc[0]
        else:
            item["pointer"] = pointer_from_path(loc[1:] if loc and loc[0] == "body" else loc)
        errors.append(item)
    return ApiError(
        422, "the request has invalid parameters", slug="invalid-request", title="Invalid request", errors=errors
    )


def to_api_error(exc: Exception) -> ApiError | None:
    """The problem of a known exception; None for an unexpected one (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SpecError):
        return ApiError(
            422,
            f"the document is invalid: {exc}",
            slug="invalid-spec",
            title="Invalid spec",
            errors=_field_errors_of_spec(exc),
        )
    if isinstance(exc, IdempotencyConflictError):
        return ApiError(
            422,
            f"the Idempotency-Key {exc.key!r} was already used for another request body",
            slug="idempotency-conflict",
            title="Idempotency key reused",
            errors=[{"parameter": "Idempotency-Key", "in": "header", "detail": "already used with another body"}],
            extra={"job_id": exc.job_id},
        )
    if isinstance(exc, JobNotFoundError):
        return ApiError(404, f"no {exc.what} with id {exc.item_id!r}", slug="not-found", title="Not found")
    if isinstance(exc, ArtifactNotFoundError):
        return ApiError(404, str(exc), slug="not-found", title="Not found")
    if isinstance(exc, TransitionConflictError):
        return ApiError(409, str(exc), slug="transition-conflict", title="Conflicting status change")
    if isinstance(exc, QuotaExceededError):
        return ApiError(
            429,
            str(exc),
            slug="too-many-unfinished-jobs",
            title="Too many unfinished jobs",
            headers={"Retry-After": "10"},
            extra={"unfinished_jobs": exc.unfinished, "max_unfinished_jobs": exc.cap},
        )
    if isinstance(exc, StoreError):
        log.warning("store unavailable: %s", exc)
        return ApiError(
            503, "the job store is unavailable; try again later", slug="store-unavailable", title="Store unavailable"
        )
    if isinstance(exc, RequestValidationError):
        return _from_request_validation(exc)
    if isinstance(exc, StarletteHTTPException):
        headers = dict(exc.headers or {})
        detail: str | None = exc.detail if isinstance(exc.detail, str) else None
        return ApiError(exc.status_code, None if detail == _phrase(exc.status_code) else detail, headers=headers)
    return None


def internal_error() -> ApiError:
    """The 500 problem: says nothing about the cause (it is in the server's log)."""
    return ApiError(
        500,
        "an unexpected error occurred; it has been logged",
        slug="internal-error",
        title="Internal server error",
    )


AllowedMethods = Callable[[str], Collection[str]]
"""Maps a request path to the methods its routes take (for the ``Allow`` header of 405)."""


def install_error_handlers(app: FastAPI, *, allowed_methods: AllowedMethods | None = None) -> None:
    """Answer every known error as problem+json (unexpected ones are the middleware's, see
    :mod:`designsvc.api.middleware`). With ``allowed_methods``, a 405 lists every method
    of the path in ``Allow`` (Starlette names only the first route's)."""

    async def handle(request: Request, exc: Exception) -> Response:
        error = to_api_error(exc)
        if error is None:  # a registered type always maps; keep the contract anyway
            log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
            error = internal_error()
        if error.status == 405 and allowed_methods is not None:
            methods = set(allowed_methods(request.url.path))
            if methods:
                error.headers["Allow"] = ", ".join(sorted(methods))
        return problem_response(error, request.url.path)

    for exc_type in (
        ApiError,
        SpecError,
        IdempotencyConflictError,
        JobNotFoundError,
        ArtifactNotFoundError,
        TransitionConflictError,
        QuotaExceededError,
        StoreError,
        RequestValidationError,
        StarletteHTTPException,
    ):
        app.add_exception_handler(exc_type, handle)
