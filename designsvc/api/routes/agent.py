"""``/v1/agent``: the spec-writing agent's sessions (see :mod:`designsvc.agent.sessions`).

- ``POST /v1/agent/sessions`` ``{"problem"?, "backend"?: {"name", "options"}}``: 201 + the session;
- ``POST /v1/agent/sessions/{id}/messages``:
  ``{"content": "..."}`` starts a turn (a job on the ``gpu`` queue) and answers its events as
  Server-Sent Events (the ``token`` events carry the reply's text, ``channel`` ``spec`` for the
  constrained JSON the model writes and ``reply`` for the words); after the job's ``end`` comes
  ``event: session`` with the updated session. The turn's job id is in ``Location``
  (``/v1/jobs/{id}``): ``GET /v1/jobs/{id}/events`` with ``Last-Event-ID`` resumes the stream.
  ``{"confirm": true, "spec_sha256"?: "..."}`` is the user's confirmation: the session's valid
  spec is submitted as a design job (202, ``Location`` of the job); 409 when there is none or a
  turn is running. A message's text never submits anything.
- ``GET /v1/agent/sessions/{id}``: the session; ``GET /v1/agent/sessions/{id}/spec``: its spec,
  whether it is ready, what is missing and its pointer errors.

Sessions are stored in the job store (they outlive an API restart) and belong to the caller's
tenant: another tenant's session answers 404. Turns and confirmed specs are submitted with the
caller's submit policy (:func:`designsvc.api.security.submit_policy`): they are the tenant's
jobs, within its limits (429 at its cap of unfinished jobs).
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, StreamingResponse

from designsvc.agent.sessions import SessionBusyError, SessionService
from designsvc.api.deps import ContextDep, ExecutorDep, JsonBody, StoreDep
from designsvc.api.errors import ApiError, problem_responses
from designsvc.api.schemas import job_url
from designsvc.api.security import ReadPrincipal, SubmitPrincipal, submit_policy
from designsvc.api.sse import job_event_stream, json_safe
from designsvc.core.errors import JobNotFoundError, SpecError, escape_pointer_token
from designsvc.core.jobs import Executor, JobStore
from designsvc.core.types import PLAIN_NAME, JsonDict

__all__ = ["router"]

router = APIRouter(prefix="/v1/agent", tags=["agent"])
_LOCK = threading.Lock()


def _sessions(request: Request, store: JobStore, executor: Executor) -> SessionService:
    with _LOCK:
        service: SessionService | None = getattr(request.app.state, "agent_sessions", None)
        if service is None or service.store is not store or service.executor is not executor:
            service = SessionService(store, executor)
            request.app.state.agent_sessions = service
        return service


def _session_id(session_id: Annotated[str, Path(description="agent session id (UUIDv7)")]) -> str:
    if not PLAIN_NAME.fullmatch(session_id):
        raise JobNotFoundError("agent session", session_id)
    return session_id


def _busy(exc: SessionBusyError) -> ApiError:
    return ApiError(409, str(exc), slug="agent-session-conflict", title="Agent session conflict")


def _object(body: Any) -> JsonDict:
    if not isinstance(body, dict):
        raise SpecError.at("", f"expected a JSON object, got {type(body).__name__}")
    return body


@router.post(
    "/sessions",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 413, 422, 429, 503),
    summary="Start a conversation with the spec-writing agent",
)
def create_session(
    *, body: JsonBody, principal: SubmitPrincipal, request: Request, store: StoreDep, executor: ExecutorDep
) -> JSONResponse:
    """``{"problem": KIND?, "backend": {"name", "options"}?}`` (both optional)."""
    document = _object(body if body is not None else {})
    unknown = sorted(set(document) - {"problem", "backend"})
    if unknown:
        raise SpecError.at(f"/{escape_pointer_token(unknown[0])}", "unknown member (expected problem, backend)")
    problem = document.get("problem")
    if problem is not None and not isinstance(problem, str):
        raise SpecError.at("/problem", "expected a problem kind id")
    backend = document.get("backend")
    if backend is not None and not isinstance(backend, dict):
        raise SpecError.at("/backend", "expected an object")
    session = _sessions(request, store, executor).create(problem=problem, backend=backend, tenant=principal.tenant)
    return JSONResponse(session.public(), status_code=201, headers={"Location": f"/v1/agent/sessions/{session.id}"})


@router.get("/sessions/{session_id}", responses=problem_responses(401, 403, 404, 429, 503), summary="An agent session")
def get_session(
    *,
    session_id: Annotated[str, Path()],
    principal: ReadPrincipal,
    request: Request,
    store: StoreDep,
    executor: ExecutorDep,
) -> JsonDict:
    sessions = _sessions(request, store, executor)
    return sessions.get(_session_id(session_id), tenant=principal.tenant).public()


@router.get(
    "/sessions/{session_id}/spec",
    responses=problem_responses(401, 403, 404, 429, 503),
    summary="The spec an agent session drafted",
)
def get_spec(
    *,
    session_id: Annotated[str, Path()],
    principal: ReadPrincipal,
    request: Request,
    store: StoreDep,
    executor: ExecutorDep,
) -> JsonDict:
    """The spec (None while something required is missing), ``ready``, ``missing`` (pointers)
    and ``errors`` (pointer + message from the service's validation)."""
    return _sessions(request, store, executor).get(_session_id(session_id), tenant=principal.tenant).spec_document()


@router.post(
    "/sessions/{session_id}/messages",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "SSE stream of the turn job's events, then `event: session`",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        202: {"description": "confirmed: the spec was submitted as a job"},
        **problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503),
    },
    summary="Send a message (the reply streams over SSE) or confirm the spec",
)
async def post_message(
    *,
    session_id: Annotated[str, Path()],
    body: JsonBody,
    principal: SubmitPrincipal,
    request: Request,
    store: StoreDep,
    executor: ExecutorDep,
    context: ContextDep,
) -> Response:
    """``{"content": "..."}``: a turn, answered as SSE; ``{"confirm": true}``: submit the spec."""
    sid = _session_id(session_id)
    document = _object(body)
    unknown = sorted(set(document) - {"content", "confirm", "spec_sha256"})
    if unknown:
        raise SpecError.at(
            f"/{escape_pointer_token(unknown[0])}", "unknown member (expected content, confirm, spec_sha256)"
        )
    confirm = document.get("confirm", False)
    if not isinstance(confirm, bool):
        raise SpecError.at("/confirm", "expected true or false")
    content = document.get("content")
    sessions = _sessions(request, store, executor)
    policy = submit_policy(context, principal)
    if confirm:
        if content is not None:
            raise SpecError.at("/content", "a confirmation carries no message: send them separately")
        pin = document.get("spec_sha256")
        if pin is not None and not isinstance(pin, str):
            raise SpecError.at("/spec_sha256", "expected a hex string")
        try:
            session, job_id = await run_in_threadpool(sessions.confirm, sid, expected_spec_sha256=pin, policy=policy)
        except SessionBusyError as exc:
            raise _busy(exc) from exc
        location = job_url(job_id)
        return JSONResponse(
            {"session": session.public(), "job": {"id": job_id, "location": location}},
            status_code=202,
            headers={"Location": location},
        )
    if not isinstance(content, str):
        raise SpecError.at("/content", 'expected the message text (or {"confirm": true})')
    try:
        session, turn_id = await run_in_threadpool(sessions.say, sid, content, policy=policy)
    except SessionBusyError as exc:
        raise _busy(exc) from exc

    async def stream() -> AsyncIterator[bytes]:
        async for chunk in job_event_stream(
            store, turn_id, after=0, settings=context.event_stream, is_disconnected=request.is_disconnected
        ):
            yield chunk
        snapshot = await run_in_threadpool(sessions.snapshot, session.id, tenant=principal.tenant)
        data = json.dumps(json_safe(snapshot), separators=(",", ":"), ensure_ascii=False)
        yield f"event: session\ndata: {data}\n\n".encode()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Location": job_url(turn_id), "Cache-Control": "no-cache", "X-Agent-Turn-Job": turn_id},
    )
