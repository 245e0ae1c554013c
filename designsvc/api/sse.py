"""A job's events as a Server-Sent Events stream (``text/event-stream``).

Each stored :class:`~designsvc.core.jobs.JobEvent` becomes one SSE event: ``id:`` the event
id (counting from 1 per job), ``event:`` its type (``stage``, ``progress``, ``status``,
``log``), ``data:`` one line of JSON ``{"id", "type", "at", "data"}``. The stream polls the
store for new events, and ends after the job's terminal ``status`` event with
``event: end`` (``data: {"job_id", "status"}``, no id, so a client's Last-Event-ID stays on
the last stored event). While nothing happens it sends a ``: keepalive`` comment. It stops
as soon as the client disconnects.

An ``EventSource`` reconnects after any end of stream: clients close it on ``end``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool

from designsvc.core.jobs import JobEvent, JobStatus, JobStore

__all__ = ["EventStreamSettings", "format_end", "format_event", "job_event_stream", "json_safe"]

_READ_LIMIT = 1000
_TERMINAL = frozenset(s.value for s in JobStatus if s.terminal)
KEEPALIVE = b": keepalive\n\n"


@dataclass(frozen=True)
class EventStreamSettings:
    """``poll_s``: seconds between reads of the store; ``keepalive_s``: seconds of silence
    after which a ``: keepalive`` comment is sent (proxies drop idle connections)."""

    poll_s: float = 0.2
    keepalive_s: float = 15.0

    def __post_init__(self) -> None:
        if not (self.poll_s > 0 and self.keepalive_s > 0):
            raise ValueError("poll_s and keepalive_s must be > 0")


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN/Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def format_event(event: JobEvent) -> bytes:
    """One stored event in the SSE wire format."""
    data = json.dumps(
        json_safe({"id": event.id, "type": event.type, "at": event.at, "data": event.data}),
        separators=(",", ":"),
        ensure_ascii=False,
    )
    kind = event.type.replace("\r", " ").replace("\n", " ")
    return f"id: {event.id}\nevent: {kind}\ndata: {data}\n\n".encode()


def format_end(job_id: str, status: JobStatus) -> bytes:
    """The closing ``end`` event."""
    data = json.dumps({"job_id": job_id, "status": status.value}, separators=(",", ":"))
    return f"event: end\ndata: {data}\n\n".encode()


def _read_all(store: JobStore, job_id: str, after: int) -> list[JobEvent]:
    events: list[JobEvent] = []
    while True:
        batch = store.read_events(job_id, after=after, limit=_READ_LIMIT)
        events.extend(batch)
        if len(batch) < _READ_LIMIT:
            return events
        after = batch[-1].id


def _terminal_status(event: JobEvent) -> JobStatus | None:
    if event.type != "status":
        return None
    status = event.data.get("status")
    return JobStatus(status) if status in _TERMINAL else None


async def job_event_stream(
    store: JobStore,
    job_id: str,
    *,
    after: int,
    settings: EventStreamSettings,
    is_disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """The SSE byte stream of ``job_id``'s events with ``id > after``.

    Polls the store every ``settings.poll_s`` seconds (reads run in the thread pool) and
    ends after the terminal ``status`` event, or at once with ``end`` when the job has
    already finished and no later event is left. Store errors propagate (the server drops
    the connection; the client reconnects with Last-Event-ID).
    """
    last = after
    last_output = time.monotonic()
    while not await is_disconnected():
        events = await run_in_threadpool(_read_all, store, job_id, last)
        ended: JobStatus | None = None
        for event in events:
            yield format_event(event)
            last = event.id
            ended = _terminal_status(event) or ended
        if events:
            last_output = time.monotonic()
        if ended is None and not events:
            record = await run_in_threadpool(store.get_job, job_id)
            if record.status.terminal:
                for event in await run_in_threadpool(_read_all, store, job_id, last):
                    yield format_event(event)
                    last = event.id
                ended = record.status
        if ended is not None:
            yield format_end(job_id, ended)
            return
        if time.monotonic() - last_output >= settings.keepalive_s:
            yield KEEPALIVE
            last_output = time.monotonic()
        await anyio.sleep(settings.poll_s)
