"""Who is calling, what they may do, and how often: the API's security dependencies.

Every ``/v1`` route depends on one of :data:`ReadPrincipal`, :data:`SubmitPrincipal` or
:data:`AdminPrincipal`. A principal comes from ``Authorization: Bearer KEY`` (see
:mod:`designsvc.services.keys`); without keys configured, an embedded (SQLite) service is
open and every caller is the ``default`` tenant with every scope. Keys are required when
``settings.require_keys`` says so, in distributed mode (``--redis``) always, and in embedded
mode as soon as one active key exists (``designsvc serve`` refuses a non-loopback address
without keys). Then:

- no or a bad key: 401 ``unauthenticated`` with ``WWW-Authenticate: Bearer``;
- a key without the route's scope: 403 ``forbidden``;
- a job or batch of another tenant: 404, as if it did not exist (no existence leak);
- over the tenant's rate: 429 ``rate-limited`` with ``Retry-After``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from designsvc.api.deps import ApiContext, BatchId, ContextDep, JobId, StoreDep
from designsvc.api.errors import ApiError
from designsvc.core.errors import JobNotFoundError
from designsvc.core.jobs import DEFAULT_TENANT, JobStore
from designsvc.runtime import ServiceSettings
from designsvc.services.keys import SCOPES, AuthenticationError, Principal, has_active_keys, verify_key
from designsvc.services.limits import MemoryTokenBuckets, RateLimiter, RedisTokenBuckets, retry_after_header
from designsvc.services.policy import SubmitPolicy

__all__ = [
    "OPEN_PRINCIPAL",
    "AdminPrincipal",
    "OwnedBatchId",
    "OwnedJobId",
    "ReadPrincipal",
    "SecurityState",
    "SubmitPrincipal",
    "submit_policy",
]

OPEN_PRINCIPAL = Principal(tenant=DEFAULT_TENANT, scopes=frozenset(SCOPES))
_KEYS_CACHE_S = 2.0


class SecurityState:
    """Per-app state: the rate limiter and a short cache of "are keys configured"."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.limiter: RateLimiter | None = None
        if settings.rate_limit_per_s > 0:
            if settings.redis_url:
                self.limiter = RedisTokenBuckets(
                    settings.redis_url, settings.rate_limit_per_s, settings.rate_limit_burst
                )
            else:
                self.limiter = MemoryTokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
        self._lock = threading.Lock()
        self._keys_known: tuple[float, bool] | None = None

    def keys_required(self, store: JobStore) -> bool:
        if self.settings.require_keys is not None:
            return self.settings.require_keys
        if self.settings.distributed:
            return True
        now = time.monotonic()
        with self._lock:
            if self._keys_known is not None and now - self._keys_known[0] < _KEYS_CACHE_S:
                return self._keys_known[1]
        found = has_active_keys(store)
        with self._lock:
            self._keys_known = (now, found)
        return found

    def close(self) -> None:
        if self.limiter is not None:
            self.limiter.close()


def _state(context: ApiContext) -> SecurityState:
    state: SecurityState | None = context.security
    if state is None:
        state = context.security = SecurityState(context.settings)
    return state


def _unauthenticated(detail: str) -> ApiError:
    return ApiError(
        401,
        detail,
        slug="unauthenticated",
        title="Unauthenticated",
        headers={"WWW-Authenticate": 'Bearer realm="designsvc"'},
    )


def _authenticate(request: Request, context: ApiContext, store: JobStore) -> Principal:
    state = _state(context)
    header = request.headers.get("authorization")
    if header is None:
        if state.keys_required(store):
            raise _unauthenticated("this service needs an API key: send Authorization: Bearer KEY")
        return OPEN_PRINCIPAL
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("the Authorization header must read 'Bearer KEY'")
    try:
        return verify_key(store, token.strip())
    except AuthenticationError as exc:
        raise _unauthenticated(str(exc)) from None


def _rate_limit(context: ApiContext, principal: Principal) -> None:
    limiter = _state(context).limiter
    if limiter is None:
        return
    wait = limiter.take(principal.tenant)
    if wait > 0:
        raise ApiError(
            429,
            f"tenant {principal.tenant!r} is over its rate of {limiter.rate_per_s:g} requests/s "
            f"(burst {limiter.burst}); retry in {wait:.1f} s",
            slug="rate-limited",
            title="Too many requests",
            headers={"Retry-After": retry_after_header(wait)},
        )


def _requires(scope: str) -> Callable[..., Principal]:
    def dependency(request: Request, context: ContextDep, store: StoreDep) -> Principal:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:  # once per request, however many dependencies ask
            principal = _authenticate(request, context, store)
            _rate_limit(context, principal)
            request.state.principal = principal
        if not principal.allows(scope):
            raise ApiError(
                403,
                f"the API key {principal.key_id} has scopes {', '.join(sorted(principal.scopes))}; this needs {scope}",
                slug="forbidden",
                title="Forbidden",
            )
        return principal

    dependency.__name__ = f"requires_{scope}"
    return dependency


ReadPrincipal = Annotated[Principal, Depends(_requires("read"))]
SubmitPrincipal = Annotated[Principal, Depends(_requires("submit"))]
AdminPrincipal = Annotated[Principal, Depends(_requires("admin"))]


def _owned_job(job_id: JobId, principal: ReadPrincipal, store: StoreDep) -> str:
    if store.get_job(job_id).tenant != principal.tenant:
        raise JobNotFoundError("job", job_id)
    return job_id


def _owned_batch(batch_id: BatchId, principal: ReadPrincipal, store: StoreDep) -> str:
    if store.get_batch(batch_id).tenant != principal.tenant:
        raise JobNotFoundError("batch", batch_id)
    return batch_id


OwnedJobId = Annotated[str, Depends(_owned_job)]
"""A job id of the caller's tenant (404 otherwise); needs the read scope."""
OwnedBatchId = Annotated[str, Depends(_owned_batch)]
"""A batch id of the caller's tenant (404 otherwise); needs the read scope."""


def submit_policy(context: ApiContext, principal: Principal) -> SubmitPolicy:
    """The limits a principal's submissions must meet, from the app's settings."""
    settings = context.settings
    return SubmitPolicy(
        tenant=principal.tenant,
        max_unfinished_jobs=settings.max_unfinished_jobs,
        max_time_limit_s=settings.max_time_limit_s,
        max_instance_bytes=settings.max_instance_bytes,
        max_instance_bytes_per_kind=settings.max_instance_bytes_per_kind,
    )
