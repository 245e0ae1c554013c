"""The SSE stream over a real HTTP server (uvicorn in a thread): events stored while a
client listens arrive promptly, idle streams get keep-alive comments, the stream ends after
the terminal status, and the server stops polling once the client goes away."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from api_helpers import SMALL_SPEC

from designsvc.api import create_app
from designsvc.api.sse import EventStreamSettings
from designsvc.core.jobs import JobRecord
from designsvc.executors.local import LocalExecutor
from designsvc.runtime import ServiceSettings
from designsvc.store.sqlite import SqliteJobStore


@pytest.fixture(scope="module")
def base_url(settings: ServiceSettings, store: SqliteJobStore, executor: LocalExecutor) -> Iterator[str]:
    app = create_app(
        settings, store=store, executor=executor, event_stream=EventStreamSettings(poll_s=0.05, keepalive_s=0.3)
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def idle_job(store: SqliteJobStore) -> Iterator[JobRecord]:
    """A queued job no executor will run: its stream stays open until we end it."""
    record, _ = store.create_job(spec=dict(SMALL_SPEC), problem="assignment@1", tags=["never-run"])
    yield record
    store.request_cancel(record.id)


def _lines(response: httpx.Response) -> Iterator[str]:
    yield from response.iter_lines()


def _until(lines: Iterator[str], wanted: str, timeout_s: float = 10.0) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    for line in lines:
        seen.append(line)
        if line == wanted:
            return seen
        assert time.monotonic() < deadline, seen
    raise AssertionError(f"stream ended before {wanted!r}: {seen}")


def test_live_events_keepalive_and_end(base_url: str, store: SqliteJobStore, idle_job: JobRecord) -> None:
    with (
        httpx.Client(base_url=base_url, timeout=10) as http,
        http.stream("GET", f"/v1/jobs/{idle_job.id}/events") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = _lines(response)
        _until(lines, ": keepalive")  # nothing stored yet: the stream keeps the line alive
        event = store.append_event(idle_job.id, "log", {"message": "hello"})
        seen = _until(lines, "event: log", timeout_s=5)
        assert f"id: {event.id}" in seen
        store.request_cancel(idle_job.id)  # queued -> canceled: the terminal status event
        tail = _until(lines, "event: end", timeout_s=5)
        assert "event: status" in tail
        assert next(lines).startswith("data: ")
        assert list(lines) == [""]  # and the server closes the stream


def test_the_server_stops_polling_when_the_client_leaves(
    base_url: str, store: SqliteJobStore, idle_job: JobRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    read_events = store.read_events

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return read_events(*args, **kwargs)

    monkeypatch.setattr(store, "read_events", counting)
    with (
        httpx.Client(base_url=base_url, timeout=10) as http,
        http.stream("GET", f"/v1/jobs/{idle_job.id}/events") as response,
    ):
        _until(_lines(response), ": keepalive")
    assert calls > 0
    time.sleep(0.5)
    settled = calls
    time.sleep(0.5)
    assert calls == settled, "the stream kept polling after the client left"
