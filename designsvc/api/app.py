"""The FastAPI app factory.

``create_app()`` wires routes (:mod:`designsvc.api.routes`), dependencies
(:mod:`designsvc.api.deps`), problem+json errors (:mod:`designsvc.api.errors`) and the two
middlewares (:mod:`designsvc.api.middleware`) around the service layer. Serve it with
``uvicorn --factory designsvc.api.app:create_app``.

Importing this module, or creating the app, imports no solver backend and no torch: problem
kinds are loaded (pyomo) when a spec names them; solver backends only for ``/v1/solvers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from designsvc import __version__
from designsvc.api.deps import ApiContext
from designsvc.api.errors import install_error_handlers
from designsvc.api.middleware import BodySizeLimitMiddleware, UnexpectedErrorMiddleware
from designsvc.api.openapi import install_openapi
from designsvc.api.routes import allowed_methods, api_router
from designsvc.api.sse import EventStreamSettings
from designsvc.core.jobs import Executor, JobStore
from designsvc.runtime import ServiceSettings, build_executor, build_store
from designsvc.services.jobs import recover_jobs
from designsvc.services.webhooks import WebhookDispatcher

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_DESCRIPTION = """\
AI-guided combinatorial design optimization: submit a design spec, follow its events, get
its result and artifacts. Errors are RFC 9457 `application/problem+json` documents whose
`errors[].pointer` are JSON pointers into the request body. Timestamps are RFC 3339 UTC,
durations are seconds (`_s`), ids are UUIDv7.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    context: ApiContext = app.state.context
    settings = context.settings
    if context.store is None:
        context.store = await run_in_threadpool(build_store, settings)
        context.owns_store = True
    if context.executor is None:
        context.executor = build_executor(settings, context.store)
        context.owns_executor = True
    recover = context.recover if context.recover is not None else context.owns_executor
    if recover and not settings.distributed:
        resubmitted = await run_in_threadpool(recover_jobs, context.store, context.executor)
        if resubmitted:
            log.warning("resubmitted %d unfinished job(s) after a restart", len(resubmitted))
    log.info("designsvc API ready (store %s, executor %s)", context.store.url, context.executor.name)
    sweeper = None
    if settings.retention_s and not settings.distributed:
        sweeper = asyncio.create_task(_retention_sweeps(context, settings.retention_s))
    webhooks = WebhookDispatcher.from_env(context.store)  # sends the store's job webhooks
    webhooks.start()
    try:
        yield
    finally:
        await run_in_threadpool(webhooks.stop)
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        if context.security is not None:
            context.security.close()
            context.security = None
        if context.owns_executor and context.executor is not None:
            # Jobs still running are left to the pool's processes; the next start resubmits
            # whatever the store still has unfinished.
            context.executor.shutdown(wait=False)
            context.executor = None
            context.owns_executor = False
        if context.owns_store and context.store is not None:
            context.store.close()
            context.store = None
            context.owns_store = False


RETENTION_SWEEP_S = 600.0
"""Seconds between two retention sweeps of the embedded store (the first runs at start-up)."""


async def _retention_sweeps(context: ApiContext, retention_s: int) -> None:
    """Delete the embedded store's jobs finished more than ``retention_s`` ago, now and then
    every :data:`RETENTION_SWEEP_S` (the Redis store expires them by itself)."""
    while True:
        store = context.store
        if store is not None:
            cutoff = (datetime.now(UTC) - timedelta(seconds=retention_s)).isoformat(timespec="microseconds")
            try:
                removed = await run_in_threadpool(store.purge_finished, cutoff.replace("+00:00", "Z"))
            except Exception:  # a failed sweep must not stop the API; the next one retries
                log.exception("retention sweep failed")
            else:
                if removed:
                    log.info("retention: deleted %d job(s) finished before %s", removed, cutoff)
        await asyncio.sleep(RETENTION_SWEEP_S)


def create_app(
    settings: ServiceSettings | None = None,
    *,
    store: JobStore | None = None,
    executor: Executor | None = None,
    recover: bool | None = None,
    event_stream: EventStreamSettings | None = None,
) -> FastAPI:
    """The designsvc REST API.

    ``settings`` default to :meth:`ServiceSettings.from_env`. A ``store`` or ``executor``
    given here is used as it is and stays the caller's (the app never closes it); missing
    ones are built by the lifespan from ``settings`` (``runtime.build_store`` /
    ``build_executor``) and closed at exit. ``recover``: resubmit unfinished jobs at
    startup (embedded mode only); the default does so when the app builds its own
    executor, since a caller's executor may still be running them. ``event_stream``: SSE
    polling and keep-alive periods (seconds).
    """
    settings = settings or ServiceSettings.from_env()
    app = FastAPI(
        title="designsvc",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=_lifespan,
    )
    app.state.context = ApiContext(
        settings=settings,
        store=store,
        executor=executor,
        event_stream=event_stream or EventStreamSettings(),
        recover=recover,
    )
    install_error_handlers(app, allowed_methods=allowed_methods)
    # Added last = outermost: errors are caught around the body limit and the routes.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.include_router(api_router)
    install_openapi(app)
    return app
