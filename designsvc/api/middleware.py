"""Two small ASGI middlewares: a request body size limit, and a last-resort 500 problem.

Order in the app (outermost first): Starlette's ServerErrorMiddleware, then
:class:`UnexpectedErrorMiddleware`, then :class:`BodySizeLimitMiddleware`, then FastAPI's
exception handlers and the routes. So an oversized body is refused before any route runs,
and an unexpected exception is logged once, here, and answered as problem+json without its
traceback.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from designsvc.api.errors import ContentTooLargeError, internal_error, problem_response

__all__ = ["BodySizeLimitMiddleware", "UnexpectedErrorMiddleware"]

log = logging.getLogger(__name__)


def _too_large(exc: BaseException) -> bool:
    """True for ContentTooLargeError, or a group made of nothing else."""
    if isinstance(exc, ContentTooLargeError):
        return True
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(ContentTooLargeError)
        return rest is None
    return False


class BodySizeLimitMiddleware:
    """Refuse request bodies above ``max_body_bytes`` with 413 problem+json.

    A declared ``Content-Length`` above the limit is refused before the body is read; the
    bytes actually received are counted too, so a missing (chunked) or lying
    ``Content-Length`` cannot get past: reading past the limit raises
    :class:`ContentTooLargeError` inside the route, which answers 413.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        if max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be >= 0, got {max_body_bytes}")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await problem_response(ContentTooLargeError(limit), scope.get("path"))(scope, receive, send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ContentTooLargeError(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception as exc:
            if started or not _too_large(exc):
                raise
            await problem_response(ContentTooLargeError(limit), scope.get("path"))(scope, receive, send)


class UnexpectedErrorMiddleware:
    """Answer an exception that no handler took with a 500 problem document; log it with
    its traceback. After the response has started (a stream), the exception is logged and
    re-raised so the server drops the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            return  # nobody to answer
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await problem_response(internal_error(), scope.get("path"))(scope, receive, send)
