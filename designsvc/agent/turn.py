"""One agent turn as a job: the conversation in, the draft spec and the reply out.

A turn's job spec is ``{"agent_turn": {"session_id", "messages", "problem", "draft",
"backend"}, "tags"}``. ``submit_job`` stores it like any job and hands it to the executor on the
``gpu`` queue, so the model runs where jobs run (a Celery gpu worker, or the embedded
process pool) and never in the API process; its events are the streamed tokens
(``{"type": "token", "channel": "spec" | "reply", "text"}``), which ``GET /v1/jobs/{id}/events``
and the agent's message route stream over SSE (with Last-Event-ID) like any job's.

:func:`run_agent_turn` (in the worker): the backend (registry ``designsvc.agent_backends``,
loaded by name: the service imports no model code) fills the kind form while the session has
no problem kind, then the kind's draft form (:mod:`designsvc.agent.forms`), both with
decoding constrained to the form's JSON Schema. The draft is merged into the session's, the
spec assembled and validated with the service's ``resolve_spec`` (the kind's pydantic
instance schema via ``Problem.parse_instance``, solver and proposer checks; errors are JSON
pointers). The reply is written by code from that outcome: it asks for what is missing,
names what is invalid, or shows the spec and asks for confirmation. Nothing in a turn
submits a design job: only the user's structured confirmation does (see
:mod:`designsvc.agent.sessions`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from designsvc.agent.forms import (
    assemble_spec,
    draft_instruction,
    draft_schema,
    dumps,
    kind_choices,
    kind_instruction,
    kind_schema,
    merge_drafts,
)
from designsvc.core.cancel import CancelToken
from designsvc.core.errors import RegistryError, SpecError, UnknownNameError
from designsvc.core.plugins import AGENT_BACKENDS, PROBLEMS, resolve_problem_id
from designsvc.core.problem import spec_error_from_validation
from designsvc.core.spec import PluginSpec
from designsvc.core.types import JsonDict

__all__ = [
    "MAX_MESSAGE_CHARS",
    "AgentBackend",
    "AgentTurnSpec",
    "ResolvedAgentTurn",
    "compose_reply",
    "is_agent_turn",
    "resolve_agent_turn",
    "run_agent_turn",
]

MAX_MESSAGE_CHARS = 1_000_000
"""The longest message a turn takes (the API's body limit usually comes first)."""
KEEP_HEAD_CHARS = 2_000
KEEP_TAIL_CHARS = 24_000
"""A message longer than head + tail is cut to its head and tail before it reaches the model:
the sink cache keeps only its first tokens and a recent window anyway, so the middle of a very
long message could not be attended to; cutting it only saves the time of streaming it through."""
SYSTEM_PROMPT = (
    "You are the spec-writing assistant of designsvc, a design optimization service. "
    "You turn what the user asks for into a job spec, using only values the user gave."
)
TURN_TAG = "agent-turn"


class AgentBackend(Protocol):
    """What a registered agent backend offers (duck-typed: plug-ins import only designsvc.core)."""

    name: str

    def fill(
        self,
        messages: Sequence[Mapping[str, str]],
        schema: JsonDict,
        *,
        on_piece: Callable[[str], None],
        check: Callable[[], None],
    ) -> Any: ...

    def fingerprint(self) -> str | None: ...


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentMessage(_Strict):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class AgentTurnBody(_Strict):
    session_id: str = Field(min_length=1, max_length=64)
    messages: list[AgentMessage] = Field(min_length=1, max_length=10_000)
    problem: str | None = None
    draft: dict[str, Any] = Field(default_factory=dict)
    backend: PluginSpec = Field(default_factory=lambda: PluginSpec(name="local"))


class AgentTurnSpec(_Strict):
    """The job spec of one agent turn."""

    agent_turn: AgentTurnBody
    tags: list[str] = Field(default_factory=lambda: [TURN_TAG], max_length=64)


@dataclass(frozen=True)
class ResolvedAgentTurn:
    """A validated agent-turn spec; ``problem_id`` is its kind or ``"agent"``."""

    spec: AgentTurnSpec
    problem_id: str
    queue: str = "gpu"


def is_agent_turn(data: Any) -> bool:
    """Whether a spec document is an agent turn (it has an ``agent_turn`` member)."""
    return isinstance(data, dict) and "agent_turn" in data


def resolve_agent_turn(data: Any) -> ResolvedAgentTurn:
    """Validate an agent-turn spec; the backend is checked by name only (loading it would
    import the model code, which the API process never does)."""
    try:
        spec = AgentTurnSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error_from_validation(exc) from exc
    body = spec.agent_turn
    try:
        AGENT_BACKENDS.target(body.backend.name)
    except UnknownNameError as exc:
        raise SpecError.at("/agent_turn/backend/name", str(exc)) from exc
    problem_id = "agent"
    if body.problem is not None:
        try:
            problem_id = resolve_problem_id(body.problem)
        except UnknownNameError as exc:
            raise SpecError.at("/agent_turn/problem", str(exc)) from exc
        body.problem = problem_id
    return ResolvedAgentTurn(spec, problem_id)


def _window(text: str) -> str:
    if len(text) <= KEEP_HEAD_CHARS + KEEP_TAIL_CHARS:
        return text
    return text[:KEEP_HEAD_CHARS] + "\n[...]\n" + text[-KEEP_TAIL_CHARS:]


class _CanceledError(Exception):
    pass


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


def compose_reply(kind: str | None, spec: JsonDict | None, missing: Sequence[str], errors: Sequence[JsonDict]) -> str:
    """The assistant's words after a turn (written by code from the turn's outcome)."""
    if kind is None:
        kinds = "; ".join(f"{name} ({PROBLEMS.load(name).title})" for name in PROBLEMS.names())
        return f"Which kind of design problem is it? I know: {kinds}."
    if missing:
        cls = PROBLEMS.load(kind)
        from designsvc.agent.forms import generate_sizes

        sizes = ", ".join(generate_sizes(kind)) or "its size"
        builtins = ", ".join(sorted(cls.builtin_instances()))
        return (
            f"This is a {kind} problem. Which instance should it solve? A builtin one ({builtins}), "
            f"or a generated one: tell me {sizes}."
        )
    if errors:
        listed = "; ".join(f"{e['pointer'] or '/'}: {e['message']}" for e in errors)
        return f"The spec is not valid yet: {listed}. Please correct it."
    return f"Here is the spec:\n{dumps(spec)}\nConfirm to submit it as a job, or tell me what to change."


def run_agent_turn(
    job: ResolvedAgentTurn,
    *,
    job_id: str | None = None,
    on_event: Callable[[JsonDict], None] | None = None,
    cancel_token: CancelToken | None = None,
) -> JsonDict:
    """Run one turn (in a worker); the result document (``kind: "agent-turn"``)."""
    from designsvc.services.validation import resolve_spec  # the service layer, at run time

    emit = on_event or (lambda event: None)
    token = cancel_token or CancelToken()
    body = job.spec.agent_turn
    started = time.perf_counter()
    result: JsonDict = {"id": job_id, "kind": "agent-turn", "session_id": body.session_id, "error": None}

    def piece(channel: str) -> Callable[[str], None]:
        return lambda text: emit({"type": "token", "channel": channel, "text": text})

    def check() -> None:
        if token.cancelled:
            raise _CanceledError

    messages = [{"role": m.role, "content": _window(m.content)} for m in body.messages]
    user_texts = [m["content"] for m in messages if m["role"] == "user"]
    chat: list[dict[str, str]] = [{"role": "system", "content": SYSTEM_PROMPT}, *messages]
    kind = body.problem
    draft: JsonDict = dict(body.draft)
    spec: JsonDict | None = None
    missing: list[str] = []
    errors: list[JsonDict] = []
    backend: Any = None
    try:
        emit({"type": "stage", "stage": "agent"})
        backend = AGENT_BACKENDS.load(body.backend.name)(body.backend.options)
        if kind is None:
            emit({"type": "stage", "stage": "kind"})
            chosen = backend.fill(
                [*chat, {"role": "user", "content": kind_instruction()}],
                kind_schema(user_texts),
                on_piece=piece("spec"),
                check=check,
            )
            kind = kind_choices().get(str(chosen["problem"]))
        if kind is not None:
            emit({"type": "stage", "stage": "draft", "problem": kind})
            new = backend.fill(
                [*chat, {"role": "user", "content": draft_instruction(kind)}],
                draft_schema(kind, user_texts),
                on_piece=piece("spec"),
                check=check,
            )
            draft = merge_drafts(draft, new)
            spec, missing = assemble_spec(kind, draft)
            if spec is not None:
                try:
                    resolve_spec(spec)
                except SpecError as exc:
                    errors = [{"pointer": e.pointer, "message": e.message} for e in exc.errors]
    except _CanceledError:
        result.update({"status": "canceled", "problem": kind, "draft": draft, "spec": None, "ready": False})
        result["timings"] = {"total_s": time.perf_counter() - started}
        return result
    except (RegistryError, ValueError, ImportError, OSError, RuntimeError) as exc:
        # ModelSetupError (a RuntimeError) says what to install; a bad backend option names it.
        result.update({"status": "failed", "error": {"type": type(exc).__name__, "message": str(exc)}})
        result["timings"] = {"total_s": time.perf_counter() - started}
        emit({"type": "stage", "stage": "failed", "error": result["error"]})
        return result
    reply = compose_reply(kind, spec, missing, errors)
    emit_reply = piece("reply")
    for text in _pieces(reply):
        emit_reply(text)
    result.update(
        {
            "status": "succeeded",
            "problem": kind,
            "draft": draft,
            "spec": spec,
            "ready": spec is not None and not errors,
            "missing": missing,
            "errors": errors,
            "reply": reply,
            "backend": body.backend.name,
            "timings": {"total_s": time.perf_counter() - started},
            "provenance": {"model_sha256": backend.fingerprint() if backend is not None else None},
        }
    )
    emit({"type": "stage", "stage": "done", "status": "succeeded"})
    return result
