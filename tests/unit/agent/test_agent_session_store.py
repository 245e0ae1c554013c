"""Agent sessions live in the job store: a new app (a restarted API) over the same SQLite file
finds them, their conversation, draft and spec, applies a turn that was in flight, and confirms;
a session belongs to its tenant (another one gets 404) and its jobs are that tenant's; the
stored document stays bounded however long the chat."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from fakes import HoldingExecutor, ThreadExecutor, register
from fastapi.testclient import TestClient

import designsvc.agent.sessions as sessions_module
from designsvc.agent.sessions import (
    COLLECTION,
    HEAD_MESSAGES,
    LEASES,
    MAX_STORED_CHARS,
    MAX_STORED_MESSAGES,
    AgentSession,
    SessionBusyError,
    SessionService,
)
from designsvc.api import create_app
from designsvc.api.sse import EventStreamSettings
from designsvc.core.errors import JobNotFoundError
from designsvc.core.jobs import JobStatus, JobStore
from designsvc.runtime import ServiceSettings
from designsvc.services.keys import create_key
from designsvc.services.policy import SubmitPolicy
from designsvc.store.redis import RedisJobStore
from designsvc.store.sqlite import SqliteJobStore

ASK = "Solve the builtin gap-10x3 with highs, time limit 30 seconds."


@contextmanager
def api(folder: Path, *, recover: bool | None = None, **settings: Any) -> Iterator[tuple[TestClient, SqliteJobStore]]:
    """An app over the store file in ``folder`` with its own store object and executor (one
    'process' of the API); closed at exit, as in a restart."""
    register()
    store = SqliteJobStore(folder / "jobs.sqlite3")
    executor = ThreadExecutor(store)
    app = create_app(
        ServiceSettings(data_dir=folder, workers=1, **settings),
        store=store,
        executor=executor,
        recover=recover,
        event_stream=EventStreamSettings(poll_s=0.02),
    )
    try:
        with TestClient(app) as client:
            yield client, store
    finally:
        executor.shutdown()
        store.close()


def _events(text: str) -> list[tuple[str, Any]]:
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line and not line.startswith(":"))
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


def _record(store: JobStore, sid: str) -> dict[str, Any]:
    doc = store.get_record(COLLECTION, sid)
    assert doc is not None
    return doc


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _create(http: TestClient, key: str | None = None, **body: Any) -> dict[str, Any]:
    payload = {"backend": {"name": "scripted-test"}, "problem": "assignment@1", **body}
    response = http.post("/v1/agent/sessions", json=payload, headers=_auth(key))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _say(http: TestClient, sid: str, content: str, key: str | None = None) -> dict[str, Any]:
    response = http.post(f"/v1/agent/sessions/{sid}/messages", json={"content": content}, headers=_auth(key))
    assert response.status_code == 200, response.text
    kind, session = _events(response.text)[-1]
    assert kind == "session"
    return dict(session)


def test_a_session_survives_a_restart_and_is_confirmed_after_it(tmp_path: Path) -> None:
    with api(tmp_path) as (http, store):
        sid = _create(http)["id"]
        after_turn = _say(http, sid, ASK)
        assert after_turn["pending_turn"] is None
        assert after_turn["ready"] is True, after_turn
        spec_a = http.get(f"/v1/agent/sessions/{sid}/spec").json()
        stored = store.get_record(COLLECTION, sid)
        assert stored is not None
        assert stored["messages"][-1]["role"] == "assistant"
    # a new process over the same file: nothing of app A is left in memory
    with api(tmp_path) as (http, store):
        session = http.get(f"/v1/agent/sessions/{sid}").json()
        for member in ("messages", "draft", "spec", "spec_sha256", "ready", "problem", "turns", "created_at"):
            assert session[member] == after_turn[member], member
        assert [m["role"] for m in session["messages"]] == ["user", "assistant"]
        assert session["messages"][0]["content"] == ASK
        assert http.get(f"/v1/agent/sessions/{sid}/spec").json() == spec_a
        confirmed = http.post(
            f"/v1/agent/sessions/{sid}/messages", json={"confirm": True, "spec_sha256": spec_a["spec_sha256"]}
        )
        assert confirmed.status_code == 202, confirmed.text
        job_id = confirmed.json()["job"]["id"]
        assert store.get_job(job_id).spec["instance_ref"] == "builtin:gap-10x3"
    with api(tmp_path) as (http, _):
        assert http.get(f"/v1/agent/sessions/{sid}/spec").json()["submitted_jobs"] == [job_id]
        again = http.post(f"/v1/agent/sessions/{sid}/messages", json={"confirm": True})
        assert again.json()["job"]["id"] == job_id  # the same spec confirmed again: the same job


def test_a_turn_in_flight_at_the_restart_is_applied_after_it(tmp_path: Path) -> None:
    register()
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    holding = HoldingExecutor()  # the process goes down before its worker runs the turn
    service = SessionService(store, holding)
    session = service.create(problem="assignment@1", backend={"name": "scripted-test"})
    _, turn_id = service.say(session.id, ASK)
    assert holding.submitted == [turn_id]
    store.close()
    with api(tmp_path, recover=True) as (http, store_b):  # recovery hands the queued turn over
        deadline = time.monotonic() + 30
        while True:
            state = http.get(f"/v1/agent/sessions/{session.id}").json()
            if state["pending_turn"] is None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert state["pending_turn"] is None
        assert store_b.get_job(turn_id).status is JobStatus.SUCCEEDED
        assert [m["role"] for m in state["messages"]] == ["user", "assistant"]
        assert state["ready"] is True
        assert state["spec"]["instance_ref"] == "builtin:gap-10x3"
        stored = store_b.get_record(COLLECTION, session.id)
        assert stored is not None
        assert stored["pending_turn"] is None


def test_sessions_belong_to_their_tenant(tmp_path: Path) -> None:
    with api(tmp_path, max_unfinished_jobs=2) as (http, store):
        acme = create_key(store, tenant="acme", scopes=["read", "submit"]).key
        globex = create_key(store, tenant="globex", scopes=["read", "submit"]).key
        assert http.post("/v1/agent/sessions", json={}).status_code == 401  # keys exist: one is needed
        sid = _create(http, acme)["id"]
        after = _say(http, sid, ASK, acme)
        assert after["tenant"] == "acme"
        turn_id = after["turns"][-1]
        assert store.get_job(turn_id).tenant == "acme"
        assert http.get(f"/v1/jobs/{turn_id}/events", headers=_auth(acme)).status_code == 200
        assert http.get(f"/v1/jobs/{turn_id}", headers=_auth(globex)).status_code == 404
        for method, path, body in (
            ("GET", f"/v1/agent/sessions/{sid}", None),
            ("GET", f"/v1/agent/sessions/{sid}/spec", None),
            ("POST", f"/v1/agent/sessions/{sid}/messages", {"content": "make it highs"}),
            ("POST", f"/v1/agent/sessions/{sid}/messages", {"confirm": True}),
        ):
            response = http.request(method, path, json=body, headers=_auth(globex))
            assert response.status_code == 404, (method, path, response.text)
            assert sid in response.json()["detail"]
        assert len(_record(store, sid)["messages"]) == 2  # globex changed nothing
        # the confirmation is acme's job, under acme's limits
        for _ in range(2):  # acme at its cap of two unfinished jobs
            store.create_job(spec={"problem": "assignment@1"}, problem="assignment@1", tenant="acme")
        capped = http.post(f"/v1/agent/sessions/{sid}/messages", json={"confirm": True}, headers=_auth(acme))
        assert capped.status_code == 429, capped.text
        refused_turn = http.post(f"/v1/agent/sessions/{sid}/messages", json={"content": "again"}, headers=_auth(acme))
        assert refused_turn.status_code == 429
        assert http.get(f"/v1/agent/sessions/{sid}", headers=_auth(acme)).json()["submitted_jobs"] == []
        globex_sid = _create(http, globex)["id"]
        _say(http, globex_sid, ASK, globex)
        confirmed = http.post(
            f"/v1/agent/sessions/{globex_sid}/messages", json={"confirm": True}, headers=_auth(globex)
        )
        assert confirmed.status_code == 202, confirmed.text
        assert store.get_job(confirmed.json()["job"]["id"]).tenant == "globex"


def test_the_stored_history_is_bounded() -> None:
    session = AgentSession(id="s", created_at="now", backend={"name": "local", "options": {}})
    for k in range(500):
        session.add_message("user", f"message {k}")
        session.add_message("assistant", f"reply {k}")
    assert session.message_count == 1000
    assert len(session.messages) <= MAX_STORED_MESSAGES
    assert session.messages_omitted == 1000 - len(session.messages)
    assert [m["content"] for m in session.messages[:HEAD_MESSAGES]] == ["message 0", "reply 0"]
    assert session.messages[-1]["content"] == "reply 499"
    assert session.messages[HEAD_MESSAGES]["role"] == "user"  # whole exchanges were dropped
    huge = AgentSession(id="h", created_at="now", backend={"name": "local", "options": {}})
    for _ in range(40):
        huge.add_message("user", "x" * 100_000)  # each cut to a turn's head and tail
        huge.add_message("assistant", "ok")
    total = sum(len(m["content"]) for m in huge.messages)
    assert total <= MAX_STORED_CHARS
    assert max(len(m["content"]) for m in huge.messages) < 30_000
    assert len(json.dumps(huge.to_record())) < MAX_STORED_CHARS + 10_000
    assert AgentSession.from_record(huge.to_record()) == huge


def test_a_lost_turn_job_and_a_held_lease(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register()
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    try:
        service = SessionService(store, HoldingExecutor())
        session = service.create(backend={"name": "scripted-test"}, tenant="acme")
        with pytest.raises(JobNotFoundError):
            service.get(session.id)  # the default tenant does not see acme's session
        doc = session.to_record()
        doc["pending_turn"] = "0190a0a0-0000-7000-8000-000000000000"  # purged from the store
        store.put_record(COLLECTION, session.id, doc)
        lost = service.get(session.id, tenant="acme")
        assert lost.pending_turn is None
        assert lost.last_error is not None
        assert lost.last_error["type"] == "TurnLost"
        # another process holds the session's lease: a change waits, then gives up
        monkeypatch.setattr(sessions_module, "LEASE_WAIT_S", 0.2)
        store.put_record(LEASES, session.id, {"token": "other", "at": time.time()})
        with pytest.raises(SessionBusyError, match="another request"):
            service.say(session.id, "hello", policy=SubmitPolicy(tenant="acme"))
        # a lease left by a dead process expires
        store.put_record(LEASES, session.id, {"token": "dead", "at": time.time() - 3600})
        _, turn_id = service.say(session.id, "hello", policy=SubmitPolicy(tenant="acme"))
        assert store.get_record(LEASES, session.id) is None
        assert store.get_job(turn_id).tenant == "acme"
        assert _record(store, session.id)["pending_turn"] == turn_id
    finally:
        store.close()


REDIS_HOST = os.environ.get("DESIGNSVC_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("DESIGNSVC_TEST_REDIS_PORT", "6379"))
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/13"  # the test database of the store suite


@pytest.mark.xdist_group("redis-db13")
def test_a_session_survives_a_restart_over_redis() -> None:
    """The same over Redis (the server the store suite uses; a Redis that does not answer
    fails this test, as it fails theirs): two store objects over one key prefix."""
    register()
    prefix = f"agent-test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=13, socket_connect_timeout=5)
    try:
        first = RedisJobStore(REDIS_URL, prefix=prefix)
        executor = ThreadExecutor(first)
        service = SessionService(first, executor)
        session = service.create(problem="assignment@1", backend={"name": "scripted-test"}, tenant="acme")
        acme = SubmitPolicy(tenant="acme")
        _, turn_id = service.say(session.id, ASK, policy=acme)
        executor.shutdown()  # the turn ran; nobody read the session since
        first.close()
        second = RedisJobStore(REDIS_URL, prefix=prefix)
        try:
            again = SessionService(second, HoldingExecutor())
            with pytest.raises(JobNotFoundError):
                again.get(session.id, tenant="globex")
            state = again.get(session.id, tenant="acme")
            assert state.pending_turn is None
            assert state.turns == [turn_id]
            assert [m["role"] for m in state.messages] == ["user", "assistant"]
            assert state.ready
            _, job_id = again.confirm(session.id, policy=acme)
            assert second.get_job(job_id).tenant == "acme"
            assert _record(second, session.id)["submitted"] == [job_id]
        finally:
            second.close()
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
