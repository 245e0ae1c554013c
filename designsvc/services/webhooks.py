"""Webhooks: signed notifications of finished jobs, per tenant, following the Standard
Webhooks specification (https://www.standardwebhooks.com/).

- **Endpoints** (collection ``webhooks``): a tenant registers a URL and the event types it
  wants (``job.succeeded``, ``job.failed``, ``job.canceled``); each endpoint gets its own
  secret ``whsec_<base64 of 32 random bytes>``, shown once when it is made. The store keeps
  the secret as it is (signing needs it), unlike API keys.
- **Outbox** (collection ``webhook_deliveries``): when a job reaches a terminal status,
  :func:`enqueue_job_webhooks` writes one delivery per matching endpoint of the job's tenant.
  Its key is the delivery id, a UUIDv7, which is also the ``webhook-id`` header: a receiver
  dedupes on it. A marker per job and status (collection ``webhook_job_events``) names the
  deliveries chosen the first time, so calling it again for the same job (a redelivered task,
  a cancel of a finished job) writes nothing new, and a call cut short is completed by the next.
- **Dispatcher** (:class:`WebhookDispatcher`, a thread of every API process): sends due
  deliveries with httpx. Each request carries ``webhook-id``, ``webhook-timestamp`` (Unix
  seconds of this attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
  "{id}.{timestamp}.{body}">``, keyed with the secret's base64-decoded bytes. A 2xx answer
  delivers it; 410 Gone disables the endpoint; anything else (another status, a timeout, a
  refused connection, a redirect) is retried after the next delay of the schedule, Standard
  Webhooks' suggestion by default (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts
  over about 27 hours), and the delivery fails once the schedule is spent.

Several API replicas may dispatch from one store: an attempt is claimed with a lease record
(collection ``webhook_leases``, written with ``only_new``), so two replicas never send the
same attempt at once; a lease older than :data:`LEASE_S` (its holder died) is broken by
claiming the next generation of its key. Delivery is therefore **at least once**: a replica
that dies after the receiver answered and before it recorded the answer leaves the attempt to
be made again, with the same ``webhook-id``.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from standardwebhooks import Webhook

from designsvc import __version__
from designsvc.core.errors import FieldError, JobNotFoundError, SpecError, pointer_from_path
from designsvc.core.ids import new_id
from designsvc.core.jobs import JobRecord, JobStatus, JobStore, now_rfc3339
from designsvc.core.types import JsonDict

__all__ = [
    "DEFAULT_SCHEDULE_S",
    "DELIVERIES",
    "ENDPOINTS",
    "EVENT_TYPES",
    "LEASES",
    "LEASE_S",
    "MARKERS",
    "MAX_ENDPOINTS_PER_TENANT",
    "SCHEDULE_ENV",
    "NewWebhookEndpoint",
    "WebhookCreate",
    "WebhookDispatcher",
    "create_endpoint",
    "delete_endpoint",
    "enqueue_job_webhooks",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "new_secret",
    "parse_schedule",
    "public_endpoint",
    "sign",
    "signed_headers",
    "validate_url",
]

log = logging.getLogger(__name__)

ENDPOINTS = "webhooks"
DELIVERIES = "webhook_deliveries"
LEASES = "webhook_leases"
MARKERS = "webhook_job_events"
EventType = Literal["job.succeeded", "job.failed", "job.canceled"]
EVENT_TYPES: tuple[EventType, ...] = ("job.succeeded", "job.failed", "job.canceled")
DEFAULT_SCHEDULE_S: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
"""Delays after the first, second, ... failed attempt (Standard Webhooks' suggestion)."""
SCHEDULE_ENV = "DESIGNSVC_WEBHOOK_SCHEDULE_S"
POLL_ENV = "DESIGNSVC_WEBHOOK_POLL_S"
LEASE_S = 60.0
"""A lease older than this is taken to be its holder's last (it died) and may be broken."""
RETENTION_S = 7 * 86400.0
"""Delivered and failed deliveries (and the markers of their jobs) are kept this long."""
MAX_ENDPOINTS_PER_TENANT = 100
MAX_URL_LENGTH = 2048
_ATTEMPT_LOG = 10
"""Attempts kept in a delivery's ``attempt_log`` (the latest ones)."""
_SECRET_PREFIX = "whsec_"
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


# -- signing ---------------------------------------------------------------------------


def new_secret() -> str:
    """A new endpoint secret: ``whsec_`` and the base64 of 32 random bytes."""
    return _SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of a message."""
    return Webhook(secret).sign(msg_id=msg_id, timestamp=datetime.fromtimestamp(timestamp, tz=UTC), data=body)


def signed_headers(secret: str, msg_id: str, body: str, *, timestamp: int | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of a message sent now (or at ``timestamp``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


# -- endpoints -------------------------------------------------------------------------


class WebhookCreate(BaseModel):
    """The body of ``POST /v1/webhooks``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http(s) URL the events are POSTed to; no user name or password in it")
    events: list[EventType] = Field(
        default_factory=lambda: list(EVENT_TYPES),
        min_length=1,
        description="event types to send (default: all)",
    )
    description: str | None = Field(default=None, max_length=256)


@dataclass(frozen=True)
class NewWebhookEndpoint:
    """An endpoint just made: its public document and its secret (shown this once)."""

    endpoint: JsonDict
    secret: str


def validate_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL with a host and no credentials; else
    SpecError at ``/url``."""

    def bad(message: str) -> SpecError:
        return SpecError.at("/url", message)

    if len(url) > MAX_URL_LENGTH:
        raise bad(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if _CONTROL.search(url):
        raise bad("the URL has spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise bad("the URL must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise bad("the URL must not hold a user name or password")
    if not parts.hostname:
        raise bad("the URL has no host")
    if port == 0:
        raise bad("the URL's port must be 1-65535")
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise bad(f"not a valid URL: {exc}") from None
    return url


def _spec_error(exc: ValidationError) -> SpecError:
    errors = [FieldError(pointer_from_path(err["loc"]), str(err["msg"])) for err in exc.errors()]
    return SpecError(errors or [FieldError("", str(exc))])


def public_endpoint(data: Mapping[str, Any]) -> JsonDict:
    """An endpoint's document without its secret."""
    return {
        "id": data["id"],
        "url": data["url"],
        "events": list(data["events"]),
        "description": data.get("description"),
        "enabled": not data.get("disabled", False),
        "disabled_reason": data.get("disabled_reason"),
        "created_at": data["created_at"],
    }


def create_endpoint(store: JobStore, tenant: str, body: Any) -> NewWebhookEndpoint:
    """Register an endpoint of ``tenant`` from a request body (a :class:`WebhookCreate`
    document); SpecError with pointers into it when it is invalid."""
    if not isinstance(body, dict):
        raise SpecError.at("", f"expected a JSON object, got {type(body).__name__}")
    try:
        request = WebhookCreate.model_validate(body)
    except ValidationError as exc:
        raise _spec_error(exc) from None
    url = validate_url(request.url)
    if len(list_endpoints(store, tenant)) >= MAX_ENDPOINTS_PER_TENANT:
        raise SpecError.at("", f"the tenant already has {MAX_ENDPOINTS_PER_TENANT} webhook endpoints; delete one first")
    endpoint_id = new_id()
    secret = new_secret()
    data: JsonDict = {
        "id": endpoint_id,
        "tenant": tenant,
        "url": url,
        "events": list(dict.fromkeys(request.events)),
        "description": request.description,
        "secret": secret,
        "disabled": False,
        "disabled_reason": None,
        "created_at": now_rfc3339(),
    }
    store.put_record(ENDPOINTS, endpoint_id, data, only_new=True)
    return NewWebhookEndpoint(endpoint=public_endpoint(data), secret=secret)


def list_endpoints(store: JobStore, tenant: str) -> list[JsonDict]:
    """``tenant``'s endpoints (stored documents, secrets included), oldest first."""
    return [data for _, data in store.list_records(ENDPOINTS) if data.get("tenant") == tenant]


def get_endpoint(store: JobStore, tenant: str, endpoint_id: str) -> JsonDict:
    """The stored endpoint; JobNotFoundError when there is none of ``tenant``'s."""
    data = store.get_record(ENDPOINTS, endpoint_id)
    if data is None or data.get("tenant") != tenant:
        raise JobNotFoundError("webhook", endpoint_id)
    return data


def delete_endpoint(store: JobStore, tenant: str, endpoint_id: str) -> None:
    """Remove the endpoint; its pending deliveries fail at their next attempt."""
    get_endpoint(store, tenant, endpoint_id)
    if not store.delete_record(ENDPOINTS, endpoint_id):
        raise JobNotFoundError("webhook", endpoint_id)


def list_deliveries(store: JobStore, tenant: str, endpoint_id: str, *, limit: int = 50) -> list[JsonDict]:
    """The endpoint's latest ``limit`` deliveries, newest first."""
    get_endpoint(store, tenant, endpoint_id)
    found = [d for _, d in store.list_records(DELIVERIES) if d.get("endpoint_id") == endpoint_id]
    found.sort(key=lambda d: str(d.get("id", "")), reverse=True)
    return found[:limit]


# -- the outbox ------------------------------------------------------------------------


def _event_type(status: JobStatus) -> str:
    return f"job.{status.value}"


def _job_payload(record: JobRecord) -> JsonDict:
    return {
        "type": _event_type(record.status),
        "timestamp": record.finished_at or record.updated_at,
        "data": {
            "id": record.id,
            "status": record.status.value,
            "problem": record.problem,
            "tags": list(record.tags),
            "finished_at": record.finished_at,
            "error": record.error,
            "result_url": f"/v1/jobs/{record.id}/result",
        },
    }


def enqueue_job_webhooks(store: JobStore, record: JobRecord) -> list[str]:
    """Write a pending delivery for each endpoint of the job's tenant that wants its event
    (the job must be finished); return the delivery ids (those of the first call for this
    job and status: the call is idempotent)."""
    if not record.status.terminal:
        return []
    event = _event_type(record.status)
    endpoints = [
        data
        for data in list_endpoints(store, record.tenant)
        if event in data.get("events", ()) and not data.get("disabled", False)
    ]
    marker_key = f"{record.id}.{record.status.value}"
    marker = store.get_record(MARKERS, marker_key)
    if marker is None:
        if not endpoints:
            return []
        planned: JsonDict = {
            "job_id": record.id,
            "event_type": event,
            "created_at": now_rfc3339(),
            "deliveries": {data["id"]: new_id() for data in endpoints},
        }
        store.put_record(MARKERS, marker_key, planned, only_new=True)
        marker = store.get_record(MARKERS, marker_key) or planned  # another caller's, if it won
    payload = _job_payload(record)
    now = now_rfc3339()
    ids: list[str] = []
    for endpoint_id, delivery_id in dict(marker.get("deliveries", {})).items():
        delivery: JsonDict = {
            "id": delivery_id,
            "endpoint_id": endpoint_id,
            "tenant": record.tenant,
            "event_type": event,
            "job_id": record.id,
            "payload": payload,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "last_attempt_at": None,
            "last_status_code": None,
            "last_error": None,
            "attempt_log": [],
        }
        store.put_record(DELIVERIES, delivery_id, delivery, only_new=True)
        ids.append(delivery_id)
    return ids


# -- the dispatcher --------------------------------------------------------------------


def parse_schedule(text: str) -> tuple[float, ...]:
    """A retry schedule from a comma list of seconds (``"5,300,1800"``); ValueError when
    a delay is not a number >= 0."""
    delays = tuple(float(part) for part in text.split(",") if part.strip())
    if any(not d >= 0 or d == float("inf") for d in delays):
        raise ValueError(f"webhook retry delays must be finite numbers >= 0, got {text!r}")
    return delays


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _epoch(text: Any) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return 0.0


def _body(payload: JsonDict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str | None
    duration_s: float


ALLOW_PRIVATE_ENV = "DESIGNSVC_WEBHOOK_ALLOW_PRIVATE"
"""``1``: send to loopback, private and link-local addresses; ``0``: refuse them. Unset: allowed
in embedded mode (a service on loopback), refused in distributed mode (``DESIGNSVC_REDIS_URL``
set), so a tenant's endpoint cannot make the service call into its own network."""


def private_address(url: str) -> str | None:
    """Why ``url``'s host is not a public address (it resolves to a loopback, private,
    link-local, reserved or multicast one, or does not resolve), or None. Checked before each
    send; a name could still resolve differently a moment later (DNS rebinding), which this
    narrows but cannot rule out."""
    host = httpx.URL(url).host
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"{host} does not resolve ({exc})"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            return f"{host} resolves to the non-public address {address}"
    return None


class WebhookDispatcher:
    """Sends the store's due deliveries from a background thread (:meth:`start`,
    :meth:`stop`), ``concurrency`` at a time; :meth:`run_once` is one scan."""

    def __init__(
        self,
        store: JobStore,
        *,
        schedule_s: Sequence[float] = DEFAULT_SCHEDULE_S,
        timeout_s: float = 10.0,
        poll_s: float = 0.5,
        concurrency: int = 8,
        lease_s: float = LEASE_S,
        retention_s: float = RETENTION_S,
        transport: httpx.BaseTransport | None = None,
        allow_private: bool = True,
    ) -> None:
        self.store = store
        self.allow_private = allow_private
        self.schedule_s = tuple(float(d) for d in schedule_s)
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.retention_s = retention_s
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._concurrency = concurrency
        self._transport = transport
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._client: httpx.Client | None = None
        self._last_prune = 0.0

    @classmethod
    def from_env(cls, store: JobStore, **options: Any) -> WebhookDispatcher:
        """A dispatcher whose schedule is ``$DESIGNSVC_WEBHOOK_SCHEDULE_S`` (a comma list of
        seconds) and scan period ``$DESIGNSVC_WEBHOOK_POLL_S`` when they are set."""
        schedule = os.environ.get(SCHEDULE_ENV, "").strip()
        if schedule:
            options.setdefault("schedule_s", parse_schedule(schedule))
        poll = os.environ.get(POLL_ENV, "").strip()
        if poll:
            options.setdefault("poll_s", float(poll))
        private = os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower()
        if private:
            options.setdefault("allow_private", private in {"1", "true", "yes", "on"})
        else:  # a shared (distributed) service must not be a way into its own network
            options.setdefault("allow_private", not os.environ.get("DESIGNSVC_REDIS_URL"))
        return cls(store, **options)

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._client = httpx.Client(
            timeout=self.timeout_s,
            follow_redirects=False,
            transport=self._transport,
            headers={"user-agent": f"designsvc-webhooks/{__version__}"},
        )
        self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="webhook-send")
        self._thread = threading.Thread(target=self._loop, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scanning and wait for the attempts under way (each bounded by the timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a store hiccup must not end the dispatcher; the next scan retries
                log.exception("webhook dispatch scan failed")
            self._stop.wait(self.poll_s)

    # -- one scan ----------------------------------------------------------------------

    def run_once(self) -> list[Future[None]]:
        """Claim the due deliveries this process can take now and start sending them."""
        now = time.time()
        if now - self._last_prune > 60.0:
            self._last_prune = now
            self._prune(now)
        due = [
            d
            for _, d in self.store.list_records(DELIVERIES)
            if d.get("state") == "pending" and _epoch(d.get("next_attempt_at")) <= now
        ]
        if not due or self._pool is None:
            return []
        leases = self._current_leases()
        started: list[Future[None]] = []
        for delivery in due:
            delivery_id = str(delivery["id"])
            with self._lock:
                if delivery_id in self._inflight or len(self._inflight) >= self._concurrency:
                    continue
            lease_key = self._claim(delivery, leases, now)
            if lease_key is None:
                continue
            with self._lock:
                self._inflight.add(delivery_id)
            started.append(self._pool.submit(self._attempt_claimed, delivery_id, int(delivery["attempts"]), lease_key))
        return started

    def _current_leases(self) -> dict[str, tuple[int, JsonDict]]:
        """``"{delivery}.{attempt}"`` -> (highest generation, its lease)."""
        found: dict[str, tuple[int, JsonDict]] = {}
        for key, data in self.store.list_records(LEASES):
            base, _, gen = key.rpartition(".")
            if not gen.isdigit():
                continue
            if base not in found or int(gen) > found[base][0]:
                found[base] = (int(gen), data)
        return found

    def _claim(self, delivery: JsonDict, leases: Mapping[str, tuple[int, JsonDict]], now: float) -> str | None:
        base = f"{delivery['id']}.{int(delivery['attempts'])}"
        current = leases.get(base)
        if current is None:
            generation = 0
        elif float(current[1].get("expires_at", 0)) < now:
            generation = current[0] + 1  # its holder died: take the next generation
        else:
            return None
        key = f"{base}.{generation}"
        lease = {"owner": self.owner, "acquired_at": now, "expires_at": now + self.lease_s}
        return key if self.store.put_record(LEASES, key, lease, only_new=True) else None

    def _attempt_claimed(self, delivery_id: str, attempts: int, lease_key: str) -> None:
        try:
            delivery = self.store.get_record(DELIVERIES, delivery_id)
            # Another replica may have made this attempt between our scan and our claim.
            if (
                delivery is not None
                and delivery.get("state") == "pending"
                and int(delivery.get("attempts", -1)) == attempts
            ):
                self._attempt(delivery)
        except Exception:
            log.exception("webhook delivery %s: attempt failed", delivery_id)
        finally:
            with contextlib.suppress(Exception):
                self.store.delete_record(LEASES, lease_key)
            with self._lock:
                self._inflight.discard(delivery_id)

    def _attempt(self, delivery: JsonDict) -> None:
        delivery_id = str(delivery["id"])
        endpoint = self.store.get_record(ENDPOINTS, str(delivery["endpoint_id"]))
        if endpoint is None or endpoint.get("tenant") != delivery.get("tenant"):
            self._finish(delivery, "failed", _Outcome(None, "the webhook endpoint was deleted", 0.0), count=False)
            return
        if endpoint.get("disabled"):
            reason = endpoint.get("disabled_reason") or "disabled"
            self._finish(delivery, "failed", _Outcome(None, f"the endpoint is disabled: {reason}", 0.0), count=False)
            return
        outcome = self._send(str(endpoint["url"]), str(endpoint["secret"]), delivery_id, _body(delivery["payload"]))
        code = outcome.status_code
        if code is not None and 200 <= code < 300:
            self._finish(delivery, "delivered", outcome)
        elif code == 410:
            self._disable(endpoint, f"the URL answered 410 Gone (delivery {delivery_id})")
            self._finish(delivery, "failed", outcome)
        else:
            self._finish(delivery, "pending", outcome)

    def _send(self, url: str, secret: str, delivery_id: str, body: str) -> _Outcome:
        if not self.allow_private:
            refused = private_address(url)
            if refused:
                return _Outcome(None, f"refused: {refused} (set {ALLOW_PRIVATE_ENV}=1 to allow)", 0.0)
        client = self._client
        if client is None:
            return _Outcome(None, "the dispatcher is stopped", 0.0)
        headers = {"content-type": "application/json", **signed_headers(secret, delivery_id, body)}
        start = time.monotonic()
        try:
            response = client.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return _Outcome(None, f"{type(exc).__name__}: {exc}"[:500], time.monotonic() - start)
        elapsed = time.monotonic() - start
        if 200 <= response.status_code < 300:
            return _Outcome(response.status_code, None, elapsed)
        return _Outcome(response.status_code, f"HTTP {response.status_code}", elapsed)

    def _finish(self, delivery: JsonDict, state: str, outcome: _Outcome, *, count: bool = True) -> None:
        now = time.time()
        attempts = int(delivery.get("attempts", 0)) + (1 if count else 0)
        updated = dict(delivery)
        updated["attempts"] = attempts
        updated["last_status_code"] = outcome.status_code
        updated["last_error"] = outcome.error
        if count:
            updated["last_attempt_at"] = _rfc3339(now)
            log_entry = {
                "at": _rfc3339(now),
                "status_code": outcome.status_code,
                "error": outcome.error,
                "duration_s": round(outcome.duration_s, 3),
            }
            updated["attempt_log"] = [*list(delivery.get("attempt_log", [])), log_entry][-_ATTEMPT_LOG:]
        if state == "pending":
            if attempts - 1 < len(self.schedule_s):
                updated["next_attempt_at"] = _rfc3339(now + self.schedule_s[attempts - 1])
            else:
                state = "failed"
        if state != "pending":
            updated["next_attempt_at"] = None
            updated["finished_at"] = _rfc3339(now)
        updated["state"] = state
        self.store.put_record(DELIVERIES, str(delivery["id"]), updated)
        if state == "failed" and count:
            log.warning(
                "webhook delivery %s to endpoint %s failed after %d attempt(s): %s",
                delivery["id"],
                delivery["endpoint_id"],
                attempts,
                outcome.error,
            )

    def _disable(self, endpoint: JsonDict, reason: str) -> None:
        current = self.store.get_record(ENDPOINTS, str(endpoint["id"]))
        if current is None:  # deleted meanwhile: nothing to disable
            return
        self.store.put_record(ENDPOINTS, str(endpoint["id"]), {**current, "disabled": True, "disabled_reason": reason})
        log.warning("webhook endpoint %s disabled: %s", endpoint["id"], reason)

    def _prune(self, now: float) -> None:
        """Drop deliveries finished (and job markers made) more than ``retention_s`` ago, and
        leases of attempts that are over."""
        try:
            cutoff = now - self.retention_s
            pending: set[str] = set()
            for key, data in self.store.list_records(DELIVERIES):
                if data.get("state") == "pending":
                    pending.add(f"{key}.{int(data.get('attempts', 0))}")
                elif _epoch(data.get("finished_at") or data.get("created_at")) < cutoff:
                    self.store.delete_record(DELIVERIES, key)
            for key, data in self.store.list_records(MARKERS):
                if _epoch(data.get("created_at")) < cutoff:
                    self.store.delete_record(MARKERS, key)
            for key, data in self.store.list_records(LEASES):
                base = key.rpartition(".")[0]
                if base not in pending and float(data.get("expires_at", 0)) < now:
                    self.store.delete_record(LEASES, key)
        except Exception:
            log.exception("webhook retention sweep failed")
