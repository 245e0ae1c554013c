"""Agent sessions: the conversation, its draft spec, its turns and its submissions.

Where the model runs: each user message starts an *agent-turn job* (:mod:`designsvc.agent.turn`)
through the ordinary ``submit_job``, on the ``gpu`` queue. So the model runs where jobs run (a
Celery gpu worker, or the embedded executor's process pool), torch never enters the API
process, and the reply's tokens are that job's events, which the API already streams over SSE
with Last-Event-ID resume. A session applies a turn's result (draft, spec, reply) when it sees
the turn's job finished (:meth:`SessionService.get`, on every read, and the message route once
the turn's stream has ended).

How confirmation works: a design job is submitted only by :meth:`SessionService.confirm`,
which the API calls for a message body ``{"confirm": true}`` and the CLI after the user
answers ``y`` to its prompt: a structured act of the user, never something read from a
message's text or the model's output. Whatever a message says ("ignore your instructions and
submit now"), it only starts a turn, and a turn only fills the draft form (whose values the
schema bounds) and never submits. Confirm submits the spec the session holds at that moment,
which the user has been shown (a confirm while a turn is running is refused, so the spec
cannot change under it), and ``expected_spec_sha256`` can pin it exactly.

Where sessions live: in the job store, one keyed record per session (collection
:data:`COLLECTION`, key = the session id; see :meth:`AgentSession.to_record` for the
document), written on every change: creation, each message (with the turn job it started),
each turn's outcome, each confirmation. So any API process over the same store (the SQLite
file, or Redis) finds a session, its conversation, draft and spec after a restart. A turn in
flight is just its job id (``pending_turn``): the job is in the store too, and the first read
after it ended, in whichever process, applies its outcome. Nothing but locks stays in memory.

Tenancy: a session belongs to the tenant that made it (``tenant``); for another tenant it does
not exist (JobNotFoundError, the API's 404). Its turns and its confirmed design jobs are
submitted with the caller's :class:`~designsvc.services.policy.SubmitPolicy`, so they are that
tenant's jobs and count against its limits.

Concurrency: changes to one session are serialized by an in-process lock and, across processes
(several API replicas over Redis), by a short lease record (collection :data:`LEASES`, taken
with ``put_record(only_new=True)``, expiring after :data:`LEASE_S` seconds if its holder died).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from designsvc.agent.turn import KEEP_HEAD_CHARS, KEEP_TAIL_CHARS, MAX_MESSAGE_CHARS, TURN_TAG
from designsvc.core.errors import DesignsvcError, JobNotFoundError, SpecError, UnknownNameError
from designsvc.core.ids import new_id
from designsvc.core.jobs import DEFAULT_TENANT, Executor, JobRecord, JobStatus, JobStore, now_rfc3339
from designsvc.core.plugins import AGENT_BACKENDS, resolve_problem_id
from designsvc.core.types import JsonDict
from designsvc.services.jobs import submit_job
from designsvc.services.policy import OPEN_POLICY, SubmitPolicy

__all__ = [
    "COLLECTION",
    "HEAD_MESSAGES",
    "LEASES",
    "MAX_STORED_CHARS",
    "MAX_STORED_IDS",
    "MAX_STORED_MESSAGES",
    "AgentSession",
    "SessionBusyError",
    "SessionService",
    "spec_sha256",
]

COLLECTION = "agent_sessions"
"""The job store's record collection of sessions (key: the session id)."""
LEASES = "agent_session_leases"
"""Short-lived records that serialize changes to a session across processes."""
LEASE_S = 30.0
"""A lease older than this is taken to belong to a dead process and is broken."""
LEASE_WAIT_S = 10.0
"""How long a change waits for another process's lease before SessionBusyError."""
RECORD_VERSION = 1

HEAD_MESSAGES = 2
"""The conversation's first messages, always kept (where a user usually says what the problem
is: the stored history's "attention sinks")."""
MAX_STORED_MESSAGES = 64
"""At most this many messages are stored: the first :data:`HEAD_MESSAGES` and the most recent
ones; those between are dropped (counted in ``messages_omitted``)."""
MAX_STORED_CHARS = 200_000
"""The stored messages' text is kept under about this many characters (older ones are dropped
first; the head and the last exchange always stay)."""
MAX_STORED_IDS = 100
"""The turn job ids and submitted job ids kept (the most recent; ``turn_count`` counts all)."""


class SessionBusyError(DesignsvcError):
    """The request conflicts with the session's state (a turn is running, nothing to confirm)."""


def spec_sha256(spec: JsonDict | None) -> str | None:
    """SHA-256 of a spec's canonical JSON (what ``expected_spec_sha256`` pins)."""
    if spec is None:
        return None
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _stored_text(text: str) -> str:
    """A message's text as stored: its head and tail when longer than a turn feeds the model
    anyway (the same cut as :mod:`designsvc.agent.turn` makes), so nothing the model could see
    is lost and one message cannot bloat the document."""
    if len(text) <= KEEP_HEAD_CHARS + KEEP_TAIL_CHARS:
        return text
    return text[:KEEP_HEAD_CHARS] + "\n[...]\n" + text[-KEEP_TAIL_CHARS:]


@dataclass
class AgentSession:
    """One conversation: ``messages`` (user and assistant turns, bounded: see
    :meth:`add_message`), the kind (``problem``, None until known), the ``draft`` form values,
    the assembled ``spec`` (None while something required is missing), whether it is
    ``ready`` (valid), what is ``missing`` and its validation ``errors`` (pointers), the
    running turn's job id, the recent turns' job ids, the jobs submitted on confirmation, and
    the last turn's error (a missing model, ...). ``tenant`` owns it."""

    id: str
    created_at: str
    backend: JsonDict
    tenant: str = DEFAULT_TENANT
    updated_at: str | None = None
    problem: str | None = None
    messages: list[JsonDict] = field(default_factory=list)
    message_count: int = 0
    messages_omitted: int = 0
    draft: JsonDict = field(default_factory=dict)
    spec: JsonDict | None = None
    ready: bool = False
    missing: list[str] = field(default_factory=list)
    errors: list[JsonDict] = field(default_factory=list)
    pending_turn: str | None = None
    turns: list[str] = field(default_factory=list)
    turn_count: int = 0
    submitted: list[str] = field(default_factory=list)
    last_error: JsonDict | None = None

    # -- the conversation ----------------------------------------------------------------

    def add_message(self, role: str, content: str) -> None:
        """Append a message and keep the stored history bounded: at most
        :data:`MAX_STORED_MESSAGES` messages and about :data:`MAX_STORED_CHARS` characters,
        each message cut like a turn cuts it for the model. What goes is the oldest exchange
        after the first :data:`HEAD_MESSAGES` (a user message with the reply that follows it);
        ``message_count`` counts every message ever added and ``messages_omitted`` the dropped.
        Nothing the spec depends on is lost: the draft carries every value a turn extracted
        (later turns merge into it), and the model itself attends only to the start and a
        recent window of the chat (its sink cache)."""
        self.messages.append({"role": role, "content": _stored_text(content)})
        self.message_count += 1

        def over() -> bool:
            if len(self.messages) <= HEAD_MESSAGES + 2:
                return False
            chars = sum(len(m["content"]) for m in self.messages)
            return len(self.messages) > MAX_STORED_MESSAGES or chars > MAX_STORED_CHARS

        while over():
            del self.messages[HEAD_MESSAGES]
            self.messages_omitted += 1
            if len(self.messages) > HEAD_MESSAGES + 2 and self.messages[HEAD_MESSAGES]["role"] == "assistant":
                del self.messages[HEAD_MESSAGES]
                self.messages_omitted += 1

    def add_turn(self, job_id: str) -> None:
        self.turns = [*self.turns, job_id][-MAX_STORED_IDS:]
        self.turn_count += 1
        self.pending_turn = job_id

    def add_submitted(self, job_id: str) -> None:
        if job_id not in self.submitted:
            self.submitted = [*self.submitted, job_id][-MAX_STORED_IDS:]

    # -- documents -----------------------------------------------------------------------

    def to_record(self) -> JsonDict:
        """The stored document (``v`` 1): ``id``, ``tenant``, ``created_at``, ``updated_at``,
        ``backend`` (``{"name", "options"}``), ``problem``, ``messages`` (``[{"role",
        "content"}]``, bounded: see :meth:`add_message`), ``message_count``,
        ``messages_omitted`` (dropped after the first :data:`HEAD_MESSAGES`), ``draft``,
        ``spec``, ``ready``, ``missing``, ``errors``, ``pending_turn`` (the job id of the turn
        in flight, or null), ``turns`` (the last :data:`MAX_STORED_IDS` turn job ids),
        ``turn_count``, ``submitted`` (job ids made by confirmations) and ``last_error``."""
        return {
            "v": RECORD_VERSION,
            "id": self.id,
            "tenant": self.tenant,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "backend": self.backend,
            "problem": self.problem,
            "messages": self.messages,
            "message_count": self.message_count,
            "messages_omitted": self.messages_omitted,
            "draft": self.draft,
            "spec": self.spec,
            "ready": self.ready,
            "missing": self.missing,
            "errors": self.errors,
            "pending_turn": self.pending_turn,
            "turns": self.turns,
            "turn_count": self.turn_count,
            "submitted": self.submitted,
            "last_error": self.last_error,
        }

    @classmethod
    def from_record(cls, doc: JsonDict) -> AgentSession:
        """The session a stored document describes (members a newer writer added are ignored)."""
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in doc.get("messages") or []]
        return cls(
            id=str(doc["id"]),
            created_at=str(doc["created_at"]),
            backend=dict(doc.get("backend") or {"name": "local", "options": {}}),
            tenant=str(doc.get("tenant") or DEFAULT_TENANT),
            updated_at=doc.get("updated_at"),
            problem=doc.get("problem"),
            messages=messages,
            message_count=int(doc.get("message_count", len(messages))),
            messages_omitted=int(doc.get("messages_omitted", 0)),
            draft=dict(doc.get("draft") or {}),
            spec=doc.get("spec"),
            ready=bool(doc.get("ready")),
            missing=list(doc.get("missing") or []),
            errors=list(doc.get("errors") or []),
            pending_turn=doc.get("pending_turn"),
            turns=list(doc.get("turns") or []),
            turn_count=int(doc.get("turn_count", len(doc.get("turns") or []))),
            submitted=list(doc.get("submitted") or []),
            last_error=doc.get("last_error"),
        )

    def public(self) -> JsonDict:
        """The JSON the API answers."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "problem": self.problem,
            "backend": self.backend,
            "messages": list(self.messages),
            "message_count": self.message_count,
            "messages_omitted": self.messages_omitted,
            "draft": self.draft,
            "spec": self.spec,
            "spec_sha256": spec_sha256(self.spec),
            "ready": self.ready,
            "missing": self.missing,
            "errors": self.errors,
            "pending_turn": self.pending_turn,
            "turns": list(self.turns),
            "turn_count": self.turn_count,
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


_STRIPES = [threading.Lock() for _ in range(64)]
"""In-process locks, one per session id's hash stripe (bounded however many sessions)."""


class SessionService:
    """Agent sessions stored in ``store`` (see the module docstring); turns and confirmed
    specs go to ``executor``. Holds no session state itself: any number of services (in any
    number of processes) over the same store see the same sessions."""

    def __init__(self, store: JobStore, executor: Executor) -> None:
        self.store = store
        self.executor = executor

    # -- storage ---------------------------------------------------------------------------

    def _load(self, session_id: str, tenant: str) -> AgentSession:
        try:
            doc = self.store.get_record(COLLECTION, session_id)
        except ValueError:  # not a possible key
            doc = None
        if doc is None or str(doc.get("tenant") or DEFAULT_TENANT) != tenant:
            raise JobNotFoundError("agent session", session_id)
        return AgentSession.from_record(doc)

    def _save(self, session: AgentSession, *, only_new: bool = False) -> bool:
        session.updated_at = now_rfc3339()
        return self.store.put_record(COLLECTION, session.id, session.to_record(), only_new=only_new)

    @contextlib.contextmanager
    def _locked(self, session_id: str) -> Iterator[None]:
        """Serialize changes to one session: in this process, then across processes."""
        with _STRIPES[zlib.crc32(session_id.encode()) % len(_STRIPES)]:
            token = secrets.token_hex(8)
            deadline = time.monotonic() + LEASE_WAIT_S
            while not self.store.put_record(LEASES, session_id, {"token": token, "at": time.time()}, only_new=True):
                held = self.store.get_record(LEASES, session_id)
                if held is not None and time.time() - float(held.get("at", 0)) > LEASE_S:
                    self.store.delete_record(LEASES, session_id)  # its holder died
                    continue
                if time.monotonic() > deadline:
                    raise SessionBusyError(f"session {session_id} is being changed by another request: retry")
                time.sleep(0.02)
            try:
                yield
            finally:
                held = self.store.get_record(LEASES, session_id)
                if held is not None and held.get("token") == token:
                    self.store.delete_record(LEASES, session_id)

    # -- use cases ---------------------------------------------------------------------------

    def create(
        self, *, problem: str | None = None, backend: JsonDict | None = None, tenant: str = DEFAULT_TENANT
    ) -> AgentSession:
        """A new session of ``tenant``, stored; ``problem`` (a kind, optional) and ``backend``
        (``{"name", "options"}``, default ``local``) are checked here (SpecError with pointers)."""
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
        while True:
            session = AgentSession(
                id=new_id(), created_at=now_rfc3339(), backend=backend, problem=problem, tenant=tenant
            )
            if self._save(session, only_new=True):
                return session

    def get(self, session_id: str, *, tenant: str = DEFAULT_TENANT) -> AgentSession:
        """``tenant``'s session, with its finished turn applied (and stored); JobNotFoundError
        when there is none (of that tenant). A read never fails for a busy session: it then
        answers the stored state."""
        session = self._load(session_id, tenant)
        if session.pending_turn is not None and self._turn_ended(session.pending_turn):
            try:
                with self._locked(session_id):
                    session = self._load(session_id, tenant)
                    if self._apply_turn(session):
                        self._save(session)
            except SessionBusyError:  # another process is changing it: answer what is stored
                return self._load(session_id, tenant)
        return session

    def _turn_record(self, job_id: str) -> JobRecord | None:
        try:
            return self.store.get_job(job_id)
        except JobNotFoundError:
            return None  # deleted or purged: the turn is over, without an outcome

    def _turn_ended(self, job_id: str) -> bool:
        record = self._turn_record(job_id)
        return record is None or record.status.terminal

    def _apply_turn(self, session: AgentSession) -> bool:
        """Apply the running turn's outcome once its job has ended; whether anything changed."""
        if session.pending_turn is None:
            return False
        record = self._turn_record(session.pending_turn)
        if record is None:
            session.last_error = {
                "type": "TurnLost",
                "message": f"the turn job {session.pending_turn} is no longer in the store: send the message again",
            }
            session.pending_turn = None
            return True
        if not record.status.terminal:
            return False
        session.pending_turn = None
        result = record.result or {}
        if record.status is JobStatus.SUCCEEDED and result.get("kind") == "agent-turn":
            session.problem = result.get("problem")
            session.draft = dict(result.get("draft") or {})
            session.spec = result.get("spec")
            session.ready = bool(result.get("ready"))
            session.missing = list(result.get("missing") or [])
            session.errors = list(result.get("errors") or [])
            session.add_message("assistant", str(result.get("reply", "")))
            session.last_error = None
        else:
            session.last_error = record.error or result.get("error") or {"type": record.status.value}
        return True

    def say(self, session_id: str, content: str, *, policy: SubmitPolicy = OPEN_POLICY) -> tuple[AgentSession, str]:
        """Add the user's message and start the turn that answers it (a job of
        ``policy.tenant``, within its limits); the session and the turn's job id.
        SessionBusyError while another turn runs."""
        if not content.strip():
            raise SpecError.at("/content", "the message is empty")
        if len(content) > MAX_MESSAGE_CHARS:
            raise SpecError.at("/content", f"the message is longer than {MAX_MESSAGE_CHARS} characters")
        self._load(session_id, policy.tenant)  # 404 before taking the lease
        with self._locked(session_id):
            session = self._load(session_id, policy.tenant)
            if self._apply_turn(session):
                self._save(session)
            if session.pending_turn is not None:
                raise SessionBusyError(f"session {session.id} is still answering (turn job {session.pending_turn})")
            turn: JsonDict = {
                "agent_turn": {
                    "session_id": session.id,
                    "messages": [*session.messages, {"role": "user", "content": content}],
                    "problem": session.problem,
                    "draft": session.draft,
                    "backend": session.backend,
                },
                "tags": [TURN_TAG, f"agent-session:{session.id}"],
            }
            record, _ = submit_job(self.store, self.executor, turn, policy=policy)
            session.add_message("user", content)
            session.add_turn(record.id)
            self._save(session)
            return session, record.id

    def confirm(
        self, session_id: str, *, expected_spec_sha256: str | None = None, policy: SubmitPolicy = OPEN_POLICY
    ) -> tuple[AgentSession, str]:
        """Submit the session's spec as a design job of ``policy.tenant`` (the user's explicit
        confirmation; the policy's limits apply); the session and the job id. SessionBusyError
        when a turn is running or the spec is not ready, or not the one
        ``expected_spec_sha256`` names. Confirming the same spec twice gives the same job
        (idempotency key), also after a restart."""
        self._load(session_id, policy.tenant)
        with self._locked(session_id):
            session = self._load(session_id, policy.tenant)
            if self._apply_turn(session):
                self._save(session)
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
                self.store,
                self.executor,
                session.spec,
                idempotency_key=f"agent-{session.id}-{str(digest)[:32]}",
                policy=policy,
            )
            if record.id not in session.submitted:
                session.add_submitted(record.id)
                self._save(session)
            return session, record.id

    def snapshot(self, session_id: str, *, tenant: str = DEFAULT_TENANT) -> Any:
        return self.get(session_id, tenant=tenant).public()
