"""The ASGI middlewares on raw messages: the body limit trusts no Content-Length, and an
unexpected error becomes a 500 problem document."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from designsvc.api.middleware import BodySizeLimitMiddleware, UnexpectedErrorMiddleware

LIMIT = 100


def _scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    return {"type": "http", "method": "POST", "path": "/v1/jobs", "headers": headers, "query_string": b""}


async def _reading_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body, then answers 200 with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def _run(app: Any, scope: Scope, chunks: list[bytes]) -> tuple[list[Message], int]:
    """Run ``app`` on ``chunks``; return what it sent and how many chunks it read."""
    sent: list[Message] = []
    read = 0

    async def receive() -> Message:
        nonlocal read
        read += 1
        if read <= len(chunks):
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, read


def _status_and_body(sent: list[Message]) -> tuple[int, bytes, dict[bytes, bytes]]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, dict(start["headers"])


def test_a_declared_length_above_the_limit_is_refused_unread() -> None:
    app = BodySizeLimitMiddleware(_reading_app, max_body_bytes=LIMIT)
    sent, read = _run(app, _scope([(b"content-length", b"5000")]), [b"x" * 5000])
    status, body, headers = _status_and_body(sent)
    assert (status, read) == (413, 0)
    assert headers[b"content-type"].startswith(b"application/problem+json")
    assert json.loads(body)["type"] == "urn:designsvc:problem:content-too-large"


@pytest.mark.parametrize("headers", [[], [(b"content-length", b"10")]], ids=["chunked", "lying"])
def test_counted_bytes_above_the_limit_are_refused(headers: list[tuple[bytes, bytes]]) -> None:
    app = BodySizeLimitMiddleware(_reading_app, max_body_bytes=LIMIT)
    sent, read = _run(app, _scope(headers), [b"x" * 60] * 5)
    status, body, _ = _status_and_body(sent)
    assert status == 413
    assert read == 2
    assert json.loads(body)["status"] == 413


def test_bodies_up_to_the_limit_pass() -> None:
    app = BodySizeLimitMiddleware(_reading_app, max_body_bytes=LIMIT)
    sent, _ = _run(app, _scope([]), [b"x" * 50, b"x" * 50])
    assert _status_and_body(sent)[:2] == (200, b"100")


def test_an_unexpected_error_is_a_500_problem() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("do not show this")

    sent, _ = _run(UnexpectedErrorMiddleware(failing), _scope([]), [b""])
    status, body, headers = _status_and_body(sent)
    assert status == 500
    assert b"do not show" not in body
    assert headers[b"content-type"].startswith(b"application/problem+json")
    assert json.loads(body)["instance"] == "/v1/jobs"


def test_an_error_after_the_response_started_is_reraised() -> None:
    async def half(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("mid-stream")

    with pytest.raises(RuntimeError, match="mid-stream"):
        _run(UnexpectedErrorMiddleware(half), _scope([]), [b""])
