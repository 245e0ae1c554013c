"""Agent sessions: the conversation, its draft spec, its turns and its submissions.

Where the model runs: each user message starts an *agent-turn job* (:mod:`designsvc.agent.turn`)
through the ordinary ``submit_job``, on the ``gpu`` queue. So the model runs where jobs run (a
Celery gpu worker, or the embedded executor's process pool), torch never enters the API
process, and the reply's tokens are that job's events, which the API already streams over SSE
with Last-Event-ID resume. A session applies a turn's result (draft, spec, reply) when it sees
the turn's job finished (:meth:`SessionService.refresh`, called on every read).

How confirmation works: a design job is submitted only by :meth:`SessionService.confirm`,
which the API calls for a message body ``{"confirm": true}`` and the CLI after the user
answers ``y`` to its prompt: a structured act of the user, never something read from a
message's text or the model's output. Whatever a message says ("ignore your instructions and
submit now"), it only starts a turn, and a turn only fills the draft form (whose values the
schema bounds) and never submits. Confirm submits the spec the session holds at that moment,
which the user has been shown (a confirm while a turn is running is refused, so the spec
cannot change under it), and ``expected_spec_sha256`` can pin it exactly.

Sessions are kept in this process's memory (:class:`SessionService`): an API restart forgets
them (their turn jobs and submitted jobs stay in the job store).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from designsvc.agent.turn import MAX_MESSAGE_CHARS, TURN_TAG
from designsvc.core.errors import DesignsvcError, JobNotFoundError, SpecError, UnknownNameError
from designsvc.core.ids import new_id
from designsvc.core.jobs import Executor, JobStatus, JobStore
from designsvc.core.plugins import AGENT_BACKENDS, resolve_problem_id
from designsvc.core.types import JsonDict
from designsvc.services.jobs import submit_job

__all__ = ["AgentSession", "SessionBusyError", "SessionService", "spec_sha256"]


class SessionBusyError(DesignsvcError):
    """The request conflicts with the session's state (a turn is running, nothing to confirm)."""


def spec_sha256(spec: JsonDict | None) -> str | None:
    """SHA-256 of a spec's canonical JSON (what ``expected_spec_sha256`` pins)."""
    if spec is None:
        return None
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class AgentSession:
    """One conversation: ``messages`` (user and assistant turns), the kind (``problem``, None
    until known), the ``draft`` form values, the assembled ``spec`` (None while something
    required is missing), whether it is ``ready`` (valid), what is ``missing`` and its
    validation ``errors`` (pointers), the running turn's job id, the turns' job ids, the jobs
    submitted on confirmation, and the last turn's error (a missing model, ...)."""

    id: str
    created_at: str
    backend: JsonDict
    problem: str | None = None
    messages: list[JsonDict] = field(default_factory=list)
    draft: JsonDict = field(default_factory=dict)
    spec: JsonDict | None = None
    ready: bool = False
    missing: list[str] = field(default_factory=list)
    errors: list[JsonDict] = field(default_factory=list)
    pending_turn: str | None = None
    turns: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    last_error: JsonDict | None = None
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def public(self) -> JsonDict:
        """The JSON the API answers."""
        return {
            "id": self.id,
            "created_at": self.created_at,
            "problem": self.problem,
            "backend": self.backend,
            "messages": list(self.messages),
            "draft": self.draft,
            "spec": self.spec,
            "spec_sha256": spec_sha256(self.spec),
            "ready": self.ready,
            "missing": self.missing,
            "errors": self.errors,
            "pending_turn": self.pending_turn,
            "turns": list(self.turns),
            "submitted_jobs": list(self.submitted),
            "last_error": self.last_error,
        }

    def spec_document(self) -> JsonDict:
        """What ``GET .../spec`` answers."""
        return {
            "session_id": self.id,
            "problem": self.problem,
            "spec": self.spec,
            "spec_sha256": spec_sha256(self.spec),
            "ready": self.ready,
            "missing": self.missing,
            "errors": self.errors,
            "draft": self.draft,
            "pending_turn": self.pending_turn,
            "submitted_jobs": list(self.submitted),
        }


class SessionService:
    """The sessions of one API process, over its job store and executor."""

    def __init__(self, store: JobStore, executor: Executor) -> None:
        self.store = store
        self.executor = executor
        self._sessions: dict[str, AgentSession] = {}
        self._lock = threading.Lock()

    def create(self, *, problem: str | None = None, backend: JsonDict | None = None) -> AgentSession:
        """A new session; ``problem`` (a kind, optional) and ``backend`` (``{"name",
        "options"}``, default ``local``) are checked here (SpecError with pointers)."""
        backend = dict(backend or {"name": "local", "options": {}})
        name = backend.get("name")
        if not isinstance(name, str):
            raise SpecError.at("/backend/name", "expected the name of an agent backend")
        try:
            AGENT_BACKENDS.target(name)
        except UnknownNameError as exc:
            raise SpecError.at("/backend/name", str(exc)) from exc
        if not isinstance(backend.get("options", {}), dict):
            raise SpecError.at("/backend/options", "expected an object")
        backend = {"name": name, "options": dict(backend.get("options", {}))}
        if problem is not None:
            try:
                problem = resolve_problem_id(problem)
            except UnknownNameError as exc:
                raise SpecError.at("/problem", str(exc)) from exc
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        session = AgentSession(id=new_id(), created_at=now, backend=backend, problem=problem)
        with self._lock:
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> AgentSession:
        """The session, with its finished turn applied; JobNotFoundError when unknown."""
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise JobNotFoundError("agent session", session_id)
        self.refresh(session)
        return session

    def refresh(self, session: AgentSession) -> None:
        """Apply the session's running turn once its job has ended."""
        with session.lock:
            if session.pending_turn is None:
                return
            record = self.store.get_job(session.pending_turn)
            if not record.status.terminal:
                return
            session.pending_turn = None
            result = record.result or {}
            if record.status is JobStatus.SUCCEEDED and result.get("kind") == "agent-turn":
                session.problem = result.get("problem")
                session.draft = dict(result.get("draft") or {})
                session.spec = result.get("spec")
                session.ready = bool(result.get("ready"))
                session.missing = list(result.get("missing") or [])
                session.errors = list(result.get("errors") or [])
                session.messages.append({"role": "assistant", "content": str(result.get("reply", ""))})
                session.last_error = None
            else:
                session.last_error = record.error or result.get("error") or {"type": record.status.value}

    def say(self, session_id: str, content: str) -> tuple[AgentSession, str]:
        """Add the user's message and start the turn that answers it; the session and the
        turn's job id. SessionBusyError while another turn runs."""
        if not content.strip():
            raise SpecError.at("/content", "the message is empty")
        if len(content) > MAX_MESSAGE_CHARS:
            raise SpecError.at("/content", f"the message is longer than {MAX_MESSAGE_CHARS} characters")
        session = self.get(session_id)
        with session.lock:
            if session.pending_turn is not None:
                raise SessionBusyError(f"session {session.id} is still answering (turn job {session.pending_turn})")
            messages = [*session.messages, {"role": "user", "content": content}]
            turn: JsonDict = {
                "agent_turn": {
                    "session_id": session.id,
                    "messages": messages,
                    "problem": session.problem,
                    "draft": session.draft,
                    "backend": session.backend,
                },
                "tags": [TURN_TAG, f"agent-session:{session.id}"],
            }
            record, _ = submit_job(self.store, self.executor, turn)
            session.messages = messages
            session.pending_turn = record.id
            session.turns.append(record.id)
            return session, record.id

    def confirm(self, session_id: str, *, expected_spec_sha256: str | None = None) -> tuple[AgentSession, str]:
        """Submit the session's spec as a design job (the user's explicit confirmation); the
        session and the job id. SessionBusyError when a turn is running or the spec is not ready,
        or not the one ``expected_spec_sha256`` names. Confirming the same spec twice gives the
        same job (idempotency key)."""
        session = self.get(session_id)
        with session.lock:
            if session.pending_turn is not None:
                raise SessionBusyError("a turn is still running: confirm once its reply has come")
            if not session.ready or session.spec is None:
                what = ", ".join(session.missing) or "; ".join(
                    f"{e['pointer']}: {e['message']}" for e in session.errors
                )
                raise SessionBusyError(f"there is no valid spec to confirm yet ({what or 'nothing drafted'})")
            digest = spec_sha256(session.spec)
            if expected_spec_sha256 is not None and expected_spec_sha256 != digest:
                raise SessionBusyError("the spec changed since it was shown: read it again and confirm that one")
            record, _ = submit_job(
                self.store, self.executor, session.spec, idempotency_key=f"agent-{session.id}-{str(digest)[:32]}"
            )
            if record.id not in session.submitted:
                session.submitted.append(record.id)
            return session, record.id

    def snapshot(self, session_id: str) -> Any:
        return self.get(session_id).public()
